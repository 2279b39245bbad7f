"""Host tools: the declared boundary of hermeticity.

A host-tool package (`@std//host:cc`) gets its version from its `version_command`, and a
platform fingerprint from the machine architecture, the resolved binaries' content hashes,
that version, and the (package, version) pairs of the Debian packages it stands for and their
dependency closure (dpkg.py) — the same closure whose files make the sandbox's /usr
(hostroot.py). An upgrade of a tool a package declares, or of anything its packages depend on,
changes that package's build key; an upgrade of a tool nobody declares changes nothing.

The detected version and closure are cached in the stat cache, keyed by the binaries' hashes
and dpkg's status file: a no-op build runs neither the version command nor dpkg.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from jbuild.base.errors import BadInput

TYPE_CHECKING = False  # (typing itself is ~3 ms of a no-op's start)
if TYPE_CHECKING:  # (the no-op imports this module for resolve_binary only: dpkg and the rest wait for detect)
    from jbuild.dsl.model import HostTool

    from .statcache import StatCache


class HostToolError(BadInput):
    pass


@dataclass(frozen=True)
class HostFingerprint:
    version: str
    fingerprint: str
    binaries: dict
    debian_packages: tuple[str, ...] = ()  # what the tool stands for (declared, or the owners)
    packages: tuple[tuple[str, str], ...] = ()  # their closure: (package, version), sorted


def host_path() -> str:
    """Where host tools are looked up (`JBUILD_HOST_PATH`, default /usr/bin:/bin)."""
    return os.environ.get("JBUILD_HOST_PATH", "/usr/bin:/bin")


def resolve_binary(name: str, path_env: str) -> str | None:
    """The file a host tool name runs, through every symlink (/usr/bin/cc -> alternatives -> gcc-12)."""
    found = _which(name, path_env)
    return os.path.realpath(found) if found else None


def _which(name: str, path_env: str) -> str | None:
    """shutil.which on POSIX, written out: the no-op asks it for every host tool, and importing
    shutil (with its compression modules) was ~3 ms of the no-op's start."""
    if os.path.dirname(name):
        return name if _runnable(name) else None
    seen = set()
    for d in path_env.split(os.pathsep) if path_env else ():
        if d not in seen:
            seen.add(d)
            path = os.path.join(d, name)
            if _runnable(path):
                return path
    return None


def _runnable(path: str) -> bool:
    return os.path.exists(path) and os.access(path, os.X_OK) and not os.path.isdir(path)


def detect(label: str, tool: HostTool, stats: StatCache, path_env: str | None = None) -> HostFingerprint:
    import platform

    from jbuild.base.hashing import key_of

    from . import dpkg

    path_env = path_env or host_path()
    binaries = {}
    for name in tool.binaries:
        real = resolve_binary(name, path_env)
        if real is None:
            raise HostToolError(f"{label}: host tool '{name}' not found on {path_env}")
        digest, _ = stats.digest(real)
        binaries[name] = {"path": real, "digest": digest}
    has_dpkg = dpkg.available()
    sig = key_of([binaries, list(tool.debian_packages), list(dpkg.status_signature()) if has_dpkg else None])
    cached = stats.entries.get(("tool", label))
    if cached and cached[0] == sig:
        version, roots, closure = cached[1], cached[2], cached[3]
    else:
        version = _version(label, tool, path_env)
        roots, closure = _packages(label, tool, binaries) if has_dpkg else ((), ())
        stats.entries[("tool", label)] = (sig, version, roots, closure)
        stats.dirty = True
    fingerprint = key_of({"arch": platform.machine(), "binaries": binaries, "version": version,
                          "dpkg": [list(p) for p in closure]})
    return HostFingerprint(version, fingerprint, binaries, roots, closure)


def _version(label: str, tool: HostTool, path_env: str) -> str:
    import subprocess  # not at import: the no-op path imports this module for resolve_binary

    env = {"PATH": path_env, "LC_ALL": "C"}
    try:
        out = subprocess.run(tool.version_command, shell=True, capture_output=True, text=True, env=env,
                             timeout=30)
    except subprocess.TimeoutExpired:
        raise HostToolError(f"{label}: '{tool.version_command}' did not finish") from None
    m = re.search(tool.version_regex, out.stdout + out.stderr)
    if not m:
        raise HostToolError(f"{label}: no version in the output of '{tool.version_command}'")
    return m.group(1)


def _packages(label: str, tool: HostTool, binaries: dict) -> tuple[tuple[str, ...], tuple]:
    """The Debian packages the tool stands for (declared, else its binaries' owners), and
    their closure."""
    from . import dpkg

    roots = tuple(tool.debian_packages) or tuple(dpkg.owners(b["path"] for b in binaries.values()))
    try:
        return roots, tuple(dpkg.package_closure(roots))
    except dpkg.DpkgError as e:
        raise HostToolError(f"{label}: {e}") from None
