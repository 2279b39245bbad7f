"""The sandbox's root, staged with plain mount(2) calls before bubblewrap starts.

bubblewrap re-reads the whole mount table after each bind it makes (to carry read-only and
nodev down to what lies below it): ten binds before any dependency, and K dependencies bound
one by one cost O(K²) (0.6 s for 300, 5.6 s for 1,000). Instead the child about to exec
bubblewrap enters a user and mount namespace of its own (the host sees none of it), mounts a
tmpfs on an empty directory and builds the whole root there — /usr, /src, /out, /tmp, /env,
/dev's few devices, each declared store entry at /deps/<name>, each made read-only where it
must be — with one or two O(1) system calls per mount. bubblewrap then binds that root at /
(one pass over the table), adds /proc and its namespaces, and runs the script.

Where the host has Landlock and a `cc`, the dependencies are not mounted one by one: the whole
store is bound once and /deps holds symlinks into it, a Landlock ruleset applied inside the
sandbox keeping the undeclared entries unreadable (sandbox_landlock.py: a mount costs ~40 µs
and its teardown as much again, a symlink and a Landlock rule ~10 µs; bench/sandbox_bench.py at
load 2.7: 300 dependencies 17.0 -> 10.9 ms, 1,000 48 -> 19 ms, bare bubblewrap 6.4 ms).
Elsewhere only the declared entries are mounted, so an undeclared one has no path in the
sandbox.

With the C child (stage_exec.c), /deps is made here with its mount points but the entries are
bound on them only once bubblewrap has made the sandbox (`read_only_tree(..., later=True)`, op
'W'): each is cloned while bubblewrap starts and attached in the sandbox's own mount namespace
(or, where it cannot be, bound on the stage and propagated), and bubblewrap, whose own parse of
the mount table compares each mount with each of its siblings, never sees them (bench/sandbox_bench.py at load
~6: 1,000 dependencies 43 -> 21 ms at best, 450 22 -> 12 ms).

(Also tried, and why not: hard-linked views of the entries cost a mkdir per directory on the
store's disk, 0.2-0.7 ms each on a busy ext4 — 1,000 dependencies took ~0.5 s to stage and as
long to delete.)

The mounting runs between fork and exec, in a child of the small stager process
(sandbox_zygote.py), never of jbuild itself; every path, flag and byte string is computed by
jbuild beforehand. On failure it writes why to the build's log (its stderr) and exits 126.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 0x20, 0x1000, 0x4000
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (a new-style syscall)
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 0x1, 0x2
FAILED = 126  # the exit code of a child that could not stage its root
# Deferred dependencies (stage_exec.c): the C child at WAIT_PROGRAM_FD in the sandbox, run first
# (`wait_argv`), and its end of the socket to the child that mounts them at WAIT_SOCKET_FD.
WAIT_PROGRAM_FD, WAIT_SOCKET_FD = 8, 9
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
             ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx"))

_libc = ctypes.CDLL(None, use_errno=True)


class StagedRoot:
    """`preexec_fn` for bubblewrap: own namespaces, a tmpfs on the stage, the root built in it.

    Build it with `dir`, `link`, `bind` in the parent (every path, flag and byte string is
    computed there, paths inside the root as they are seen from it: b"/deps/x"); the child only
    replays the operations on the directory it stages in. That directory is the stager's own,
    made once (sandbox_zygote.py): it stays empty on the host, each child mounting its tmpfs
    there in a mount namespace of its own, so no directory is made or removed per action."""

    def __init__(self):
        self.stage = b""  # set in the child (`from_state`)
        self.in_user_ns = False
        self.ops: list[tuple] = []
        self.uid_map = f"0 {os.getuid()} 1".encode()
        self.gid_map = f"0 {os.getgid()} 1".encode()
        self._locked: dict[bytes, int] = {}
        self._dirs: set[bytes] = set()

    def state(self) -> tuple:
        """What the child needs, as plain values (marshal'd to the stager, sandbox_zygote.py)."""
        return self.ops, self.uid_map, self.gid_map

    @classmethod
    def from_state(cls, state: tuple, stage: bytes, in_user_ns: bool = False) -> StagedRoot:
        """`in_user_ns`: the stager entered a user namespace of its own (`enter_worker_namespaces`),
        so the child needs only a mount namespace."""
        root = cls.__new__(cls)
        root.ops, root.uid_map, root.gid_map = state
        root.stage = stage
        root.in_user_ns = in_user_ns
        return root

    # ------------------------------------------------------------ in the parent

    def dir(self, path: str) -> None:
        """A directory (and its parents) in the root's tmpfs."""
        at = os.fsencode(path)
        if at not in self._dirs:
            if os.path.dirname(path) not in ("/", ""):
                self.dir(os.path.dirname(path))
            self._dirs.add(at)
            self.ops.append(("dir", at))

    def link(self, target: str, path: str) -> None:
        self.ops.append(("link", os.fsencode(target), os.fsencode(path)))

    def bind(self, source: str | Path, path: str, writable: bool = False) -> None:
        """`source` at `path` in the root (a file or a directory, as the source is)."""
        source = os.fsencode(source)
        if os.path.isdir(source):
            self.dir(path)
        else:
            self.dir(os.path.dirname(path))
            self.ops.append(("file", os.fsencode(path)))
        self.ops.append(("bind", source, os.fsencode(path), 0 if writable else self._read_only(source)))

    def read_only_tree(self, path: str, sources: dict[str, str | Path], later: bool = False) -> bool:
        """Each source at `path/<name>`, in a tmpfs of its own made read-only as a whole, with
        its mounts, by one mount_setattr(2): two system calls per source, not three. One
        operation for them all, the sources' common directory said once: a thousand
        dependencies are a small message to the stager. Each (name, source) is encoded once per
        process (stage_request.dep_items): an action has hundreds of dependencies, most shared with others.
        `later`: the C child mounts them once bubblewrap has made the sandbox (stage_exec.c's op
        'W'; the sandbox's command must then start with `wait_argv()`), where the sources share a
        directory: returns whether it will."""
        from .stage_request import ENCODED, PAIR, PARENT, dep_items, u32  # (jbuild's side only)

        self.dir(path)
        items = dep_items(sources)
        parents = set(map(PARENT, items))
        common = next(iter(parents)) if len(parents) == 1 else b""
        if common:  # the usual case: entries side by side in the store, one remount's flags for all
            remounts = [self._read_only(common + items[0][1][1])]
            after = u32(remounts[0])  # each item: its name, its base name, the remount's flags
            pairs, blob = list(map(PAIR, items)), after.join(map(ENCODED, items)) + after
        else:
            pairs = [(n, parent + base) for parent, (n, base), _ in items]
            remounts = [self._read_only(s) for _, s in pairs]
            blob = None
        one = remounts[0] if len(set(remounts)) == 1 else None  # (none: no dependency)
        later = bool(later and common and one is not None)
        self.ops.append(("deps_later" if later else "deps", os.fsencode(path), common, pairs, one,
                         None if one is not None else remounts, blob))
        return later

    def links(self, path: str, prefix: str, targets: dict[str, str]) -> None:
        """A symlink `path/<name>` -> `prefix + target` for each item, as one operation (a
        thousand dependencies are a small message to the stager)."""
        self.dir(path)
        self.ops.append(("links", os.fsencode(path), prefix, list(targets.items())))

    def keep_open(self, source: str | Path, fd: int) -> None:
        """`source` open for reading at descriptor `fd` across the exec, so that the sandbox can
        run it as /proc/self/fd/<fd> without a path of its own inside (sandbox_landlock.py)."""
        self.ops.insert(0, ("fd", os.fsencode(source), fd))

    def read_only_dir(self, path: str) -> None:
        """A tmpfs of its own at `path`, to fill with `dir`, `link` and read-only `bind`s, then
        `seal`: the build may not write there (the root's tmpfs is the sandbox user's)."""
        self.dir(path)
        self.ops.append(("tmpfs", os.fsencode(path)))

    def seal(self, path: str) -> None:
        self.ops.append(("seal", os.fsencode(path)))

    def devpts(self, path: str) -> None:
        self.ops.append(("dir", os.fsencode(path)))
        self.ops.append(("devpts", os.fsencode(path)))

    def _read_only(self, source: bytes) -> int:
        """The remount's flags: read-only, nosuid, and the flags a user namespace may not drop."""
        parent = os.path.dirname(source)  # entries side by side share one filesystem and its flags
        if parent not in self._locked:
            f = os.statvfs(source).f_flag
            self._locked[parent] = (f & os.ST_NODEV and MS_NODEV) | (f & os.ST_NOEXEC and MS_NOEXEC)
        return MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | self._locked[parent]

    # ------------------------------------------------------------ in the child

    def __call__(self) -> None:
        try:
            self._enter()
            _check(_libc.mount(b"tmpfs", self.stage, b"tmpfs", 0, b"mode=0755"), "mount a tmpfs")
            for op in self.ops:
                self._replay(op)
        except OSError as exc:
            os.write(2, f"jbuild: cannot stage the sandbox's root: {exc}\n".encode())
            os._exit(FAILED)

    def _replay(self, op: tuple) -> None:
        kind = op[0]
        at = self.stage + op[-1] if kind in ("dir", "file", "devpts", "tmpfs", "seal") else b""
        if kind == "tmpfs":
            _check(_libc.mount(b"tmpfs", at, b"tmpfs", 0, b"mode=0755"), "mount a tmpfs")
        elif kind == "seal":
            self._seal(at, [], [])  # its binds were made read-only as they were made
        elif kind == "dir":
            os.mkdir(at)
        elif kind == "file":
            os.close(os.open(at, os.O_CREAT | os.O_WRONLY, 0o644))
        elif kind == "deps":
            self._deps(*op[1:6])
        elif kind == "deps_later":  # mounted now: no child waits to, so the go-ahead is given at once
            self._deps(*op[1:6])
            _go_ahead_at(WAIT_SOCKET_FD)
        elif kind == "links":
            where, prefix = os.fsdecode(self.stage + op[1]) + "/", op[2]
            for name, target in op[3]:
                os.symlink(prefix + target, where + name)
        elif kind == "fd":
            _keep_open(op[1], op[2])
        elif kind == "link":
            os.symlink(op[1], self.stage + op[2])
        elif kind == "bind":
            _, source, point, remount = op
            _bind(source, self.stage + point, remount)
        elif kind == "devpts":
            _check(_libc.mount(b"devpts", at, b"devpts", MS_NOSUID | MS_NOEXEC,
                               b"newinstance,ptmxmode=0666,mode=620"), "mount devpts")

    def _deps(self, path: bytes, common: bytes, items: list, remount: int | None, remounts: list | None) -> None:
        """A tmpfs at `path`, each source bound at `path/<name>`, all sealed read-only."""
        top = self.stage + path
        _check(_libc.mount(b"tmpfs", top, b"tmpfs", 0, b"mode=0755"), "mount a tmpfs")
        points = []
        for name, rest in items:
            point = top + b"/" + name
            os.mkdir(point)
            _bind(common + rest, point, 0)
            points.append(point)
        self._seal(top, points, [remount] * len(points) if remounts is None else remounts)

    @staticmethod
    def _seal(top: bytes, points: list, remounts: list) -> None:
        """Read-only and nosuid, `top` and every mount below it: one call where the kernel has
        mount_setattr (5.12), else a remount each."""
        attr = (ctypes.c_uint64 * 4)(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
        if _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, top, AT_RECURSIVE, attr, ctypes.sizeof(attr)) == 0:
            return
        if ctypes.get_errno() != errno.ENOSYS:
            _check(-1, f"make {os.fsdecode(top)} read-only")
        for point, remount in zip(points, remounts, strict=True):
            _check(_libc.mount(None, point, None, remount, None), f"make {os.fsdecode(point)} read-only")
        _check(_libc.mount(None, top, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, None),
               f"make {os.fsdecode(top)} read-only")

    def _enter(self) -> None:
        if self.in_user_ns:
            _check(_libc.unshare(CLONE_NEWNS), "enter a mount namespace")
            return
        _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "enter a user and mount namespace")
        _map_ids(self.uid_map, self.gid_map)


def enter_worker_namespaces() -> tuple[bool, bool]:
    """For the stager itself, once: a user namespace (its children need no other to mount) and
    a network namespace with only loopback, up, which every sandbox of this worker then shares
    (one at a time) instead of bubblewrap making and tearing down one per action — a few
    milliseconds each. Returns (in a user namespace, sandboxes share the network namespace):
    (False, False) if the kernel refuses, and each child enters its own."""
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return False, False
    _map_ids(f"0 {uid} 1".encode(), f"0 {gid} 1".encode())
    import fcntl
    import socket
    import struct

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            request = struct.pack("16sh22x", b"lo", 0)
            flags = struct.unpack_from("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))
    except OSError:
        return True, False  # no loopback here: bubblewrap gives each sandbox its own network
    return True, True


def _map_ids(uid_map: bytes, gid_map: bytes) -> None:
    for name, data in (("setgroups", b"deny"), ("uid_map", uid_map), ("gid_map", gid_map)):
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def add_dev(root: StagedRoot) -> None:
    """/dev: the harmless devices, the usual links, a private devpts and a writable /dev/shm
    (bubblewrap's `--dev`, without a bind and a table re-read per device). Which devices the
    host has is looked up once per process, not twice per device per action."""
    global _DEV_OPS
    if _DEV_OPS is None:
        probe = StagedRoot()
        for name in DEVICES:
            if os.path.exists(f"/dev/{name}"):
                probe.bind(f"/dev/{name}", f"/dev/{name}", writable=True)
        _DEV_OPS = tuple(probe.ops)
    for op in _DEV_OPS:  # replayed as the binds made them: a directory only where `root` has none
        if op[0] == "dir":
            root.dir(os.fsdecode(op[1]))
        else:
            root.ops.append(op)
    for target, name in DEV_LINKS:
        root.link(target, f"/dev/{name}")
    root.devpts("/dev/pts")
    root.dir("/dev/shm")


_DEV_OPS: tuple | None = None  # add_dev's: the operations binding the host's devices, made once


def wait_argv() -> list[str]:
    """The start of the sandbox's command when the dependencies are mounted later: the stager's
    C child itself (kept open at WAIT_PROGRAM_FD), which waits for them, then execs the rest."""
    return [f"/proc/self/fd/{WAIT_PROGRAM_FD}", "--wait"]


def _go_ahead_at(fd: int) -> None:
    import socket

    mine, theirs = socket.socketpair()
    mine.send(b"g")
    mine.close()
    os.dup2(theirs.fileno(), fd)
    theirs.close()


def _keep_open(source: bytes, at: int) -> None:
    fd = os.open(source, os.O_RDONLY)
    if fd != at:
        os.dup2(fd, at)
        os.close(fd)
    os.set_inheritable(at, True)


def _bind(source: bytes, point: bytes, remount: int) -> None:
    _check(_libc.mount(source, point, None, MS_BIND | MS_REC, None), f"bind {os.fsdecode(source)}")
    if remount:
        _check(_libc.mount(None, point, None, remount, None), f"make {os.fsdecode(point)} read-only")


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
