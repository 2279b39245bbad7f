/* jbuild's sandbox stager: a fork server that stages each sandbox's root and execs bubblewrap.

   jbuild starts one per worker thread (`--serve`, sandbox_zygote.py; the server is
   stage_exec_serve.c, this file the staging). Per action it forks a child that does what
   StagedRoot.__call__ does in Python (sandbox_root.py, the reference and the fallback): a mount
   namespace (and a user namespace unless the server is in one of its own), a tmpfs on the stage,
   the operations replayed in it; then it hands the server the namespace over the socket and execs
   bubblewrap. Until that exec the child (jbuild's own, CLONE_PARENT, as its server is) is named
   `jbuild-staging` (comm and command line), not taken for its server by `ps` or `pgrep -f`.
   (Before, jbuild posix_spawned this program per action: the spawn held jbuild's GIL ~0.7 ms,
   and each exec of a dynamically linked program costs ~0.5 ms of CPU more.)

   With op 'W' the dependencies are mounted by a child once bubblewrap has made the sandbox
   (deps_later below); the sandbox's first program is then this one, run as
   /proc/self/fd/8 --wait COMMAND...

   The child's descriptors: 0 /dev/null, 1 and 2 the build's log, 4 the socket to the server; the
   request (stage_request.encode: every path, flag and string computed by jbuild) in memory. On
   failure: a line on stderr and exit code 126 (staging) or 127 (the exec), as the Python child.

   jbuild compiles this file with stage_exec_serve.c on first use (sandbox_landlock.build_helper);
   libc only. */

#include "stage_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#define OPEN_TREE_CLONE_ 1
#define MOVE_MOUNT_F_EMPTY_PATH_ 0x4
#define AT_RECURSIVE_ 0x8000
#define ATTR_RDONLY 0x1
#define ATTR_NOSUID 0x2
#define WAIT_PROGRAM 8 /* this program, kept open for the sandbox to run as /proc/self/fd/8 --wait */
#define WAIT_SOCKET 9  /* the sandbox's end of the socket to the child that mounts the dependencies */

static const char *data, *end;
static char stage[4096];
static size_t stage_len;

void fail(const char *what, const char *path) {
    char line[8192];
    int n = snprintf(line, sizeof line, "jbuild: cannot stage the sandbox's root: %s%s%s: %s\n", what,
                     path ? " " : "", path ? path : "", strerror(errno));
    if (write(2, line, n) < 0) { /* nothing more to say */ }
    _exit(FAILED);
}

static uint32_t u32(void) {
    uint32_t v;
    if (end - data < 4) { errno = EINVAL; fail("read the request", NULL); }
    memcpy(&v, data, 4);
    data += 4;
    return v;
}

/* A string of the request: its length, its bytes and a NUL (pointed at, not copied). */
static const char *str(void) {
    uint32_t n = u32();
    const char *s = data;
    if ((size_t)(end - data) < (size_t)n + 1 || s[n] != '\0') { errno = EINVAL; fail("read the request", NULL); }
    data += n + 1;
    return s;
}

/* `path` inside the stage (the request's paths are as seen from the sandbox's root). */
static char *at(const char *path, char *buf, size_t size) {
    if (stage_len + strlen(path) + 1 > size) { errno = ENAMETOOLONG; fail("stage", path); }
    memcpy(buf, stage, stage_len);
    strcpy(buf + stage_len, path);
    return buf;
}

static void check(int result, const char *what, const char *path) {
    if (result != 0) fail(what, path);
}

static void bind_at(const char *source, const char *point, uint32_t remount) {
    check(mount(source, point, NULL, MS_BIND | MS_REC, NULL), "bind", source);
    if (remount) check(mount(NULL, point, NULL, remount, NULL), "make read-only", point);
}

/* Read-only and nosuid, `top` and every mount below it: one call where the kernel has
   mount_setattr (5.12), else a remount of each of `points` (with its flags), then of `top`. */
static void seal(const char *top, char **points, uint32_t *remounts, uint32_t n) {
    uint64_t attr[4] = {ATTR_RDONLY | ATTR_NOSUID, 0, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, top, AT_RECURSIVE_, attr, sizeof attr) == 0) return;
    if (errno != ENOSYS) fail("make read-only", top);
    for (uint32_t i = 0; i < n; i++)
        check(mount(NULL, points[i], NULL, remounts[i], NULL), "make read-only", points[i]);
    check(mount(NULL, top, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, NULL), "make read-only", top);
}

void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) fail("write", path);
    close(fd);
}

/* Each dependency's mount point is made and mounted on relative to the dependencies' tmpfs (the
   working directory meanwhile): a few hundred path walks through the stage and its two mounts
   fewer per build. */
static void deps(void) {
    char top[4096], source[8192];
    at(str(), top, sizeof top);
    const char *common = str();
    uint32_t n = u32();
    char **points = calloc(n ? n : 1, sizeof *points);
    uint32_t *remounts = calloc(n ? n : 1, sizeof *remounts);
    if (!points || !remounts) fail("allocate", NULL);
    check(mount("tmpfs", top, "tmpfs", 0, "mode=0755"), "mount a tmpfs on", top);
    int back = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (back < 0) fail("open", ".");
    check(chdir(top), "enter", top);
    for (uint32_t i = 0; i < n; i++) {
        const char *name = str(), *rest = str();
        remounts[i] = u32();
        snprintf(source, sizeof source, "%s%s", common, rest);
        check(mkdir(name, 0777), "make", name);
        check(mount(source, name, NULL, MS_BIND | MS_REC, NULL), "bind", source);
        points[i] = (char *)name; /* relative to `top`, as the working directory still is */
    }
    seal(top, points, remounts, n);
    check(fchdir(back), "return from", top);
    close(back);
}

/* The dependencies, mounted only once bubblewrap has built the sandbox (op 'W'). Mounted before
   it starts, each would be copied twice by bubblewrap (its new namespace, then its bind of the
   root), listed twice in the mount table it reads and parses (its parse compares each mount with
   every sibling: quadratic in the dependencies), and unmounted again with its old root. Instead
   their tmpfs is made here, with a mount point per name, read-only and shared; once the sandbox
   is up (the program's first act, `--wait`, says so over WAIT_SOCKET and hands over its mount
   namespace) each entry, cloned meanwhile from a read-only bind of the store, is attached on its
   point in the sandbox itself: read-only and nosuid, one mount. (Where it cannot be, the entries
   are bound on the stage's points, and propagate into bubblewrap's copy, a slave.) Only then does
   the build's command run. */
static struct { char top[4096]; const char *common; uint32_t n, remount; const char **names, **rests; } later;

static void deps_later(void) {
    at(str(), later.top, sizeof later.top);
    later.common = str();
    later.n = u32();
    later.names = calloc(later.n ? later.n : 1, sizeof *later.names);
    later.rests = calloc(later.n ? later.n : 1, sizeof *later.rests);
    if (!later.names || !later.rests) fail("allocate", NULL);
    check(mount("tmpfs", later.top, "tmpfs", 0, "mode=0755"), "mount a tmpfs on", later.top);
    int back = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (back < 0) fail("open", ".");
    check(chdir(later.top), "enter", later.top);
    for (uint32_t i = 0; i < later.n; i++) {
        later.names[i] = str();
        later.rests[i] = str();
        later.remount = u32();
        check(mkdir(later.names[i], 0777), "make", later.names[i]);
    }
    check(fchdir(back), "return from", later.top);
    close(back);
    uint64_t attr[4] = {ATTR_RDONLY | ATTR_NOSUID, 0, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, later.top, 0, attr, sizeof attr) != 0) {
        if (errno != ENOSYS) fail("make read-only", later.top);
        check(mount(NULL, later.top, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, NULL), "make read-only", later.top);
    }
    check(mount(NULL, later.top, NULL, MS_SHARED, NULL), "share", later.top);
}

/* Each entry cloned now as a detached mount (while bubblewrap starts), from the read-only bind
   of the store: attached later inside the sandbox's own mount namespace, it is one mount per
   dependency, made once and torn down once — bound on the stage's point instead, each is made
   there and again, by propagation, in the sandbox, and both are torn down. NULL where the kernel
   cannot (before 5.2) or descriptors would run out: the entries are then bound on the stage. */
static int *clone_entries(void) {
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return NULL;
    if (lim.rlim_cur < (rlim_t)later.n + 64 && lim.rlim_max >= (rlim_t)later.n + 64) {
        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &lim) != 0) return NULL;
    }
    if (lim.rlim_cur < (rlim_t)later.n + 64) return NULL;
    int *trees = calloc(later.n ? later.n : 1, sizeof *trees);
    if (!trees) return NULL;
    char source[8192];
    for (uint32_t i = 0; i < later.n; i++) {
        snprintf(source, sizeof source, "%s%s", later.common, later.rests[i]);
        trees[i] = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE_ | O_CLOEXEC | AT_RECURSIVE_);
        if (trees[i] < 0) {
            if (i == 0 && (errno == ENOSYS || errno == EPERM || errno == EINVAL)) { free(trees); return NULL; }
            fail("bind", source);
        }
    }
    return trees;
}

ssize_t send_byte_and_fd(int sock, char byte, int fd, int flags) {
    struct iovec iov = {&byte, 1};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &msg, flags);
}

int receive_byte_and_fd(int sock) {
    char byte;
    struct iovec iov = {&byte, 1};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) return -2;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    int fd = -1;
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* The child that mounts the dependencies: the store bound read-only on itself (so that each bind
   of an entry is born read-only and nosuid, with the flags the host locks), each entry cloned
   from it (clone_entries); then, when the sandbox says it is up, each attached on its point in
   the sandbox's namespace (or, without clones or that namespace, bound on the stage's point, from
   where it propagates into the sandbox); then the go-ahead. A failure is said on stderr (the
   build's log) and the sandbox, seeing no go-ahead, exits 126. */
static void mount_later(int sock) {
    char source[8192];
    check(mount(later.common, later.common, NULL, MS_BIND | MS_REC, NULL), "bind", later.common);
    uint64_t attr[4] = {ATTR_RDONLY | ATTR_NOSUID, 0, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, later.common, 0, attr, sizeof attr) != 0) {
        if (errno != ENOSYS) fail("make read-only", later.common);
        check(mount(NULL, later.common, NULL, later.remount, NULL), "make read-only", later.common);
    }
    int *trees = clone_entries();
    int sandbox = receive_byte_and_fd(sock); /* the sandbox's word that it is up, with its namespace */
    if (sandbox == -2) _exit(0); /* the sandbox never came up: bubblewrap says why */
    if (trees && sandbox >= 0) {
        check(syscall(SYS_setns, sandbox, CLONE_NEWNS), "enter", "the sandbox's mount namespace");
        check(chdir(later.top + stage_len), "enter", later.top + stage_len);
        for (uint32_t i = 0; i < later.n; i++)
            check((int)syscall(SYS_move_mount, trees[i], "", AT_FDCWD, later.names[i], MOVE_MOUNT_F_EMPTY_PATH_),
                  "bind", later.rests[i]);
    } else {
        check(chdir(later.top), "enter", later.top);
        for (uint32_t i = 0; i < later.n; i++) {
            snprintf(source, sizeof source, "%s%s", later.common, later.rests[i]);
            check(mount(source, later.names[i], NULL, MS_BIND | MS_REC, NULL), "bind", source);
        }
    }
    if (write(sock, "g", 1) != 1) _exit(0);
    _exit(0);
}

/* Before the exec of bubblewrap, with deferred dependencies: the child that mounts them, and the
   sandbox's end of the socket to it at WAIT_SOCKET. */
static void start_mounting_later(void) {
    int sv[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "make a socket", NULL);
    pid_t pid = fork();
    if (pid < 0) fail("fork", NULL);
    if (pid == 0) {
        close(sv[1]);
        close(SOCK); /* the server waits for its end to close when staging fails */
        close(WAIT_PROGRAM);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* with bubblewrap, which reaps it */
        mount_later(sv[0]);
    }
    close(sv[0]);
    check(dup2(sv[1], WAIT_SOCKET) < 0, "keep", "the socket");
    close(sv[1]);
}

/* `--wait`: the sandbox's first program. Says the sandbox is up, waits until its dependencies
   are mounted, closes every descriptor but 0-2 and runs the build's command. */
static int wait_then_exec(char **argv) {
    char byte;
    /* With the sandbox's mount namespace, where the child attaches the entries (mount_later). */
    int ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    /* (the Python child answered before it asked) */
    (void)send_byte_and_fd(WAIT_SOCKET, 'r', ns, MSG_NOSIGNAL);
    if (ns >= 0) close(ns);
    if (read(WAIT_SOCKET, &byte, 1) != 1) {
        const char *line = "jbuild: cannot stage the sandbox's root: its dependencies were not mounted\n";
        if (write(2, line, strlen(line)) < 0) { /* nothing more to say */ }
        return FAILED;
    }
    syscall(SYS_close_range, 3U, ~0U, 0);
    execve(argv[0], argv, environ);
    char line[4200];
    int n = snprintf(line, sizeof line, "jbuild: cannot start the build: %s: %s\n", argv[0], strerror(errno));
    if (write(2, line, n) < 0) { /* nothing more to say */ }
    return 127;
}

static void links(void) {
    char where[4096], path[8192], target[8192];
    at(str(), where, sizeof where);
    const char *prefix = str();
    uint32_t n = u32();
    for (uint32_t i = 0; i < n; i++) {
        const char *name = str(), *rest = str();
        snprintf(path, sizeof path, "%s/%s", where, name);
        snprintf(target, sizeof target, "%s%s", prefix, rest);
        check(symlink(target, path), "link", path);
    }
}

static void keep_open(const char *source, int fd) {
    int got = open(source, O_RDONLY);
    if (got < 0) fail("open", source);
    if (got != fd) {
        check(dup2(got, fd) < 0, "open", source);
        close(got);
    }
}

static void replay(char kind) {
    char path[8192];
    if (kind == 'T') check(mount("tmpfs", at(str(), path, sizeof path), "tmpfs", 0, "mode=0755"), "mount a tmpfs on", path);
    else if (kind == 'S') seal(at(str(), path, sizeof path), NULL, NULL, 0);
    else if (kind == 'D') check(mkdir(at(str(), path, sizeof path), 0777), "make", path);
    else if (kind == 'F') {
        int fd = open(at(str(), path, sizeof path), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) fail("make", path);
        close(fd);
    } else if (kind == 'P')
        check(mount("devpts", at(str(), path, sizeof path), "devpts", MS_NOSUID | MS_NOEXEC,
                    "newinstance,ptmxmode=0666,mode=620"), "mount devpts on", path);
    else if (kind == 'L') {
        const char *target = str();
        check(symlink(target, at(str(), path, sizeof path)), "link", path);
    } else if (kind == 'B') {
        const char *source = str();
        at(str(), path, sizeof path);
        bind_at(source, path, u32());
    } else if (kind == 'O') {
        const char *source = str();
        keep_open(source, (int)u32());
    } else if (kind == 'N') links();
    else if (kind == 'E') deps();
    else if (kind == 'W') deps_later();
    else { errno = EINVAL; fail("read the request", NULL); }
}

static void enter(uint32_t in_user_ns, const char *uid_map, const char *gid_map) {
    if (in_user_ns) {
        check(unshare(CLONE_NEWNS), "enter a mount namespace", NULL);
        return;
    }
    check(unshare(CLONE_NEWUSER | CLONE_NEWNS), "enter a user and mount namespace", NULL);
    write_file("/proc/self/setgroups", "deny");
    write_file("/proc/self/uid_map", uid_map);
    write_file("/proc/self/gid_map", gid_map);
}

/* The staged root's mount namespace, to the server: it lets it go after answering, so that
   tearing its mounts down is not part of the build's time. A server gone since its answer
   changes nothing for the child (jbuild's own): it then goes on without. */
static void hand_over_namespace(void) {
    int ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (ns < 0) fail("open", "/proc/self/ns/mnt");
    if (send_byte_and_fd(SOCK, 'n', ns, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
        fail("hand over the namespace", NULL);
    close(ns);
    close(SOCK);
}

void stage_and_exec(char *buf, size_t size) {
    data = buf;
    end = buf + size;
    uint32_t in_user_ns = u32();
    const char *uid_map = str(), *gid_map = str(), *where = str();
    stage_len = strlen(where);
    if (stage_len >= sizeof stage) { errno = ENAMETOOLONG; fail("stage", where); }
    memcpy(stage, where, stage_len + 1);
    enter(in_user_ns, uid_map, gid_map);
    check(mount("tmpfs", stage, "tmpfs", 0, "mode=0755"), "mount a tmpfs on", stage);
    for (uint32_t n = u32(); n; n--) {
        if (data >= end) { errno = EINVAL; fail("read the request", NULL); }
        replay(*data++);
    }
    uint32_t argc = u32();
    char **argv = calloc(argc + 1, sizeof *argv);
    for (uint32_t i = 0; i < argc; i++) argv[i] = (char *)str();
    uint32_t envc = u32();
    char **envp = calloc(envc + 1, sizeof *envp);
    for (uint32_t i = 0; i < envc; i++) envp[i] = (char *)str();
    if (later.names) start_mounting_later();
    hand_over_namespace();
    execve(argv[0], argv, envp);
    char line[4200];
    int n = snprintf(line, sizeof line, "jbuild: cannot start the sandbox: %s: %s\n", argv[0], strerror(errno));
    if (write(2, line, n) < 0) { /* nothing more to say */ }
    _exit(127);
}

int main(int count, char **args) {
    if (count > 2 && strcmp(args[1], "--wait") == 0) return wait_then_exec(args + 2);
    if (count > 2 && strcmp(args[1], "--serve") == 0) return serve(args[2], args[0], (size_t)(args[count - 1] + strlen(args[count - 1]) + 1 - args[0]));
    const char *line = "usage: stage_exec --serve TMPDIR (jbuild's sandbox stager) | --wait COMMAND...\n";
    if (write(2, line, strlen(line)) < 0) { /* nothing more to say */ }
    return 2;
}
