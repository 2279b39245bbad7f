/* geotags: tags a point with its geohash, and says which minilibc it runs on. */
#include <stdio.h>
#include <stdlib.h>
#include "geohash.h"
#include "mini.h"

int main(int argc, char **argv) {
    double lat = argc > 2 ? atof(argv[1]) : 57.64911;
    double lon = argc > 2 ? atof(argv[2]) : 10.40744;
    char hash[16], greeting[64];
    geohash_encode(lat, lon, 11, hash, sizeof hash);
    mini_greeting(greeting, sizeof greeting);
    printf("%s\n%s\n", hash, greeting);
    return 0;
}
