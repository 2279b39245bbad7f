"""`jbuild gc` of the host trees (`<store>/.host/<key>/`, hostroot.py): a tree is kept while a
GC root names it (`.host/<key>` among the root's entries) or it was used within --unused-for
days (its directory's mtime); otherwise it is deleted. A tree is a cache of the host's
packages, not of any entry: the next build that needs a deleted one assembles it again.

Runs under the store's exclusive lock, so no build of this store is using or assembling a tree
meanwhile (builds hold the lock shared). A tree is first renamed to `.trash-<key>-<random>` —
one atomic step — then deleted: a kill halfway leaves a trash directory no build looks at (the
next gc deletes it), never a half tree under its key's name. `<key>.lock` files stay (deleting
a lock someone may hold would let two assemblers in; they are empty).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import stat
from pathlib import Path

PREFIX = ".host/"  # how a GC root names a tree among its entries


def rooted(names) -> set[str]:
    """The tree keys among a GC root's kept names (store/gc.py `kept`)."""
    return {n[len(PREFIX):] for n in names if n.startswith(PREFIX)}


def sweep(store_root: Path, keep: set[str], cutoff: float, dry_run: bool) -> list[tuple[str, int]]:
    """Delete (dry run: list) the trees not in `keep` and unused since `cutoff`; with what
    deleting each frees. The caller holds the store's exclusive lock."""
    base = Path(store_root) / ".host"
    if not base.is_dir():
        return []
    out = []
    for path in sorted(base.iterdir()):
        name = path.name
        if name.startswith(".trash-") or (name.startswith(".tmp-") and not _assembling(base, name)):
            out.append((f"{PREFIX}{name}", _freed(path)))  # a killed gc's or a crashed assembler's
            if not dry_run:
                shutil.rmtree(path, ignore_errors=True)
            continue
        if name.startswith(".") or name.endswith(".lock") or name in keep or not path.is_dir():
            continue
        try:
            if path.stat().st_mtime >= cutoff:
                continue
        except OSError:
            continue
        size = _freed(path)
        if not dry_run and not _discard(path):
            continue  # another user's tree in a shared store: theirs to delete
        out.append((f"{PREFIX}{name}", size))
    return out


def _discard(tree: Path) -> bool:
    trash = tree.with_name(f".trash-{tree.name}-{secrets.token_hex(4)}")
    try:
        os.rename(tree, trash)
    except OSError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def _assembling(base: Path, tmp_name: str) -> bool:
    """Whether an assembler still holds the lock of this `.tmp-<key>-<random>` directory's key."""
    key = tmp_name[len(".tmp-"):].rpartition("-")[0]
    try:
        fd = os.open(base / f"{key}.lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _freed(tree: Path) -> int:
    """Bytes deleting the tree gives back: its files' sizes, but not of hard links to the host's
    own files (those stay on disk), which is most of a tree on the host's filesystem."""
    total = 0
    for top, _dirs, files in os.walk(tree):
        for f in files:
            try:
                st = os.lstat(os.path.join(top, f))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                total += st.st_size
    return total
