"""An environment: the union of a run closure's exported files, content-addressed in the store.

`<store>/<hash>-env-<title>/` is published through the store like an entry (appears whole by
one rename, read-only, removed only by gc), so it lives on the entries' filesystem and a second
assembly of the same closure is one stat. Its name hashes the member entries (with their
exports) and the rendered `etc/`, so a patched libc gives a new environment although geotags'
entry is reused. Layout: `bin/ lib/ include/ share/` (whatever the members export) hold hard
links to the members' files (same filesystem; see _link), directories are real, dynamic
executables in `bin/` are launchers (launchers.py); `etc/` holds the rendered config files. Two members exporting
the same path is an error naming both. A package that declares no `exports` exports nothing,
unless it is the root: then its whole entry (`result` shows what was built, as before).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jbuild.base.errors import BadInput
from jbuild.base.hashing import key_of

from ..store import META, EntryMeta, Store

if TYPE_CHECKING:
    from ..resolve import Closure, Node
from .launchers import interpreter, write_launcher

FORMAT = 1  # bump when the layout or the launcher changes: a new name for every environment
RESERVED = ("etc", "var")  # written per environment / per generation, never exported
WHOLE = (".",)  # the exports of a root that declares none: its whole entry (what you built, you see)


class ExportConflict(BadInput):
    pass


@dataclass(frozen=True)
class Member:
    """One entry of a run closure, as an environment sees it."""

    label: str  # //libs:libc
    entry: str  # its store entry's name
    exports: tuple[str, ...]  # relative paths of the entry it exports, e.g. ("lib", "include"); WHOLE
    output: str = ""  # which output of a split package the entry is ("bin", "lib"); "" if not split

    def to_json(self) -> dict:
        out = {"label": self.label, "entry": self.entry, "exports": list(self.exports)}
        return {**out, "output": self.output} if self.output else out

    @classmethod
    def from_json(cls, data: dict) -> Member:
        return cls(data["label"], data["entry"], tuple(data["exports"]), data.get("output", ""))


def run_members(closure: Closure, root: Node, entry_of: Callable[[Node], str]) -> list[Member]:
    """The members of `root`'s environment: its run closure at this resolution (the resolver's
    choice now, so a reused consumer pairs with a rebuilt library), built actions only. A split
    package takes part with its run outputs only (bin and lib: split.py), each exported whole
    (or as far as its `exports` say): an environment or image carries no headers or archives."""
    from ..graph import is_action, run_closure  # not on the no-op path, which only reads Members
    from ..split import RUN, visible

    members = []
    for n in run_closure(closure, root):
        if not is_action(n):
            continue
        exports = tuple(n.target.exports)
        if not n.target.outputs:
            members.append(Member(str(n.label), entry_of(n), exports or (WHOLE if n == root else ())))
            continue
        for output, entry in visible(n.target, entry_of(n), RUN):
            members.append(Member(str(n.label), entry, exports or WHOLE, output))
    return members


def members_of(store: Store, env: str) -> list[Member]:
    """The members an environment in the store was assembled from (recorded in its metadata)."""
    return [Member.from_json(m) for m in store.meta(env).members]


def env_name(members: Sequence[Member], rendered_etc: dict[str, str] | None, title: str) -> str:
    digest = key_of([FORMAT, title, sorted([m.label, m.entry, list(m.exports)] for m in members),
                     sorted((rendered_etc or {}).items())])
    return f"{digest}-env-{title}"


def assemble(store: Store, members: Sequence[Member], rendered_etc: dict[str, str] | None = None,
             title: str = "env") -> Path:
    """The environment of `members` with `rendered_etc` (relative path under etc/ -> text):
    found in the store, else assembled and published. Call under `store.shared()` together with
    the `add_root` that keeps it, so no gc runs in between."""
    name = env_name(members, rendered_etc, title)
    found = store.lookup(name)
    if found is not None:
        return found
    files = _layout(store, members)
    final = Path(os.path.abspath(store.root)) / name
    with store.temporary() as tmp:
        _populate(tmp.out, files, final)
        for rel, text in sorted((rendered_etc or {}).items()):
            dest = tmp.out / "etc" / _relative(rel, "a rendered etc file")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
        meta = EntryMeta(key=name.split("-", 1)[0], name=name, label=f"env:{title}", node=f"env:{title}",
                         members=[m.to_json() for m in sorted(members, key=lambda m: m.label)],
                         built_at=time.time())
        if store.syncer is not None:  # (many made at once, results._batched: one syncfs for them all,
            return store.publish(tmp.out, meta)  # its marker covering a power loss meanwhile, durability.py)
        _sync_filesystem(tmp.out)  # the launchers and etc/ we wrote; the links' data is durable already
        return store.publish(tmp.out, meta, fsync_files=False)


def _relative(rel: str, what: str) -> str:
    norm = os.path.normpath(rel)
    if os.path.isabs(rel) or norm == "." or norm.startswith(".."):
        raise BadInput(f"{what} must be a relative path inside the package, not {rel!r}")
    return norm


def _layout(store: Store, members: Iterable[Member]) -> dict[str, tuple[str, str]]:
    """Every file (or symlink) the environment holds: relative path -> (its source, the label
    that exports it); directories map to ("", label). Conflicts raise ExportConflict."""
    out: dict[str, tuple[str, str]] = {}

    def put(rel: str, src: str, label: str) -> None:
        had = out.get(rel)
        if had is None:
            out[rel] = (src, label)
        elif had[0] != src and (had[0] or src):  # two directories merge; anything else clashes
            raise ExportConflict(f"{had[1]} and {label} both export {rel}: an environment holds one file per path "
                                 "(remove one of them from the environment, or change its exports)")

    for m in members:
        entry = os.path.abspath(store.path(m.entry))
        for export in _everything(entry) if m.exports == WHOLE else m.exports:
            rel = _relative(export, f"{m.label}: an export")
            if rel.split(os.sep)[0] in RESERVED:
                raise BadInput(f"{m.label} exports {rel}: etc/ and var/ of an environment are not exported "
                               "(etc/ is rendered from config, var/ is per environment)")
            top = os.path.join(entry, rel)
            if not os.path.lexists(top):
                continue
            if os.path.isdir(top) and not os.path.islink(top):
                _walk_into(top, rel, m.label, put)
            else:
                put(rel, top, m.label)
    return out


def member_files(store: Store, member: Member) -> dict[str, str]:
    """What one member puts in an environment: relative path -> its file in the entry ("" for
    a directory). An image's layer of the entry holds exactly this (engine/image/layers.py)."""
    return {rel: src for rel, (src, _) in _layout(store, [member]).items()}


def _everything(entry: str) -> list[str]:
    """An entry's top-level names but for etc/ and var/, which an environment makes itself."""
    return sorted(n for n in os.listdir(entry) if n != META and n not in RESERVED)


def _walk_into(top: str, rel: str, label: str, put) -> None:
    for parent in _parents(rel):
        put(parent, "", label)
    for dirpath, dirnames, filenames in os.walk(top):
        base = os.path.normpath(os.path.join(rel, os.path.relpath(dirpath, top)))
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):  # a link to a directory is a file here
                filenames.append(d)
                dirnames.remove(d)
            else:
                put(os.path.join(base, d), "", label)
        for f in filenames:
            put(os.path.join(base, f), os.path.join(dirpath, f), label)


def _parents(rel: str) -> list[str]:
    parts = rel.split(os.sep)
    return [os.sep.join(parts[:i]) for i in range(1, len(parts) + 1)]


def _populate(out: Path, files: dict[str, tuple[str, str]], final: Path) -> None:
    """Create the layout under `out`, which will be renamed to `final` (launchers name it)."""
    lib_dir = str(final / "lib")
    for rel in sorted(r for r, (src, _) in files.items() if not src):
        os.mkdir(out / rel)
    for rel, (src, _) in files.items():
        if not src:
            continue
        dest = str(out / rel)
        if rel.startswith("bin" + os.sep):
            real = os.path.realpath(src)
            loader = interpreter(real) if os.path.isfile(real) else None
            if loader is not None:
                write_launcher(dest, loader, lib_dir, real)
                continue
        _link(src, dest)


def _sync_filesystem(path) -> None:
    """Make the files just written durable: one syncfs(2) of the store's filesystem costs less
    than an fsync per launcher (hundreds of them in a large closure); fsync each where syncfs
    is missing."""
    import ctypes

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0:
            return
    finally:
        os.close(fd)
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p) and os.stat(p).st_nlink == 1:
                f = os.open(p, os.O_RDONLY)
                try:
                    os.fsync(f)
                finally:
                    os.close(f)


def _link(src: str, dest: str) -> None:
    """A hard link to the member's file: no new inode, which is what costs on a journalled disk
    (~20 us against ~400 us for a symlink here, bench/env_bench.py). A member's symlink to a
    sibling (libfoo.so -> libfoo.so.1) is hard linked as it is; any other symlink becomes an
    absolute one to where it leads in the member. A symlink where a hard link cannot be made
    (another filesystem, a link-count limit)."""
    if os.path.islink(src) and "/" in os.readlink(src):
        os.symlink(os.path.realpath(src), dest)
        return
    try:
        os.link(src, dest, follow_symlinks=False)
    except OSError:
        os.symlink(src, dest)
