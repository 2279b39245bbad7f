"""The sandbox probes' yes, kept for the machine's boot, so that a build does not start bubblewrap
and a second stager only to ask again what this host can do: 45-60 ms of every build that runs an
action (a leaf edit at 1,000 packages 0.32 -> 0.26 s wall, at 10,000 0.63 -> 0.59 s, load 3-4).

A kept answer is one empty file in the user's cache directory (`probes/<boot>-<digest>-<name>`);
finding it is one stat. Its name holds everything a probe's answer depends on: the kernel's boot, the user,
the container (the user and mount namespaces this process is in), the sysctls that allow
unprivileged user namespaces, the bubblewrap binary (path and stat), the sandbox's own code (stat
of the files that stage a root) and `JBUILD_STAGE_EXEC`. Any change asks again.

Only a yes is kept: a no may be a passing failure (a full disk, a killed child), and a host without
namespaces falls back to an unsandboxed build whose cost is not a probe's.
"""

from __future__ import annotations

import os
from pathlib import Path

import xxhash

_SYSCTLS = ("/proc/sys/kernel/unprivileged_userns_clone", "/proc/sys/user/max_user_namespaces",
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
_CODE = ("sandbox.py", "sandbox_host.py", "sandbox_root.py", "stage_request.py", "sandbox_zygote.py", "sandbox_pystager.py",
         "stage_exec.c", "stage_exec_serve.c", "stage_exec.h", "sandbox_landlock.py", "landlock_exec.c", "sandbox_probes.py")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "-"


def _stat(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _namespace(kind: str) -> str:
    """Which namespace this process is in: its inode (nsfs gives an inode a new time each time
    it is looked up afresh, so only the number says which)."""
    try:
        return str(os.stat(f"/proc/self/ns/{kind}").st_ino)
    except OSError:
        return "-"


def _boot() -> str:
    return _read("/proc/sys/kernel/random/boot_id").replace("-", "")[:16]


def _key(bwrap: str) -> str:
    here = os.path.dirname(__file__)
    parts = [str(os.getuid()),
             _namespace("user"), _namespace("mnt"),
             *(_read(s) for s in _SYSCTLS), bwrap, _stat(bwrap),
             *(_stat(os.path.join(here, f)) for f in _CODE), os.environ.get("JBUILD_STAGE_EXEC", "")]
    return xxhash.xxh3_128_hexdigest("\0".join(parts).encode())


def _marker(name: str, bwrap: str) -> Path:
    from .store_location import user_cache_dir

    return user_cache_dir() / "probes" / f"{_boot()}-{_key(bwrap)}-{name}"


def known_yes(name: str, bwrap: str) -> bool:
    """Did the probe `name` say yes on this boot, to this user, with this bubblewrap?"""
    return os.path.exists(_marker(name, bwrap))


def remember_yes(name: str, bwrap: str) -> None:
    """Keep a probe's yes; a cache directory that cannot be written only costs the next probe."""
    marker = _marker(name, bwrap)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass


def sweep(dry_run: bool) -> list[tuple[str, int]]:
    """`jbuild gc`: delete (dry run: list) the answers kept on other boots; (path, bytes)."""
    from .store_location import user_cache_dir

    probes, boot = user_cache_dir() / "probes", _boot()
    try:
        names = sorted(os.listdir(probes))
    except OSError:
        return []
    out = []
    for name in names:
        if name.startswith(f"{boot}-"):
            continue
        if not dry_run:
            try:
                os.unlink(probes / name)
            except OSError:
                continue
        out.append((str(probes / name), 0))
    return out
