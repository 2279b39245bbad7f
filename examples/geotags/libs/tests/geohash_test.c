/* A C unit test of geohash_encode, run by `jbuild test //libs:geohash_test`.
 *
 * Each case is checked and, when $XML_OUTPUT_FILE is set, reported as one JUnit <testcase>,
 * so CI shows which case failed. Exit 0 only if every case passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "geohash.h"
#include "mini.h"

struct result { const char *name; int ok; char detail[128]; };
static struct result results[16];
static int count;

static void expect(const char *name, double lat, double lon, int precision, int size, const char *want) {
    char got[32];
    struct result *r = &results[count++];
    int n = geohash_encode(lat, lon, precision, got, size);
    r->name = name;
    r->ok = strcmp(got, want) == 0 && n == (int)strlen(want);
    snprintf(r->detail, sizeof r->detail, "geohash(%g, %g, %d) = \"%s\" (length %d), expected \"%s\"",
             lat, lon, precision, got, n, want);
    printf("%s %s: %s\n", r->ok ? "ok  " : "FAIL", name, r->detail);
}

static void write_junit(const char *path) {
    FILE *f = fopen(path, "w");
    int failures = 0;
    if (!f) return;
    for (int i = 0; i < count; i++) failures += !results[i].ok;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    fprintf(f, "  <testsuite name=\"geohash\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"0\">\n",
            count, failures);
    for (int i = 0; i < count; i++) {
        fprintf(f, "    <testcase classname=\"geohash\" name=\"%s\">", results[i].name);
        if (!results[i].ok) fprintf(f, "<failure message=\"%s\"/>", results[i].detail);
        fprintf(f, "</testcase>\n");
    }
    fprintf(f, "  </testsuite>\n</testsuites>\n");
    fclose(f);
}

int main(void) {
    const char *xml = getenv("XML_OUTPUT_FILE");
    expect("aalborg", 57.64911, 10.40744, 11, 16, "u4pruydqqvj");
    expect("spain", 42.6, -5.6, 5, 16, "ezs42");
    expect("curitiba", -25.382708, -49.265506, 8, 16, "6gkzwgjz");
    expect("truncated_to_buffer", 57.64911, 10.40744, 11, 6, "u4pru");
    expect("zero_precision", 10, 10, 0, 16, "");
    if (xml && *xml) write_junit(xml);
    for (int i = 0; i < count; i++)
        if (!results[i].ok) return 1;
    return 0;
}
