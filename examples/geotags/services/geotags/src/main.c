/* geotags: tags points with their geohash, keeps the tags in tinydb, says which minilibc it runs on.
 *
 *   geotags [LAT LON]            print the geohash of the point and the libc greeting
 *   geotags tag NAME LAT LON     store the tag in tinydb
 *   geotags get NAME             read a tag back from tinydb
 *   geotags serve PORT           check tinydb (store a tag, read it back), then answer on
 *                                127.0.0.1:PORT one line per request:
 *                                TAG name lat lon -> OK hash;  GET name -> VALUE hash lat lon | MISSING
 *
 * tinydb is found at $TINYDB_HOST:$TINYDB_PORT (what `jbuild run` hands a consumer of tinydb). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "geohash.h"
#include "mini.h"

#define LINE 1024

static volatile sig_atomic_t stopping;

static int parse_point(const char *a, const char *b, double *lat, double *lon) {
    char *end1, *end2;
    *lat = strtod(a, &end1);
    *lon = strtod(b, &end2);
    return *a && *b && !*end1 && !*end2 && *lat >= -90 && *lat <= 90 && *lon >= -180 && *lon <= 180;
}

static int valid_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 200) return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] == 127) return 0;
    return 1;
}

static int connect_to(const char *host, const char *port) {
    struct addrinfo hints, *res, *ai;
    int fd = -1;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) { close(fd); fd = -1; }
    }
    freeaddrinfo(res);
    return fd;
}

/* One request to tinydb, one reply line (without its newline) into `reply`. 0 on success. */
static int db_request(const char *request, char *reply, size_t size) {
    const char *host = getenv("TINYDB_HOST"), *port = getenv("TINYDB_PORT");
    int fd = connect_to(host && *host ? host : "127.0.0.1", port && *port ? port : "7000");
    size_t len = 0;
    ssize_t got = 1;
    if (fd < 0) { snprintf(reply, size, "cannot reach tinydb: %s", strerror(errno)); return -1; }
    if (write(fd, request, strlen(request)) < 0) { close(fd); snprintf(reply, size, "cannot write to tinydb"); return -1; }
    while (len + 1 < size && !memchr(reply, '\n', len) && (got = read(fd, reply + len, size - 1 - len)) > 0)
        len += (size_t)got;
    close(fd);
    reply[len] = 0;
    if (!strchr(reply, '\n')) { snprintf(reply, size, "tinydb closed the connection without a reply"); return -1; }
    *strchr(reply, '\n') = 0;
    return 0;
}

/* Store NAME -> "hash lat lon"; the hash goes to `hash`. 0 on success, else `err` says why. */
static int tag(const char *name, double lat, double lon, char *hash, char *err, size_t size) {
    char request[LINE];
    geohash_encode(lat, lon, 11, hash, 16);
    snprintf(request, sizeof request, "SET tag:%s %s %.5f %.5f\n", name, hash, lat, lon);
    if (db_request(request, err, size) != 0) return -1;
    return strcmp(err, "OK") == 0 ? 0 : -1;
}

/* Read NAME back: 0 and "hash lat lon" in `out`, 1 if missing, -1 on error (`out` says why). */
static int get(const char *name, char *out, size_t size) {
    char request[LINE], reply[LINE];
    snprintf(request, sizeof request, "GET tag:%s\n", name);
    if (db_request(request, reply, sizeof reply) != 0) { snprintf(out, size, "%s", reply); return -1; }
    if (strcmp(reply, "MISSING") == 0) return 1;
    if (strncmp(reply, "VALUE ", 6) != 0) { snprintf(out, size, "tinydb said: %s", reply); return -1; }
    snprintf(out, size, "%s", reply + 6);
    return 0;
}

static void answer(char *line, char *reply, size_t size) {
    char *verb = strtok(line, " "), *name = strtok(NULL, " "), *a = strtok(NULL, " "), *b = strtok(NULL, " ");
    char hash[16], value[LINE];
    double lat, lon;
    if (verb && name && a && b && !strtok(NULL, " ") && strcmp(verb, "TAG") == 0 && valid_name(name)
        && parse_point(a, b, &lat, &lon)) {
        if (tag(name, lat, lon, hash, value, sizeof value) == 0) snprintf(reply, size, "OK %s\n", hash);
        else snprintf(reply, size, "ERROR %s\n", value);
    } else if (verb && name && !a && strcmp(verb, "GET") == 0 && valid_name(name)) {
        int found = get(name, value, sizeof value);
        if (found == 0) snprintf(reply, size, "VALUE %s\n", value);
        else if (found == 1) snprintf(reply, size, "MISSING\n");
        else snprintf(reply, size, "ERROR %s\n", value);
    } else {
        snprintf(reply, size, "ERROR expected 'TAG name lat lon' or 'GET name'\n");
    }
}

/* Answer the lines of one connection; a silent client is dropped after 5 s. */
static void converse(int fd) {
    struct timeval timeout = {5, 0};
    char buf[LINE], reply[2 * LINE];
    size_t len = 0;
    ssize_t got;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    while (!stopping && (got = read(fd, buf + len, sizeof buf - 1 - len)) > 0) {
        char *start = buf, *nl;
        len += (size_t)got;
        while ((nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
            *nl = 0;
            if (nl > start && nl[-1] == '\r') nl[-1] = 0;
            answer(start, reply, sizeof reply);
            if (write(fd, reply, strlen(reply)) < 0) return;
            start = nl + 1;
        }
        len -= (size_t)(start - buf);
        memmove(buf, start, len);
        if (len == sizeof buf - 1) return;  /* a line too long: drop the client */
    }
}

static void on_signal(int sig) { (void)sig; stopping = 1; }

static int serve(const char *port_text) {
    char *end, hash[16], value[LINE];
    long port = strtol(port_text, &end, 10);
    int one = 1;
    if (!*port_text || *end || port < 1 || port > 65535) { fprintf(stderr, "geotags: bad port '%s'\n", port_text); return 2; }
    if (tag("selfcheck", 57.64911, 10.40744, hash, value, sizeof value) != 0 || get("selfcheck", value, sizeof value) != 0) {
        fprintf(stderr, "geotags: tinydb check failed: %s\n", value);
        return 1;
    }
    printf("geotags: stored tag selfcheck=%s in tinydb and read it back: %s\n", hash, value);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int server = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (server < 0 || bind(server, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(server, 16) < 0) {
        fprintf(stderr, "geotags: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
        return 1;
    }
    printf("geotags serving on 127.0.0.1:%ld\n", port);
    fflush(stdout);
    while (!stopping) {
        int fd = accept(server, NULL, NULL);
        if (fd < 0) continue;  /* EINTR on a stop signal; the loop condition ends it */
        converse(fd);
        close(fd);
    }
    printf("geotags stopping\n");
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: geotags [LAT LON] | tag NAME LAT LON | get NAME | serve PORT\n");
    return 2;
}

int main(int argc, char **argv) {
    double lat = 57.64911, lon = 10.40744;
    char hash[16], greeting[64], value[LINE];
    if (argc == 5 && strcmp(argv[1], "tag") == 0) {
        if (!valid_name(argv[2]) || !parse_point(argv[3], argv[4], &lat, &lon)) return usage();
        if (tag(argv[2], lat, lon, hash, value, sizeof value) != 0) { fprintf(stderr, "geotags: %s\n", value); return 1; }
        printf("tagged %s: %s\n", argv[2], hash);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "get") == 0) {
        if (!valid_name(argv[2])) return usage();
        int found = get(argv[2], value, sizeof value);
        if (found < 0) { fprintf(stderr, "geotags: %s\n", value); return 1; }
        if (found > 0) { fprintf(stderr, "geotags: no tag '%s'\n", argv[2]); return 1; }
        printf("%s: %s\n", argv[2], value);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve(argv[2]);
    if (argc == 3 && !parse_point(argv[1], argv[2], &lat, &lon)) return usage();
    if (argc != 1 && argc != 3) return usage();
    geohash_encode(lat, lon, 11, hash, sizeof hash);
    mini_greeting(greeting, sizeof greeting);
    printf("%s\n%s\n", hash, greeting);
    return 0;
}
