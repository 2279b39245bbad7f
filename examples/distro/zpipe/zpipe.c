/* Compress standard input, decompress it again, and say which zlib did it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int main(void) {
    static unsigned char in[1 << 20], packed[(1 << 20) + 1024], back[1 << 20];
    size_t n = fread(in, 1, sizeof in, stdin);
    uLongf plen = sizeof packed, blen = sizeof back;
    if (compress2(packed, &plen, in, n, 9) != Z_OK || uncompress(back, &blen, packed, plen) != Z_OK
        || blen != n || memcmp(in, back, n) != 0) {
        fprintf(stderr, "zpipe: round trip failed\n");
        return 1;
    }
    printf("zlib %s: %zu bytes -> %lu compressed, round trip ok\n", zlibVersion(), n, (unsigned long)plen);
    return 0;
}
