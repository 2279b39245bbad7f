#include "geohash.h"
#include "mini.h"

static const char BASE32[] = "0123456789bcdefghjkmnpqrstuvwxyz";

int geohash_encode(double lat, double lon, int precision, char *out, int size) {
    double lat_lo = -90, lat_hi = 90, lon_lo = -180, lon_hi = 180;
    int bit = 0, ch = 0, n = 0, even = 1;
    if (precision >= size) precision = size - 1;
    while (n < precision) {
        if (even) {
            double mid = (lon_lo + lon_hi) / 2;
            if (lon > mid) { ch |= 16 >> bit; lon_lo = mid; } else lon_hi = mid;
        } else {
            double mid = (lat_lo + lat_hi) / 2;
            if (lat > mid) { ch |= 16 >> bit; lat_lo = mid; } else lat_hi = mid;
        }
        even = !even;
        if (++bit == 5) { out[n++] = BASE32[ch]; bit = 0; ch = 0; }
    }
    out[n] = 0;
    return mini_strlen(out);
}
