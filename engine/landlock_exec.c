/* jbuild's Landlock helper: confine a build to its declared store entries, then run it.

   bubblewrap runs this as the sandbox's first program, after all its mounts (Landlock forbids
   mounting once applied). The whole store is bound read-only at STORE; each ENTRY is the name
   of a declared one in it (/deps/<name> are symlinks to them). The ruleset grants:
     - every right it handles on each top-level directory or file of / but STORE (/usr, /dev,
       /proc, /src, /env, /out, /tmp, /deps, ...): what mounts make read-only stays so;
     - read, list and execute on each STORE/ENTRY (a declared store entry);
     - nothing on / itself (rules are inherited by everything below: a right granted there would
       reach every store entry), so STORE, an undeclared entry in it, and / cannot be listed,
       read or executed. A link anywhere that leads into an undeclared entry is checked where it
       leads, so it gives nothing either.
   Handled are all file-system rights of the kernel's ABI up to 7 (refer from 2, truncate from
   3, ioctl on devices from 5): each right the kernel can restrict is restricted, and granted
   back only where the build may use it. ABI 1 cannot be used: it denies every rename across
   directories (refer unhandled), which builds do in /tmp and /out.

   Usage: landlock_exec STORE [ENTRY...] -- PROGRAM [ARG...]
   Every descriptor but 0, 1 and 2 is closed before PROGRAM runs (this program is started as
   /proc/self/fd/N). On any failure: a line on stderr (the build's log) and exit code 126, as
   when the sandbox's root cannot be staged.

   jbuild compiles this file on first use (sandbox_landlock.py); keep it one file, libc only. */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#define CREATE_RULESET_VERSION (1U << 0)
#define RULE_PATH_BENEATH 1
#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_ABI1 ((1ULL << 13) - 1) /* execute .. make_sym */
#define FS_REFER (1ULL << 13)      /* ABI 2 */
#define FS_TRUNCATE (1ULL << 14)   /* ABI 3 */
#define FS_IOCTL_DEV (1ULL << 15)  /* ABI 5 */
#define FS_ON_FILES (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV)
#define FAILED 126

struct ruleset_attr {
    uint64_t handled_access_fs; /* the first field of every ABI's struct: this size is accepted by all */
};

struct path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

static void fail(const char *what, const char *path) {
    int code = errno;
    dprintf(2, "jbuild: cannot confine the sandbox to its declared dependencies (landlock): %s%s%s: %s\n", what,
            path ? " " : "", path ? path : "", strerror(code));
    _exit(FAILED);
}

static int retry_openat(int dir, const char *name, int flags) {
    int fd;
    do {
        fd = openat(dir, name, flags);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

static uint64_t handled_rights(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, CREATE_RULESET_VERSION);
    if (abi < 0)
        fail("the kernel has no Landlock", NULL);
    if (abi < 2) {
        errno = ENOTSUP;
        fail("Landlock ABI 2 (refer) is needed, the kernel has 1", NULL);
    }
    uint64_t rights = FS_ABI1 | FS_REFER;
    if (abi >= 3)
        rights |= FS_TRUNCATE;
    if (abi >= 5)
        rights |= FS_IOCTL_DEV;
    return rights;
}

/* Grant `rights` (narrowed to what a file may carry, when it is not a directory) on what `fd` is. */
static void grant(int ruleset, int fd, uint64_t rights, const char *path) {
    struct stat st;
    if (fstat(fd, &st) != 0)
        fail("stat", path);
    struct path_beneath_attr rule = {.allowed_access = S_ISDIR(st.st_mode) ? rights : rights & FS_ON_FILES,
                                     .parent_fd = fd};
    if (syscall(SYS_landlock_add_rule, ruleset, RULE_PATH_BENEATH, &rule, 0) != 0)
        fail("add a rule for", path);
}

/* Every top-level entry of / but the store's mount point: all handled rights. Symlinks are
   skipped (/bin -> usr/bin: their targets are granted where they are). */
static void grant_top_level(int ruleset, uint64_t rights, const char *store_name) {
    int root = retry_openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = root < 0 ? NULL : fdopendir(root);
    if (!dir)
        fail("list", "/");
    struct dirent *e;
    while ((errno = 0, e = readdir(dir))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, store_name))
            continue;
        int fd = retry_openat(root, e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            fail("open", e->d_name);
        struct stat st;
        if (fstat(fd, &st) != 0)
            fail("stat", e->d_name);
        if (!S_ISLNK(st.st_mode))
            grant(ruleset, fd, rights, e->d_name);
        close(fd);
    }
    if (errno)
        fail("list", "/");
    closedir(dir);
}

/* Each declared entry, a name in the store: read, list, execute. One path component opened
   from the store's descriptor (never through /deps's links: fewer lookups, and a name can only
   be an entry of the store, never "..", "." or a path). */
static void grant_declared(int ruleset, const char *store, char **names, int count) {
    if (count == 0)
        return; /* no dependencies: the store need not be there */
    int top = retry_openat(AT_FDCWD, store, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (top < 0)
        fail("open the store at", store);
    for (int i = 0; i < count; i++) {
        const char *name = names[i];
        if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
            errno = EINVAL;
            fail("not the name of a store entry:", name);
        }
        int fd = retry_openat(top, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            fail("open the declared entry", name);
        struct path_beneath_attr rule = {.allowed_access = FS_READ_FILE | FS_READ_DIR | FS_EXECUTE, .parent_fd = fd};
        if (syscall(SYS_landlock_add_rule, ruleset, RULE_PATH_BENEATH, &rule, 0) != 0) {
            if (errno != EINVAL) /* EINVAL: not a directory; list is for directories only */
                fail("add a rule for", name);
            grant(ruleset, fd, FS_READ_FILE | FS_EXECUTE, name);
        }
        close(fd);
    }
    close(top);
}

/* Every descriptor but 0, 1, 2: this program's own (it ran as /proc/self/fd/N), bubblewrap's
   --args, anything else inherited. The build starts with the standard three only. */
static void close_the_rest(void) {
    if (syscall(SYS_close_range, 3U, ~0U, 0) == 0)
        return;
    for (int fd = 3; fd < 65536; fd++)
        close(fd);
}

int main(int argc, char **argv) {
    int end = 2;
    while (end < argc && strcmp(argv[end], "--") != 0)
        end++;
    if (end + 1 >= argc) {
        errno = EINVAL;
        fail("usage: landlock_exec STORE [ENTRY...] -- PROGRAM [ARG...]", NULL);
    }
    const char *store = argv[1];
    if (store[0] != '/' || !store[1] || strchr(store + 1, '/')) {
        errno = EINVAL;
        fail("the store must be mounted at a top-level directory, not", store);
    }
    uint64_t rights = handled_rights();
    struct ruleset_attr attr = {.handled_access_fs = rights};
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0)
        fail("create a ruleset", NULL);
    grant_top_level(ruleset, rights, store + 1);
    grant_declared(ruleset, store, argv + 2, end - 2);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fail("set no_new_privs", NULL);
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
        fail("restrict itself", NULL);
    close_the_rest();
    execv(argv[end + 1], argv + end + 1);
    fail("run", argv[end + 1]);
}
