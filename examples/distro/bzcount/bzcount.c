/* How small bzip2 makes standard input. */
#include <stdio.h>
#include <bzlib.h>

int main(void) {
    static char in[1 << 20], out[(1 << 20) + (1 << 16)];
    unsigned int n = fread(in, 1, sizeof in, stdin), len = sizeof out;
    if (BZ2_bzBuffToBuffCompress(out, &len, in, n, 9, 0, 0) != BZ_OK) {
        fprintf(stderr, "bzcount: compression failed\n");
        return 1;
    }
    printf("bzip2 %s: %u bytes -> %u\n", BZ2_bzlibVersion(), n, len);
    return 0;
}
