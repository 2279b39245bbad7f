/* jbuild's sandbox stager, its fork server (`stage_exec --serve TMPDIR`; staging itself is
   stage_exec.c).

   One per worker thread, started by jbuild (sandbox_zygote.py) in place of a Python stager: it
   enters a user namespace and a loopback-only network namespace once, which its sandboxes
   share, makes its stage (locked, so that a later jbuild can tell a dead server's stage from a
   live one's and remove it: sandbox_zygote.sweep_stages), then answers requests on stdin:
   u32 length, u32 length of the log's path, the path (empty: no log), the request
   (stage_request.encode). Per request it forks (this program is small: no exec, no dynamic
   linking per action, and jbuild holds no lock while it waits), the child stages and execs
   bubblewrap; on stdout the server answers the child's pid (i32, or -1: no fork). The child is
   jbuild's (CLONE_PARENT): jbuild waits for it and kills its process group itself. Its staged
   mount namespace comes back over a socket and is let go once the next child has started, so
   its teardown is in no build's time. It ends when stdin closes, or when the thread that
   started it does (PR_SET_PDEATHSIG): either way removing its stage.

   The child goes ahead only once the server has answered its pid (a byte 'g' on their socket,
   sent right after the answer): a server that dies between its clone and its answer leaves a
   child that jbuild never heard of, which then runs nothing and dies by NO_GO_SIGNAL at once. Until that
   byte the child is in the server's process group (the server makes its own), which is how jbuild
   finds it to reap it (sandbox_zygote.Zygote._reap_unanswered); then it makes its own session. */

#include "stage_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static char serve_stage[4096];

static void stage_gone(int sig) {
    (void)sig;
    rmdir(serve_stage);
    _exit(0);
}

/* All `n` bytes read from (`writing` 0) or written to `fd`; -1 at its end or on an error. */
static int transfer_all(int fd, void *buf, size_t n, int writing) {
    char *p = buf;
    while (n) {
        ssize_t done = writing ? write(fd, p, n) : read(fd, p, n);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) return -1;
        p += done;
        n -= (size_t)done;
    }
    return 0;
}

/* As sandbox_root.enter_worker_namespaces: (in a user namespace, sandboxes share its network). */
static void worker_namespaces(uint8_t *in_user_ns, uint8_t *shared_network) {
    char map[64];
    uid_t uid = getuid();
    gid_t gid = getgid();
    *in_user_ns = *shared_network = 0;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) return;
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    write_file("/proc/self/gid_map", map);
    *in_user_ns = 1;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        *shared_network = ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    }
    if (s >= 0) close(s);
}

/* Every signal at its default, none blocked: what jbuild may have left ignored or blocked stays so
   across exec (the server's and bubblewrap's). Once, as the server starts; each child then puts
   back only the server's own three (the server ignores SIGINT and SIGPIPE and handles SIGTERM).
   (The raw system call: the C library refuses to touch its own two, 32 and 33.) */
static void default_signals(void) {
    struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } action = {SIG_DFL, 0, NULL, 0};
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &action, NULL, sizeof action.mask);
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
}

/* The child's name while it stages, until it execs bubblewrap: in `ps`, `pgrep -f` and
   /proc/PID/comm it is not taken for its server (it is jbuild's child, as the server is). */
static void rename_child(char *args, size_t args_size, pid_t server) {
    prctl(PR_SET_NAME, "jbuild-staging", 0, 0, 0);
    memset(args, 0, args_size);
    snprintf(args, args_size, "jbuild-staging (for stager %d)", (int)server);
}

/* In the forked child: wait for the server's go-ahead, then descriptors as staging expects them
   (0 /dev/null, 1 and 2 the log, SOCK the socket to the server, nothing else), signals at their
   defaults, its own session. */
static void child_of_server(int null, const char *log, int theirs, char *buf, size_t size) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* bubblewrap's own (--die-with-parent) takes over */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    char go;
    if (read(theirs, &go, 1) != 1 || go != 'g') { /* the server died before answering: a death by
        NO_GO_SIGNAL, which no action's end can be (bubblewrap answers its child's signal as an exit
        code, 128 + it), while a script may well exit 125 */
        signal(NO_GO_SIGNAL, SIG_DFL);
        raise(NO_GO_SIGNAL);
        _exit(NO_GO);
    }
    if (setsid() < 0) fail("start a session", NULL);
    int out = *log ? open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : dup(null);
    if (out < 0) fail("open", log);
    out = fcntl(out, F_DUPFD_CLOEXEC, 10);
    theirs = fcntl(theirs, F_DUPFD_CLOEXEC, 10);
    if (out < 0 || theirs < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 || dup2(theirs, SOCK) < 0)
        fail("set up the descriptors", NULL);
    syscall(SYS_close_range, 3U, 3U, 0);
    syscall(SYS_close_range, SOCK + 1, ~0U, 0);
    stage_and_exec(buf, size);
}

/* Test-only: JBUILD_TEST_STAGER_DIES=WHEN:FLAG kills the server at WHEN ("clone": between its
   clone and its answer; "answer": between its answer and the child's go-ahead), once: when it
   can remove the file FLAG (tests/engine/test_sandbox_stager_dies.py). */
static const char *dies_when, *dies_flag;

static void maybe_die(const char *when) {
    if (dies_when && strncmp(dies_when, when, strlen(when)) == 0 && unlink(dies_flag) == 0) kill(getpid(), SIGKILL);
}

int serve(const char *tmpdir, char *args, size_t args_size) {
    default_signals();
    signal(SIGTERM, stage_gone);
    signal(SIGINT, SIG_IGN); /* jbuild's to handle: it cancels the builds, then closes our stdin */
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    setpgid(0, 0); /* children not yet let go are found by it (above) */
    dies_when = getenv("JBUILD_TEST_STAGER_DIES");
    dies_flag = dies_when ? strchr(dies_when, ':') : NULL;
    if (dies_flag) dies_flag++;
    else dies_when = NULL;
    uint8_t flags[2];
    worker_namespaces(&flags[0], &flags[1]);
    if (snprintf(serve_stage, sizeof serve_stage, "%s/jbuild-stage-locked-XXXXXX", tmpdir) >= (int)sizeof serve_stage)
        return 1;
    if (!mkdtemp(serve_stage)) return 1;
    int lock = open(serve_stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) stage_gone(0);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    uint32_t n = (uint32_t)strlen(serve_stage);
    if (null < 0 || transfer_all(1, &n, 4, 1) || transfer_all(1, serve_stage, n, 1) || transfer_all(1, flags, 2, 1))
        stage_gone(0);
    int held = -1;
    pid_t me = getpid();
    for (;;) {
        uint32_t size, log_size;
        if (transfer_all(0, &size, 4, 0) || size < 4) stage_gone(0);
        char *buf = malloc(size + 1);
        if (!buf || transfer_all(0, buf, size, 0)) stage_gone(0);
        memcpy(&log_size, buf, 4);
        char log[4096];
        if (log_size > size - 4 || log_size >= sizeof log) stage_gone(0);
        memcpy(log, buf + 4, log_size);
        log[log_size] = '\0';
        int sv[2];
        int32_t pid = -1;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
            /* A fork whose parent is jbuild's (CLONE_PARENT): jbuild waits for it itself, woken
               once when it ends, with no round trip through this server. */
            pid = (int32_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
            if (pid == 0) {
                close(sv[0]);
                rename_child(args, args_size, me);
                child_of_server(null, log, sv[1], buf + 4 + log_size, size - 4 - log_size);
            }
            close(sv[1]);
            if (pid < 0) close(sv[0]);
        }
        free(buf);
        maybe_die("clone");
        if (transfer_all(1, &pid, 4, 1)) stage_gone(0);
        if (pid < 0) continue;
        maybe_die("answer");
        if (send(sv[0], "g", 1, MSG_NOSIGNAL) != 1) { /* it died meanwhile: jbuild reaps it */ }
        if (held >= 0) close(held); /* the previous child's staged mounts, torn down while this one runs */
        held = receive_byte_and_fd(sv[0]);
        close(sv[0]);
    }
}
