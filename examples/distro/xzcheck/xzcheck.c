/* Compress standard input with liblzma's easy encoder; say which liblzma did it. */
#include <stdio.h>
#include <lzma.h>

int main(void) {
    static uint8_t in[1 << 20], out[(1 << 20) + (1 << 16)];
    size_t n = fread(in, 1, sizeof in, stdin), pos = 0;
    if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, in, n, out, &pos, sizeof out) != LZMA_OK) {
        fprintf(stderr, "xzcheck: compression failed\n");
        return 1;
    }
    printf("liblzma %s: %zu bytes -> %zu\n", lzma_version_string(), n, pos);
    return 0;
}
