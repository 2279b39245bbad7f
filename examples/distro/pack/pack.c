#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>
#include "include/pack.h"

long pack_size(const void *data, size_t len, int level) {
    uLongf out = compressBound(len);
    unsigned char *buf = malloc(out);
    long result = -1;
    if (buf && compress2(buf, &out, data, len, level) == Z_OK)
        result = (long)out;
    free(buf);
    return result;
}

const char *pack_describe(void) {
    static char text[128];
    snprintf(text, sizeof text, "libpack 1.0 on zlib %s", zlibVersion());
    return text;
}
