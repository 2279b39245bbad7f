"""Make an output's pkg-config and libtool files right wherever the entry is seen.

A build installs with prefix $PREFIX = /out (the sandbox's output), so `make install` writes
`prefix=/out` into `lib/pkgconfig/z.pc` and `libdir='/out/lib'` into `lib/libz.la`. The entry
is later seen at /deps/NAME and through /env in a consumer's sandbox, and at
`<env>/lib/pkgconfig` in an environment. So, before the output is checked and published:

- in `*.pc` under `lib/pkgconfig` and `share/pkgconfig`, the prefix becomes
  `${pcfiledir}/../..` (pkg-config's own variable: the directory the .pc file was found in),
  so `pkg-config --cflags z` gives `-I<where it was found>/../../include` in every view, with
  no `--define-prefix`;
- in libtool's `*.la` (which need absolute paths), the prefix becomes `/env`, where every
  consumer's sandbox merges its build dependencies (a libtool link outside a sandbox should
  use pkg-config, or the .so itself).

In a build without bubblewrap the output's host path plays /out's part, and is rewritten too.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

PC_DIRS = ("lib/pkgconfig", "share/pkgconfig")
CONSUMER_ENV = "/env"
MAX_BYTES = 1 << 20  # a larger .pc or .la file is not one: left alone (the host-path scan still runs)


def relocate(out: Path, prefixes: list[str]) -> list[str]:
    """Rewrite the prefixes in `out`'s .pc and .la files; return a note per file rewritten."""
    candidates = _candidates(out)
    pattern = _pattern(prefixes) if candidates else None  # compiled per output: most have none
    notes = []
    for rel in candidates:
        if rel.endswith(".pc"):
            up = "/".join([".."] * rel.count("/"))
            new = "${pcfiledir}/" + up
        else:
            new = CONSUMER_ENV
        if _rewrite(out / rel, pattern, new):
            notes.append(f"{rel}: install prefix rewritten to {new}")
    return notes


def _pattern(prefixes: list[str]) -> re.Pattern[bytes]:
    """A prefix as a whole path, alone or after a flag (-L/out/lib), never inside a longer
    name (/outside, /usr/out)."""
    alts = b"|".join(re.escape(os.fsencode(p.rstrip("/"))) for p in sorted(set(prefixes), key=len, reverse=True))
    return re.compile(rb"(?:(?<=-[A-Za-z])|(?<![\w./-]))(?:" + alts + rb")(?=[/\s\"',;:)]|$)", re.MULTILINE)


def _candidates(out: Path) -> list[str]:
    found = []
    for d in PC_DIRS:
        if _is_dir(out / d):
            found += [f"{d}/{n}" for n in sorted(os.listdir(out / d)) if n.endswith(".pc")]
    if _is_dir(out / "lib"):
        found += [f"lib/{n}" for n in sorted(os.listdir(out / "lib")) if n.endswith(".la")]
    return found


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _rewrite(path: Path, pattern: re.Pattern[bytes], new: str) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES:
        return False  # a symlink is left as it is: its target, if here, is rewritten itself
    try:
        data = path.read_bytes()
    except PermissionError:
        return False  # unreadable to consumers too; the output checks still scan what they can
    changed = pattern.sub(lambda m: os.fsencode(new), data)
    if changed == data:
        return False
    parent = path.parent
    mode = stat.S_IMODE(os.lstat(parent).st_mode)
    if not mode & stat.S_IWUSR:  # `install -d -m 555`: the output is ours, open it for the rename
        os.chmod(parent, mode | stat.S_IWUSR)
    try:
        tmp = parent / (path.name + ".jbuild-relocate")
        tmp.write_bytes(changed)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.replace(tmp, path)
    finally:
        if not mode & stat.S_IWUSR:
            os.chmod(parent, mode)
    return True
