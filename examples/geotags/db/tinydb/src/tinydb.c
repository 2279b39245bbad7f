/* tinydb: a database-like key-value server. It answers one line per connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mini.h"

int main(int argc, char **argv) {
    const char *port = argc > 1 ? argv[1] : "7000";
    char buf[64];
    mini_greeting(buf, sizeof buf);
    printf("tinydb listening on port %s (%s)\n", port, buf);
    return 0;
}
