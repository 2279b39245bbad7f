#ifndef GEOHASH_H
#define GEOHASH_H
/* Encode latitude/longitude into a base32 geohash of `precision` characters. */
int geohash_encode(double lat, double lon, int precision, char *out, int size);
#endif
