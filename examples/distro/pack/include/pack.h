#ifndef PACK_H
#define PACK_H
#include <stddef.h>

/* How many bytes `data` takes compressed at `level` (-1 on error). */
long pack_size(const void *data, size_t len, int level);
/* "libpack 1.0 on zlib X.Y.Z": which zlib answers at run time. */
const char *pack_describe(void);
#endif
