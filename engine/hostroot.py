"""The sandbox's /usr: only the declared host tools' Debian packages and their closure.

A build sees the host's files only through its declared host tools (DESIGN §9): binding the
whole host /usr let configure scripts find libraries nobody declared. So the sandbox's /usr is
a tree assembled from the files of a package closure (dpkg.py), once per set of (package,
version) pairs, cached in the store:

  <store>/.host/<key>/usr                 bound read-only at /usr
  <store>/.host/<key>/etc/alternatives    bound at /etc/alternatives (/usr/bin/cc -> ... -> gcc)
  <store>/.host/<key>.lock                held while assembling (deleted by gc with the tree)
  <store>/.host/.tmp-<key>-<random>/      an assembly in progress
  <store>/.host/.trash-<key>-<random>/    a tree `jbuild gc` is deleting (hostroot_gc.py)

The tree's directory mtime is its last use (refreshed by host_root, at most hourly per process):
gc keeps a tree a GC root names (`.host/<key>` among its entries, see `tree_names`) or one used
within --unused-for days. A tree gc removed is assembled again by the next build that needs it,
also in a long-running process (a watch) whose memo still names it.

The tree is built in a temporary and renamed into place, so a crash leaves nothing partial; a
second builder takes the lock and looks again. Files are hard links to the host's where the
filesystem allows (same filesystem, and the kernel's protected_hardlinks lets this user link
them), else copies; symlinks stay symlinks. Documentation is left out. Programs on PATH
(/usr/bin, /usr/sbin) are always copied: linking changes a file's ctime, and the stat cache
and the cached analysis trust (mtime, size, inode, ctime) of the declared tools' binaries —
linking them would cost every workspace on the machine its next no-op.

Nothing of the host's /etc beyond the alternatives: the dynamic loader finds libraries in its
built-in default directories (/lib/<triplet>, /usr/lib/<triplet>) without /etc/ld.so.cache.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from jbuild.base.hashing import key_of
from jbuild.base.locks import flock

from . import dpkg

FORMAT = 1  # bump when the assembly changes what a tree holds
# Every script runs with /bin/sh and the basic file utilities: the executor's own base, in
# every sandbox and (through `base_fingerprint`) in every build key, declared or not.
SANDBOX_PACKAGES = ("dash", "coreutils", "grep", "sed")
SKIPPED = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/share/lintian/")
COPIED = ("/usr/bin/", "/usr/sbin/")  # what host tools' binaries resolve to: never linked


@dataclass(frozen=True)
class HostRoot:
    usr: Path
    etc_alternatives: Path | None
    key: str
    # What the tree was assembled from (the key's inputs): a remote executor sends them so a
    # worker can assemble the same tree or say which package differs (engine/reapi/hostmatch.py).
    closure: tuple[tuple[str, str], ...] = ()
    alternatives: tuple[tuple[str, str], ...] = ()


_MEMO: dict = {}


def host_root(store_root: Path, packages) -> HostRoot:
    """The assembled tree for these Debian packages (plus the sandbox's own shell), built on
    first use and reused after; a changed version anywhere in the closure gives a new tree."""
    wanted = tuple(sorted(set(packages) | set(SANDBOX_PACKAGES)))
    chosen = chosen_alternatives()
    memo = (str(store_root), wanted, dpkg.STATUS, dpkg.status_signature(), chosen)
    if memo in _MEMO and _MEMO[memo].usr.is_dir():  # gone: a gc removed it since (a watch's next round)
        _touch(_MEMO[memo].usr.parent)
        return _MEMO[memo]
    closure = dpkg.package_closure(wanted)
    key = tree_key(closure, chosen)
    base = Path(store_root) / ".host"
    final = base / key
    if not (final / "usr").is_dir():
        base.mkdir(parents=True, exist_ok=True)
        with flock(base / f"{key}.lock"):
            if not (final / "usr").is_dir():  # another process may have built it meanwhile
                _assemble(closure, base, key)
    alts = final / "etc" / "alternatives"
    root = HostRoot(final / "usr", alts if alts.is_dir() else None, key, tuple(closure), chosen)
    _MEMO[memo] = root
    _touch(final)
    return root


def tree_names(store_root: Path, package_sets) -> list[str]:
    """`.host/<key>` of the tree each set of packages would get, without assembling any: what a
    GC root lists among its entries so gc keeps the trees that rebuild its closure."""
    chosen = chosen_alternatives()
    sig = dpkg.status_signature()
    names = set()
    for packages in package_sets:
        wanted = tuple(sorted(set(packages) | set(SANDBOX_PACKAGES)))
        memo = (str(store_root), wanted, dpkg.STATUS, sig, chosen)
        if memo in _MEMO:
            names.add(_MEMO[memo].key)
            continue
        k = (wanted, sig, chosen)
        if k not in _KEYS:
            _KEYS[k] = tree_key(dpkg.package_closure(wanted), chosen)
        names.add(_KEYS[k])
    return [f".host/{key}" for key in sorted(names)]


_KEYS: dict = {}  # (wanted, dpkg status signature, alternatives) -> tree key
_TOUCHED: dict = {}  # tree directory -> when this process last refreshed its mtime
TOUCH_EVERY = 3600.0


def _touch(tree: Path) -> None:
    """Mark the tree used now (its directory's mtime), at most once an hour per process; best
    effort: another user's tree keeps its time."""
    now = time.time()
    if now - _TOUCHED.get(tree, 0.0) < TOUCH_EVERY:
        return
    _TOUCHED[tree] = now
    try:
        os.utime(tree)
    except OSError:
        pass


def base_fingerprint() -> str:
    """The (package, version) closure of the sandbox's base, as a short key ('' without dpkg)."""
    return tree_key(dpkg.package_closure(SANDBOX_PACKAGES))[:16] if dpkg.available() else ""


def package_closure(packages) -> list[tuple[str, str]]:
    return dpkg.package_closure(packages)


def tree_key(closure, alternatives: tuple = ()) -> str:
    data = ["host-root", FORMAT, os.uname().machine, [list(p) for p in closure]]
    return key_of(data + [list(alternatives)] if alternatives else data)


def chosen_alternatives() -> tuple[tuple[str, str], ...]:
    """What each /etc/alternatives link points at. `update-alternatives` changes no package but
    changes the program /usr/bin/cc runs: a tree assembled under the old choice must not serve.

    Asked once per action, so remembered while neither directory changes: update-alternatives
    replaces a link by renaming a new one over it, which changes /etc/alternatives' mtime."""
    stamp = tuple(_mtime(d) for d in ("/etc/alternatives", f"{dpkg.DPKG_DIR}/alternatives"))
    if _CHOSEN and _CHOSEN[0] == stamp:
        return _CHOSEN[1]
    chosen = _read_alternatives()
    _CHOSEN[:] = [stamp, chosen]
    return chosen


_CHOSEN: list = []  # [stamp, chosen]


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def _read_alternatives() -> tuple[tuple[str, str], ...]:
    out = []
    for name, _ in dpkg.alternatives():
        try:
            out.append((name, os.readlink(f"/etc/alternatives/{name}")))
        except OSError:
            continue
    return tuple(sorted(out))


def _assemble(closure, base: Path, key: str) -> None:
    import secrets  # (hashlib's OpenSSL: ~3 ms of every start-up, for a tree assembled once per store)

    for stale in base.glob(f".tmp-{key}-*"):  # left by a crashed builder (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = base / f".tmp-{key}-{secrets.token_hex(4)}"
    try:
        tmp.mkdir()
        copier = _Copier()
        for path in host_files([name for name, _ in closure]):
            copier.place(path, tmp)
        _link_alternatives(tmp)
        _syncfs(tmp)
        os.rename(tmp, base / key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def host_files(names) -> list[str]:
    """The host paths (under /usr) of these packages' files, diversions applied, sorted."""
    names = set(names)
    db = dpkg.database()
    divs = dpkg.diversions()
    diverted = {src: (dst, by) for src, dst, by in divs}
    paths = set()
    for name in names:
        for p in dpkg.package_files(name, db[name].arch):
            dst, by = diverted.get(p, (None, name))
            paths.add(dpkg.usr_path(dst if by != name else p))
    for src, _, by in divs:
        if by in names and os.path.lexists(dpkg.usr_path(src)):  # /bin/sh, made by dash's scripts
            paths.add(dpkg.usr_path(src))
    return sorted(p for p in paths if p.startswith("/usr/") and not p.startswith(SKIPPED))


class _Copier:
    """Places host files into the tree: hard links while the filesystem allows, then copies."""

    def __init__(self):
        self.link = True
        self.linked = self.copied = 0

    def place(self, path: str, root: Path) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return  # listed but gone (a removed conffile, a diverted name)
        dest = str(root) + path
        parent = os.path.dirname(dest)
        if not _inside(parent, root):
            return  # under a directory symlink: its target's package places the file
        if stat.S_ISDIR(st.st_mode):
            os.makedirs(dest, exist_ok=True)
            return
        os.makedirs(parent, exist_ok=True)
        if os.path.lexists(dest):
            return
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(path), dest)
        elif stat.S_ISREG(st.st_mode):
            self._file(path, dest)

    def _file(self, path: str, dest: str) -> None:
        if self.link and not path.startswith(COPIED):
            try:
                os.link(path, dest)
                self.linked += 1
                return
            except OSError:
                self.link = False  # another filesystem, or protected_hardlinks: copy from now on
        shutil.copy2(path, dest)
        self.copied += 1


def _link_alternatives(root: Path) -> None:
    """/usr/bin/cc -> /etc/alternatives/cc -> /usr/bin/gcc, for each alternative whose chosen
    program is in the tree."""
    etc = root / "etc" / "alternatives"
    for name, link in dpkg.alternatives():
        try:
            target = os.readlink(f"/etc/alternatives/{name}")
        except OSError:
            continue
        link = dpkg.usr_path(link)
        chosen = dpkg.usr_path(target)
        if not link.startswith("/usr/") or not chosen.startswith("/usr/"):
            continue
        if not os.path.lexists(str(root) + chosen) or not _inside(os.path.dirname(str(root) + link), root):
            continue
        etc.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(etc / name):
            os.symlink(target, etc / name)
        if not os.path.lexists(str(root) + link):
            os.makedirs(os.path.dirname(str(root) + link), exist_ok=True)
            os.symlink(f"/etc/alternatives/{name}", str(root) + link)


def _inside(path: str, root: Path) -> bool:
    real = os.path.realpath(path)
    top = os.path.realpath(root)
    return real == top or real.startswith(top + os.sep)


def _syncfs(path: Path) -> None:
    """One syncfs for the whole tree, so a power loss after the rename finds it complete."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
