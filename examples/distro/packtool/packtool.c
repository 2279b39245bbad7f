/* Report how well standard input compresses, through libpack (which wraps zlib). */
#include <stdio.h>
#include <pack.h>

int main(void) {
    static char in[1 << 20];
    size_t n = fread(in, 1, sizeof in, stdin);
    printf("%s: %zu bytes -> %ld at level 9\n", pack_describe(), n, pack_size(in, n, 9));
    return 0;
}
