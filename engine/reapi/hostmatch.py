"""The declared host's /usr across the wire: the client keys an action with the Debian package
versions of its host root (engine/hostroot.py); the worker must run it over the same files.

The client sends the root's identity and inputs as platform properties, which are part of the
Action (so its digest, and the server's action cache, tell two hosts apart):

  jbuild-host-root          the tree's key (hostroot.tree_key: machine, closure, alternatives)
  jbuild-host-packages      `name=version ...`: the package closure it was assembled from
  jbuild-host-alternatives  `name=target ...`: the chosen /etc/alternatives

The worker assembles the same tree from its own dpkg database when every version matches, and
otherwise refuses the action (FAILED_PRECONDITION, naming the package and both versions): a
worker with other versions must never fill the action cache under the client's keys. The
server lists these keys as wildcard properties (any worker may take the action; the worker
checks): dev/bgd_server.py, docs/remote.md.
"""

from __future__ import annotations

from pathlib import Path

from .. import dpkg, hostroot
from .cas import RemoteError

ROOT, PACKAGES, ALTERNATIVES = "jbuild-host-root", "jbuild-host-packages", "jbuild-host-alternatives"
PROPERTY_KEYS = (ROOT, PACKAGES, ALTERNATIVES)


class HostMismatch(RemoteError):
    """This worker cannot give the action the /usr it was keyed with (FAILED_PRECONDITION)."""


def host_properties(host: hostroot.HostRoot | None) -> dict[str, str]:
    """The properties naming this host root; none for the host's whole /usr (no dpkg here)."""
    if host is None:
        return {}
    return {ROOT: host.key, PACKAGES: _join(host.closure), ALTERNATIVES: _join(host.alternatives)}


def matching_root(properties: dict[str, str], trees: Path, worker: str) -> hostroot.HostRoot | None:
    """The host root these properties name, assembled under `trees` from this worker's own dpkg
    database; None when the action names none (its client had no dpkg: the whole /usr)."""
    if ROOT not in properties:
        return None
    if not dpkg.available():
        raise HostMismatch(f"worker {worker} has no dpkg database to assemble the declared host's /usr from")
    wanted = _split(properties.get(PACKAGES, ""))
    installed = dpkg.database()
    for name, version in sorted(wanted.items()):
        have = installed[name].version if name in installed else None
        if have != version:
            raise HostMismatch(f"worker {worker}: Debian package '{name}': the action was keyed with version "
                               f"{version}, this worker has {have or 'none installed'}")
    mine = dict(dpkg.package_closure(sorted(wanted)))
    extra = sorted(set(mine) - set(wanted))
    if extra:
        raise HostMismatch(f"worker {worker}: Debian package '{extra[0]}' {mine[extra[0]]} is in this worker's "
                           "closure of the declared host packages but not in the action's (their Depends differ)")
    theirs, chosen = _split(properties.get(ALTERNATIVES, "")), dict(hostroot.chosen_alternatives())
    for name in sorted(set(theirs) | set(chosen)):
        if theirs.get(name) != chosen.get(name):
            raise HostMismatch(f"worker {worker}: alternative '{name}': the action was keyed with "
                               f"{theirs.get(name) or 'none'}, this worker has {chosen.get(name) or 'none'}")
    root = hostroot.host_root(trees, sorted(wanted))
    if root.key != properties[ROOT]:  # another machine type or tree format
        raise HostMismatch(f"worker {worker}: its host root {root.key[:16]} is not the action's "
                           f"{properties[ROOT][:16]} (same packages: another ISA or jbuild version?)")
    return root


def _join(pairs) -> str:
    return " ".join(f"{a}={b}" for a, b in pairs)


def _split(value: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in value.split() if "=" in item)
