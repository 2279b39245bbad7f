/* tinydb: a tiny key-value server.
 *
 *   tinydb PORT [--data DIR]      (else $TINYDB_DATA, else the current directory)
 *
 * Listens on 127.0.0.1:PORT; one request per line, one reply per line:
 *   SET key value   -> OK          (the value is the rest of the line)
 *   GET key         -> VALUE v | MISSING
 *   anything else   -> ERROR why
 * Every SET is appended to DIR/tinydb.log before it is acknowledged, and the log is replayed at
 * start, so data outlives a restart. SIGTERM or SIGINT stop it cleanly. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mini.h"

#ifndef PROTOCOL
#define PROTOCOL 1
#endif
#define MAX_CLIENTS 64
#define LINE_MAX_LEN 1024

struct item { char *key, *value; struct item *next; };
struct client { int fd; size_t len; char buf[LINE_MAX_LEN]; };

static struct item *table[1024];
static FILE *journal;
static volatile sig_atomic_t stopping;

static unsigned bucket(const char *key) {
    unsigned h = 2166136261u;
    for (; *key; key++) h = (h ^ (unsigned char)*key) * 16777619u;
    return h % 1024;
}

static struct item *find(const char *key) {
    for (struct item *it = table[bucket(key)]; it; it = it->next)
        if (strcmp(it->key, key) == 0) return it;
    return NULL;
}

static int put(const char *key, const char *value) {
    struct item *it = find(key);
    char *copy = strdup(value);
    if (!copy) return -1;
    if (it) { free(it->value); it->value = copy; return 0; }
    it = malloc(sizeof *it);
    if (!it || !(it->key = strdup(key))) { free(it); free(copy); return -1; }
    it->value = copy;
    it->next = table[bucket(key)];
    table[bucket(key)] = it;
    return 0;
}

/* Split "VERB key rest" in place; returns the number of parts found (1..3). */
static int split(char *line, char **verb, char **key, char **rest) {
    *verb = line; *key = *rest = NULL;
    char *sp = strchr(line, ' ');
    if (!sp) return 1;
    *sp = 0; *key = sp + 1;
    sp = strchr(*key, ' ');
    if (!sp) return **key ? 2 : 1;
    *sp = 0; *rest = sp + 1;
    return **key ? 3 : 1;
}

/* Answer one request line into `reply`; `persist` says whether a SET goes to the journal. */
static void handle(char *line, char *reply, size_t size, int persist) {
    char *verb, *key, *value;
    int n = split(line, &verb, &key, &value);
    if (strcmp(verb, "GET") == 0 && n == 2) {
        struct item *it = find(key);
        if (it) snprintf(reply, size, "VALUE %s\n", it->value);
        else snprintf(reply, size, "MISSING\n");
    } else if (strcmp(verb, "SET") == 0 && n == 3) {
        if (persist && (fprintf(journal, "SET %s %s\n", key, value) < 0 || fflush(journal) != 0))
            snprintf(reply, size, "ERROR cannot write the journal: %s\n", strerror(errno));
        else if (put(key, value) != 0)
            snprintf(reply, size, "ERROR out of memory\n");
        else
            snprintf(reply, size, "OK\n");
    } else {
        snprintf(reply, size, "ERROR expected 'SET key value' or 'GET key'\n");
    }
}

static int replay(const char *path) {
    FILE *f = fopen(path, "r");
    char line[LINE_MAX_LEN + 2], reply[LINE_MAX_LEN + 64];
    int n = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        handle(line, reply, sizeof reply, 0);
        n++;
    }
    fclose(f);
    return n;
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in addr;
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0) { close(fd); return -1; }
    return fd;
}

/* Read what a client sent; answer each complete line. Returns -1 when the client is done. */
static int serve(struct client *c) {
    ssize_t got = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (got <= 0) return -1;
    c->len += (size_t)got;
    char *start = c->buf, *nl, reply[LINE_MAX_LEN + 64];
    while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf)))) {
        *nl = 0;
        if (nl > start && nl[-1] == '\r') nl[-1] = 0;
        handle(start, reply, sizeof reply, 1);
        if (write(c->fd, reply, strlen(reply)) < 0) return -1;
        start = nl + 1;
    }
    c->len -= (size_t)(start - c->buf);
    memmove(c->buf, start, c->len);
    if (c->len == sizeof c->buf) {
        const char *msg = "ERROR line too long\n";
        if (write(c->fd, msg, strlen(msg)) < 0) return -1;
        return -1;
    }
    return 0;
}

static void on_signal(int sig) { (void)sig; stopping = 1; }

static int loop(int server) {
    static struct client clients[MAX_CLIENTS];
    struct pollfd fds[MAX_CLIENTS + 1];
    int n = 0;
    while (!stopping) {
        fds[0].fd = server; fds[0].events = n < MAX_CLIENTS ? POLLIN : 0;
        for (int i = 0; i < n; i++) { fds[i + 1].fd = clients[i].fd; fds[i + 1].events = POLLIN; }
        if (poll(fds, (nfds_t)n + 1, -1) < 0) {
            if (errno == EINTR) continue;
            perror("tinydb: poll");
            return 1;
        }
        for (int i = n - 1; i >= 0; i--) {
            if (fds[i + 1].revents && serve(&clients[i]) < 0) {
                close(clients[i].fd);
                clients[i] = clients[--n];
            }
        }
        if (fds[0].revents & POLLIN) {
            int fd = accept(server, NULL, NULL);
            if (fd >= 0) { clients[n].fd = fd; clients[n].len = 0; n++; }
        }
    }
    return 0;
}

static int usage(const char *why) {
    fprintf(stderr, "tinydb: %s\nusage: tinydb PORT [--data DIR]   (DIR defaults to $TINYDB_DATA, else .)\n", why);
    return 2;
}

int main(int argc, char **argv) {
    const char *dir = getenv("TINYDB_DATA");
    char *end, path[4096], greeting[64];
    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--data") == 0)) return usage("expected a port");
    long port = strtol(argv[1], &end, 10);
    if (*argv[1] == 0 || *end != 0 || port < 1 || port > 65535) return usage("the port must be a number in 1..65535");
    if (argc == 4) dir = argv[3];
    if (!dir || !*dir) dir = ".";
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) { fprintf(stderr, "tinydb: cannot create %s: %s\n", dir, strerror(errno)); return 1; }
    char *full = realpath(dir, NULL);  /* said in full at start: where the data of a run lives */
    snprintf(path, sizeof path, "%s/tinydb.log", full ? full : dir);
    free(full);
    int replayed = replay(path);
    if (!(journal = fopen(path, "a"))) { fprintf(stderr, "tinydb: cannot open %s: %s\n", path, strerror(errno)); return 1; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;  /* no SA_RESTART: poll returns EINTR and the loop ends */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int server = listen_on((int)port);
    if (server < 0) { fprintf(stderr, "tinydb: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno)); return 1; }
    mini_greeting(greeting, sizeof greeting);
    printf("tinydb listening on 127.0.0.1:%ld, protocol %d, data in %s (%d records replayed) (%s)\n",
           port, PROTOCOL, path, replayed, greeting);
    fflush(stdout);
    int code = loop(server);
    printf("tinydb stopping\n");
    fclose(journal);
    return code;
}
