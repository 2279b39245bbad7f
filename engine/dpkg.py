"""What Debian says is installed: packages, their dependency closure, their files.

The host tools' boundary (DESIGN §9) is drawn in Debian packages: a tool stands for some
packages, and the sandbox sees the files of those and of everything they Depend or Pre-Depend
on. This module reads dpkg's database (one `dpkg-query -W` per change of dpkg's status file,
the `info/*.list` files, diversions and alternatives; the query's answer is kept on disk until
the status file changes: dpkg_cache.py); hostroot.py assembles the tree.

Merged /usr (Debian 12): /bin, /lib, /lib64, /sbin are symlinks into /usr, but dpkg's lists
still name many files under /bin or /lib; `usr_path` maps them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, fields
from functools import lru_cache

from jbuild.base.errors import BadInput

DPKG_DIR = "/var/lib/dpkg"  # dpkg's admin directory; `use_admin_dir` changes it
STATUS = f"{DPKG_DIR}/status"  # rewritten by every install, upgrade or removal
MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
FIELDS = "${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\t${Provides}\t${Depends}\t${Pre-Depends}\n"


class DpkgError(BadInput):
    pass


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    arch: str
    provides: tuple[str, ...]
    depends: tuple[tuple[str, ...], ...]  # each a list of alternatives `a | b`


def use_admin_dir(path: str) -> None:
    """Read another dpkg database (dpkg's `--admindir`, e.g. a test's edited copy; the files
    are still the host's). For a process of its own, such as `jbuild worker --dpkg-admindir`:
    later reads see only it."""
    global DPKG_DIR, STATUS
    DPKG_DIR, STATUS = str(path), f"{path}/status"
    _database.cache_clear()


def available() -> bool:
    return shutil.which("dpkg-query") is not None and os.path.exists(STATUS)


def status_signature() -> tuple[int, int]:
    """Changes whenever dpkg installs, upgrades or removes anything (one stat)."""
    st = os.stat(STATUS)
    return st.st_mtime_ns, st.st_size


def database() -> dict[str, Installed]:
    """Installed packages by name (the native architecture wins over others)."""
    if not available():
        raise DpkgError("dpkg-query is not available: the host tools' Debian packages cannot be read")
    return _database(STATUS, status_signature())


@lru_cache(maxsize=2)
def _database(_status, _sig) -> dict[str, Installed]:
    from . import dpkg_cache  # (not imported by a no-op, which stats dpkg's status file only)

    # The answer's shape is part of what it is kept by: a jbuild that asks other fields, or keeps
    # them in another class, never reads an older one's.
    shape = (FIELDS, tuple(f.name for f in fields(Installed)))
    return dpkg_cache.answer(DPKG_DIR, _query, shape)


def _query() -> dict[str, Installed]:
    """dpkg's own answer: one `dpkg-query -W` (10-15 ms, on every run that assembles a sandbox's
    /usr until dpkg_cache.py kept it)."""
    import subprocess

    out = subprocess.run(["dpkg-query", f"--admindir={DPKG_DIR}", "-W", f"-f={FIELDS}"], capture_output=True,
                         text=True, check=True)
    native = _native_arch()
    db: dict[str, Installed] = {}
    for line in out.stdout.splitlines():
        name, version, arch, status, provides, depends, pre = (line.split("\t") + [""] * 7)[:7]
        if not status.startswith("ii"):
            continue
        if name in db and db[name].arch in (native, "all"):
            continue
        deps = tuple(_alternatives(d) for d in _split(pre) + _split(depends))
        db[name] = Installed(name, version, arch, tuple(_bare(p) for p in _split(provides)), deps)
    return db


def package_closure(packages) -> list[tuple[str, str]]:
    """(package, version) of the packages and of what they Depend / Pre-Depend on, recursively;
    sorted. `a | b` takes the first installed; a virtual package resolves through Provides."""
    db = database()
    providers: dict[str, list[str]] = {}
    for p in sorted(db):
        for v in db[p].provides:
            providers.setdefault(v, []).append(p)
    seen: set[str] = set()
    todo = []
    for name in packages:
        real = _pick((name,), db, providers)
        if real is None:
            raise DpkgError(f"Debian package '{name}' is not installed on this host")
        todo.append(real)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for alts in db[name].depends:
            real = _pick(alts, db, providers)
            if real is not None and real not in seen:
                todo.append(real)
    return sorted((n, db[n].version) for n in seen)


def package_files(name: str, arch: str) -> list[str]:
    """The paths a package installed, as dpkg lists them (directories included)."""
    for fname in (f"{name}:{arch}.list", f"{name}.list"):
        try:
            with open(f"{DPKG_DIR}/info/{fname}", encoding="utf-8", errors="surrogateescape") as f:
                return [line.rstrip("\n") for line in f if line.strip() and line.strip() != "/."]
        except FileNotFoundError:
            continue
    return []


def diversions() -> list[tuple[str, str, str]]:
    """(from, to, package) of every dpkg diversion (`/bin/sh` -> `/bin/sh.distrib` by dash)."""
    try:
        with open(f"{DPKG_DIR}/diversions", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    return [(lines[i], lines[i + 1], lines[i + 2]) for i in range(0, len(lines) - 2, 3)]


def alternatives() -> list[tuple[str, str]]:
    """(name, link) of every alternative, master and slaves: `/usr/bin/cc` is a symlink to
    `/etc/alternatives/cc`, which points at the chosen program."""
    out = []
    root = f"{DPKG_DIR}/alternatives"
    for master in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        with open(os.path.join(root, master), encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().split("\n")
        if len(lines) < 2:
            continue
        out.append((master, lines[1]))
        i = 2
        while i + 1 < len(lines) and lines[i]:
            out.append((lines[i], lines[i + 1]))
            i += 2
    return out


def owners(paths) -> list[str]:
    """The installed packages that own these files (merged-/usr aware: dpkg may know
    /usr/bin/dash as /bin/dash); a path no package owns is left out."""
    import subprocess

    found = set()
    for path in paths:
        for alias in _aliases(path):
            out = subprocess.run(["dpkg-query", f"--admindir={DPKG_DIR}", "-S", alias], capture_output=True, text=True)
            hits = [line.split(": ", 1)[0] for line in out.stdout.splitlines()
                    if line.endswith(f": {alias}") and not line.startswith("diversion ")]
            if hits:
                found.update(p.strip().split(":")[0] for h in hits for p in h.split(","))
                break
    return sorted(found)


def usr_path(path: str) -> str:
    """Where a dpkg path lives under merged /usr: /bin/dash -> /usr/bin/dash."""
    top = path.split("/", 2)[1] if path.startswith("/") else ""
    if top in MERGED and _merged(top):
        return "/usr" + path
    return path


def _aliases(path: str) -> list[str]:
    out = [path]
    parts = path.split("/", 3)
    if path.startswith("/usr/") and len(parts) > 2 and parts[2] in MERGED and _merged(parts[2]):
        out.append(path[len("/usr"):])
    return out


@lru_cache(maxsize=None)
def _merged(top: str) -> bool:
    return os.path.islink(f"/{top}") and os.readlink(f"/{top}").lstrip("/") == f"usr/{top}"


@lru_cache(maxsize=1)
def _native_arch() -> str:
    import subprocess

    out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    return out.stdout.strip()


def _pick(alts, db, providers) -> str | None:
    for a in alts:
        if a in db:
            return a
        if providers.get(a):
            return providers[a][0]
    return None


def _split(field: str) -> list[str]:
    return [p.strip() for p in field.split(",") if p.strip()]


def _alternatives(dep: str) -> tuple[str, ...]:
    return tuple(_bare(a) for a in dep.split("|"))


def _bare(dep: str) -> str:
    """`libc6 (>= 2.36)` -> libc6; `python3:any` -> python3."""
    return dep.split("(")[0].strip().split(":")[0]
