"""Host tools: the declared boundary of hermeticity.

A host-tool package (`@std//host:cc`) gets its version from its `version_command`, and a
platform fingerprint from the machine architecture, the resolved binaries' content hashes,
that version, and the Debian package versions (dpkg) of the packages owning those binaries.
An upgrade of a tool a package declares changes that package's build key; an upgrade of a
tool nobody declares changes nothing.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass

from jbuild.base.hashing import key_of
from jbuild.dsl.model import HostTool

from .statcache import StatCache


class HostToolError(Exception):
    exit_code = 2


@dataclass(frozen=True)
class HostFingerprint:
    version: str
    fingerprint: str
    binaries: dict


def _dpkg_owner_version(path: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True, timeout=10)
        pkg = out.stdout.split(":", 1)[0].strip() if out.returncode == 0 else ""
        if not pkg:
            return ""
        ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True,
                             timeout=10)
        return f"{pkg}={ver.stdout.strip()}"
    except (OSError, subprocess.TimeoutExpired):
        return ""


def host_path() -> str:
    """Where host tools are looked up (`JBUILD_HOST_PATH`, default /usr/bin:/bin)."""
    return os.environ.get("JBUILD_HOST_PATH", "/usr/bin:/bin")


def resolve_binary(name: str, path_env: str) -> str | None:
    """The file a host tool name runs, through every symlink (/usr/bin/cc -> alternatives -> gcc-12)."""
    found = shutil.which(name, path=path_env)
    return os.path.realpath(found) if found else None


def detect(label: str, tool: HostTool, stats: StatCache, path_env: str | None = None) -> HostFingerprint:
    path_env = path_env or host_path()
    binaries = {}
    for name in tool.binaries:
        real = resolve_binary(name, path_env)
        if real is None:
            raise HostToolError(f"{label}: host tool '{name}' not found on {path_env}")
        digest, _ = stats.digest(real)
        binaries[name] = {"path": real, "digest": digest}
    cached = stats.entries.get(("tool", label))
    sig = key_of(binaries)
    if cached and cached[0] == sig:
        version, owners = cached[1], cached[2]
    else:
        env = {"PATH": path_env, "LC_ALL": "C"}
        try:
            out = subprocess.run(tool.version_command, shell=True, capture_output=True, text=True, env=env,
                                 timeout=30)
        except subprocess.TimeoutExpired:
            raise HostToolError(f"{label}: '{tool.version_command}' did not finish") from None
        m = re.search(tool.version_regex, out.stdout + out.stderr)
        if not m:
            raise HostToolError(f"{label}: no version in the output of '{tool.version_command}'")
        version = m.group(1)
        owners = sorted({_dpkg_owner_version(b["path"]) for b in binaries.values()} - {""})
        stats.entries[("tool", label)] = (sig, version, owners)
        stats.dirty = True
    fingerprint = key_of({"arch": platform.machine(), "binaries": binaries, "version": version,
                          "dpkg": owners})
    return HostFingerprint(version, fingerprint, binaries)
