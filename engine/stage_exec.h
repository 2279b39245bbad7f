/* What the two halves of jbuild's sandbox stager share: stage_exec.c (staging a sandbox's root
   and exec'ing bubblewrap: the forked child's work, and `--wait`) and stage_exec_serve.c (the fork
   server, `--serve`). jbuild compiles both into one program (sandbox_landlock.build_helper: the files
   sandbox_landlock.PARTS names are part of it and of its cache key); libc only. */

#ifndef STAGE_EXEC_H
#define STAGE_EXEC_H

#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#define FAILED 126 /* staging failed (said on stderr); 127: the exec of bubblewrap failed */
#define NO_GO 125  /* the Python stager's child's exit when its stager died before its go-ahead */
#define NO_GO_SIGNAL SIGUSR2 /* the C server's child's death when its server died before answering its
                                pid: it ran nothing (sandbox_zygote.NO_GO_SIGNAL) */
#define SOCK 4     /* the child's socket to the server; not 3: the Landlock helper is kept open there
                      (sandbox_landlock.HELPER_FD) */

/* A line "jbuild: cannot stage the sandbox's root: WHAT PATH: errno" on stderr, then exit FAILED. */
void fail(const char *what, const char *path) __attribute__((noreturn));
void write_file(const char *path, const char *text);
/* One byte on `sock`, with the descriptor `fd` beside it (SCM_RIGHTS) unless it is -1. */
ssize_t send_byte_and_fd(int sock, char byte, int fd, int flags);
/* One byte from `sock`: the descriptor that came with it, -1 without one, -2 when no byte came. */
int receive_byte_and_fd(int sock);
/* Stage the root the request in `buf` describes, hand its namespace over on SOCK, exec bubblewrap. */
void stage_and_exec(char *buf, size_t size) __attribute__((noreturn));
/* `--serve TMPDIR`; `args`, `args_size`: main's argument strings, renamed in each child. */
int serve(const char *tmpdir, char *args, size_t args_size);

#endif
