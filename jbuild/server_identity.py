"""Which build server serves a client (server_client.py, server.py): the workspace it is in,
the directory of its sockets, and the identity that names a socket: what a build's answers
depend on besides its command line (the user, the namespaces, the interpreter and jbuild, the
umask, resource limits, niceness and CPU affinity, the environment variables a build reads).
Imported by the thin client before anything else: builtin modules only."""

from __future__ import annotations

import os
import sys

# Seconds without a request before a server exits, unless JBUILD_SERVER_IDLE says: an edit-build
# loop's pauses, not a day's (Bazel keeps its server 3 h; a 10,000-package session holds ~0.2-0.5 GB).
IDLE = 15 * 60

# What the environment may change in a build, beyond the command line: the server that serves a
# request was started with these exactly (each request also brings its whole environment).
# (Of GITHUB_*, only what jbuild reads, engine/ci.py: GitHub sets others per step — GITHUB_ACTION,
# GITHUB_OUTPUT, ... — which would start a new server for each step of a job.)
KEYED_PREFIXES = ("JBUILD_", "PYTHON")
KEYED = ("PATH", "HOME", "XDG_CACHE_HOME", "NETRC", "CI", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SOURCE_DATE_EPOCH",
         "GITHUB_ACTIONS", "GITHUB_WORKSPACE")
# (and every *_proxy, either case, as urllib reads them: a fetch's opener is built once per process)


# The namespaces a build's actions inherit from the process that runs them (all but `time`): a
# client in another one gets a server of its own. (Not the cgroup itself: a desktop terminal's
# tabs are each a scope of their own, which would start a server per tab.)
NAMESPACES = ("mnt", "net", "pid", "uts", "ipc", "user", "cgroup")


def idle_seconds(environ) -> tuple[float, str | None]:
    """A new server's idle time (JBUILD_SERVER_IDLE), and what is wrong with the variable if it
    is not a number of seconds (the default is used then)."""
    text = environ.get("JBUILD_SERVER_IDLE", "")
    if not text.strip():
        return IDLE, None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        return IDLE, (f"JBUILD_SERVER_IDLE={text!r} is not a number of seconds: ignored "
                      f"(a new server exits after the default, {IDLE} s, without a build)")
    return seconds, None


def workspace_root(cwd: str) -> str | None:
    here = os.path.realpath(cwd)
    while True:
        if os.path.exists(os.path.join(here, "jbuild.toml")):
            return here
        up = os.path.dirname(here)
        if up == here:
            return None
        here = up


def server_dir(root: str) -> str:
    """This user's servers of the workspace at `root` (mode 0700: its sockets are this user's),
    in the workspace's cache directory (the user's own for a read-only workspace:
    base/workspace_cache.py). An OSError where no cache directory can be written."""
    from jbuild.base.workspace_cache import cache_dir

    found = cache_dir(root)
    if found is None:
        raise PermissionError(13, "the workspace's cache directory cannot be written")
    return os.path.join(found, f"server-{os.getuid()}")


def server_dirs(root: str) -> list[str]:
    """Every directory that may hold this user's servers of the workspace at `root`: its
    `.jbuild/cache`'s and the user's own (a workspace that was read-only when one started)."""
    from jbuild.base.workspace_cache import elsewhere, inside

    return [os.path.join(d, f"server-{os.getuid()}") for d in (inside(root), elsewhere(root))]


def identity(root: str, environ=os.environ) -> tuple:
    """What a server's answers depend on besides each request's command line: the workspace,
    the user, the interpreter and the jbuild it runs (server.py also re-checks its own modules'
    files before each request), the namespaces, the umask, the resource limits, niceness and CPU
    affinity, and the environment variables the build reads."""
    import jbuild

    mask = os.umask(0o22)
    os.umask(mask)
    env = sorted((k, v) for k, v in environ.items()
                 if k.startswith(KEYED_PREFIXES) or k in KEYED or k[-6:].lower() == "_proxy")
    env = [(k, v) for k, v in env if k not in ("JBUILD_SERVER", "JBUILD_SERVER_IDLE")]
    namespaces = []  # (another mount namespace, a container's or `unshare --mount`'s, sees other
    for ns in NAMESPACES:  # files under the same paths; another network one, `unshare --net`, other hosts)
        try:
            namespaces.append(os.readlink(f"/proc/self/ns/{ns}"))
        except OSError:
            namespaces.append("")
    try:  # (the resource limits, `ulimit`: ~7 us, where importing `resource` costs ~0.2 ms)
        with open("/proc/self/limits", "rb") as f:
            limits = f.read()
    except OSError:
        limits = b""
    # (the niceness and CPU affinity too: `nice -n 19 jbuild build`, `taskset`; the actions inherit
    # the limits, the niceness and the affinity of the process that runs them, as in-process)
    runs_with = (limits, os.getpriority(os.PRIO_PROCESS, 0), sorted(os.sched_getaffinity(0)))
    # (the interpreter resolved, `.venv/bin/python` and `.venv/bin/python3` one server, with the
    # environment it runs in, sys.prefix: a venv's symlink resolves to the same file as its base's)
    return (4, root, os.getuid(), os.getgid(), os.getgroups(), namespaces, os.path.realpath(sys.executable),
            sys.prefix, sys.version, os.path.dirname(jbuild.__file__), mask, runs_with, env)


def socket_path(root: str, ident: tuple) -> str:
    from _blake2 import blake2b

    return os.path.join(server_dir(root), blake2b(repr(ident).encode(), digest_size=10).hexdigest() + ".sock")
