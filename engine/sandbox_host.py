"""What of the host a sandbox sees: /usr (the host's own or an assembled tree, hostroot.py),
the loader's configuration, and Debian's merged-/usr links. Both ways of starting bubblewrap
(its own binds, or the staged root: sandbox.py) take them from here."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hostroot import HostRoot


def usr_mounts(host: HostRoot | None) -> list[tuple[str, str]]:
    """(source, where) read-only: /usr and /etc/alternatives, the assembled tree when given, else
    the host's own (with the loader's cache, which the assembled tree does without: ld.so
    searches its default paths)."""
    if host is not None:
        out = [(str(host.usr), "/usr")]
        if host.etc_alternatives is not None:
            out.append((str(host.etc_alternatives), "/etc/alternatives"))
        return out
    return [("/usr", "/usr")] + [(ro, ro) for ro in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf",
                                                       "/etc/ld.so.conf.d") if os.path.exists(ro)]


def usr_binds(host: HostRoot | None) -> list[str]:
    return [x for source, dest in usr_mounts(host) for x in ("--ro-bind", source, dest)]


def host_links() -> list[str]:
    """Debian's merged /usr: /bin, /lib, /lib64 are symlinks into /usr."""
    out = []
    for link in ("bin", "lib", "lib64", "sbin", "lib32"):
        if os.path.islink(f"/{link}"):
            out += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
    return out
