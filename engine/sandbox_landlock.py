"""Landlock: a sandbox sees only its declared store entries through one bind of the whole store.

Mounting each declared entry at /deps/<name> costs two mount(2) calls per entry and as much
again when the namespace is torn down: ~40 µs each, ~45 ms for 1,000 dependencies. Instead the
staged root (sandbox_root.py) binds the whole store read-only once, at STORE_POINT (/.store),
/deps/<name> is a symlink to /.store/<entry> in /deps's read-only tmpfs, and a small C program
(landlock_exec.c) that bubblewrap runs first, after its mounts (Landlock forbids mounting once
applied), grants read/list/execute on each declared entry only, then execs the build's shell:
~7 µs per entry (a symlink, a rule). An undeclared entry is at its path but cannot be opened,
listed or run; neither can /.store or / itself be listed (a right granted on / would reach every
entry below it), nor / written. Left visible: stat(2) of a path one already knows (Landlock does
not govern it; entries' names are hashes). It is a sandbox kind of its own (`--sandbox landlock`,
sandbox.LandlockExecutor), which keys carry: a build can tell a link from a mount.

Symlinks rather than per-entry mounts mean that a tool resolving a path (realpath, `pwd -P`)
sees /.store/<hash>-<name>-<version> where a mount showed /deps/<name>. An output must not keep
such a path: it would name the dependency's store entry, which the consumer's key does not cover
(only its exported digest). So the rebuilder checks
outputs for SANDBOX_PATHS as for host paths (outputs.py): such an output is refused, with the
path in the message. (Binds of the entries themselves would avoid this, and are what costs.)

Why in the staged root and not on bubblewrap's command line (`--symlink` per entry): bubblewrap
takes at most 9,000 arguments, and /env's links alone exceed that at a few hundred dependencies.
The program reaches the sandbox as a descriptor the stager's child opens (HELPER_FD, run as
/proc/self/fd/3): no path of its own inside; it closes every descriptor but 0-2 before the exec.
The entries' names are its arguments, so more than MAX_ENTRIES of them are mounted instead.

It is compiled on first use with the host's `cc` (statically where it can be, so it needs
nothing of the sandbox's declared /usr), cached under the user's cache directory by the hash of
its source and flags (built to a temporary name, fsync'd, renamed: a crash never leaves a
half-written program under the final name). A cached program another user may change is never
run (it confines every build); a damaged one is built again. No Landlock ABI >= 2, no `cc` (or
`JBUILD_CC` naming none), a failed compile or an untrusted program: Landlock is unavailable.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import xxhash

SOURCE = Path(__file__).with_name("landlock_exec.c")
STORE_POINT = "/.store"  # the whole store, read-only, inside the sandbox
# What an output must not name: a resolved /deps/<name>, /.store/<entry>, an entry's name starting
# with its 32-digit key. Not "/.store" alone: npm's linked installs have their node_modules/.store.
SANDBOX_PATHS = (re.compile(re.escape(STORE_POINT.encode()) + rb"/[0-9a-f]{32}-"),)
# The C programs jbuild compiles into the user's tool cache, each named <stem>-<digest of source and
# flags>: the Landlock helper and the stager's child (sandbox_zygote.py). `jbuild gc` keeps the current ones.
HELPERS = (SOURCE, SOURCE.with_name("stage_exec.c"))
HELPER_FD = 3  # the program reaches the sandbox as this descriptor, run as /proc/self/fd/3
# The entries' names are arguments of bubblewrap, which refuses more than 9,000 in all; beyond
# this many the executor mounts each entry instead.
MAX_ENTRIES = 8000
MIN_ABI = 2  # ABI 1 denies every rename across directories (refer is unhandled there)
_SYS_LANDLOCK_CREATE_RULESET = 444  # the same on every architecture (a new-style syscall)
# Static first: it then needs nothing of the sandbox's declared /usr; else against the C library
# that the declared /usr holds (dash's closure brings it).
_CFLAGS = (("-O2", "-static"), ("-O2",))

_HELPER: list = []  # [Path | None, why]: once per process


def abi() -> int:
    """The kernel's Landlock ABI version, 0 if it has none (or it is disabled)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


def helper() -> Path | None:
    """The compiled program, or None (why: `why_not()`)."""
    if not _HELPER:
        _HELPER[:] = _find_or_build()
    return _HELPER[0]


def why_not() -> str:
    helper()
    return _HELPER[1]


def reset() -> None:
    """Forget what was found (tests change `JBUILD_CC` or the cache directory)."""
    _HELPER.clear()


def cache_dir() -> Path:
    from .store_location import user_cache_dir

    return user_cache_dir() / "tools"


def compiler() -> str | None:
    """`cc` on PATH, or `JBUILD_CC` (a path; a missing one means "none", as JBUILD_BWRAP)."""
    forced = os.environ.get("JBUILD_CC")
    if forced is not None:
        return forced if os.access(forced, os.X_OK) else None
    return shutil.which("cc")


# The files beside a helper's main source that are part of it (a fixed list, not a glob: a stray
# copy beside them, `stage_exec_serve.orig.c`, would be compiled in, its symbols twice).
PARTS = {"stage_exec.c": ("stage_exec_serve.c", "stage_exec.h")}


def sources(source_file: Path) -> list[Path]:
    """The files a helper is built from: `source_file` (stage_exec.c) and its PARTS (the fork
    server stage_exec_serve.c, the header stage_exec.h), in a fixed order."""
    return [source_file, *(source_file.with_name(name) for name in PARTS.get(source_file.name, ()))]


def candidates(source_file: Path = SOURCE) -> list[tuple[tuple, Path]]:
    """(flags, path) of the program built from `source_file` (and the files beside it that are
    part of it: `sources`), static first: where it is looked for and built. `jbuild gc` deletes
    the others (tools_gc.py)."""
    source = b"".join(f"{p.name}\0{p.stat().st_size}\0".encode() + p.read_bytes() for p in sources(source_file))
    return [(flags, cache_dir() / f"{source_file.stem}-{xxhash.xxh3_128_hexdigest(source + repr(flags).encode())[:20]}")
            for flags in _CFLAGS]


def _find_or_build() -> tuple[Path | None, str]:
    version = abi()
    if version < MIN_ABI:
        return None, f"the kernel's Landlock ABI is {version}; {MIN_ABI} is needed"
    return build_helper(SOURCE, "Landlock helper")


def build_helper(source_file: Path, what: str) -> tuple[Path | None, str]:
    """(the program compiled from `source_file`, cached; or None and why not). Also the stager's
    child (stage_exec.c, sandbox_zygote.py)."""
    targets = candidates(source_file)
    for _, target in targets:
        if target.exists():
            why = _untrusted(target, what)
            if not why:
                return target, ""
            if why != "not an ELF program":
                return None, why
    cc = compiler()
    if cc is None:
        return None, f"no C compiler (cc) to build the {what}"
    why = ""
    for flags, target in targets:
        why = _compile(cc, flags, source_file, target, what)
        if not why:
            return target, ""
    return None, why


def _untrusted(target: Path, what: str) -> str:
    """'' if the cached program may be run; else why not. It confines every build: one that
    another user could have written (their cache directory, a HOME kept by sudo) is never run;
    one that is no ELF program (damaged) is built again."""
    me = os.geteuid()
    for path in (target.parent, target):
        st = os.lstat(path)
        if path == target.parent and st.st_uid == me and st.st_mode & 0o022:  # one's own, made under umask 002
            os.chmod(path, st.st_mode & ~0o022)
            st = os.lstat(path)
        if st.st_uid not in (me, 0) or st.st_mode & 0o022:
            return (f"the cached {what} {path} may be changed by another user "
                    f"(owner uid {st.st_uid}, mode {st.st_mode & 0o7777:o})")
    with open(target, "rb") as f:
        return "" if f.read(4) == b"\x7fELF" else "not an ELF program"


def _compile(cc: str, flags: tuple, source: Path, target: Path, what: str) -> str:
    """Build to a temporary name beside `target`, then rename; '' or why it failed."""
    try:
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)  # only its user may change it (_untrusted)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        return f"cannot write the {what} under {target.parent}: {exc.strerror}"
    try:
        compiled = [str(p) for p in sources(source) if p.suffix == ".c"]
        r = subprocess.run([cc, *flags, "-o", tmp, *compiled], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            return f"cc could not build the {what}: {r.stderr.strip()[-300:]}"
        os.chmod(tmp, 0o755)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        return ""
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def argv(entries) -> list[str]:
    """The start of the sandbox's command: the program (as the descriptor the stager's child
    opens it at), the store's point, the declared entries' names in it, then `--` and the
    build's own command."""
    return [f"/proc/self/fd/{HELPER_FD}", STORE_POINT, *entries, "--"]


def entry_names(deps: dict) -> tuple[str, dict[str, str]] | None:
    """(the one directory holding every declared entry, {name at /deps: entry's name in it}),
    or None when they are not side by side (the executor then mounts each). One pass, no
    pathlib: an action declares up to a thousand."""
    parent, names = None, {}
    for name, entry in deps.items():
        where, _, base = os.fspath(entry).rpartition("/")
        if parent is None:
            parent = where
        elif where != parent or len(names) >= MAX_ENTRIES:
            return None
        names[name] = base
    return (parent, names) if parent else None
