"""Apply a package's `patches` to its staged $SRC, in order, with GNU patch.

Run as dpkg-source runs it: `-u` (a unified diff only, so no ed script is ever executed),
`-F 0` (no fuzz: a hunk applies where its context matches exactly, else it fails), `-N`
(a patch already applied is an error, not a reversal), no backups, no reject files. The result
then depends only on the tree and the patch, not on patch's version, which is why patch is
not a declared host tool. GNU patch refuses file names that leave the directory; the staged
tree holds no link that leaves it (unpack.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from . import FetchError

_FAILED = re.compile(r"Hunk #(\d+) FAILED at (\d+)")
_FILE = re.compile(r"^(?:patching|checking) file '?(.+?)'?$")


def apply_all(src: Path, base: Path, patches: tuple[str, ...], strip: int = 1) -> None:
    """Apply `patches` (paths relative to `base`, the BUILD file's directory) to `src`."""
    patch = shutil.which("patch")
    if patches and patch is None:
        raise FetchError("this package has patches, but GNU patch is not installed (apt-get install patch)")
    for rel in patches:
        argv = [patch, "--batch", "-u", "-F", "0", "-N", "-p", str(strip), "--no-backup-if-mismatch",
                "-r", "-", "-d", str(src), "-i", str(base / rel)]
        r = subprocess.run(argv, capture_output=True, text=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
        if r.returncode != 0:
            raise FetchError(_explain(rel, base / rel, r.stdout + r.stderr, strip))


def _explain(rel: str, path: Path, output: str, strip: int) -> str:
    """`patch patches/fix.patch does not apply: inflate.c: hunk #2 (@@ -120,7 +120,7 @@) FAILED at 120`."""
    problems, current = [], None
    for line in output.splitlines():
        if m := _FILE.match(line.strip()):
            current = m[1]
        elif m := _FAILED.search(line):
            header = _hunk_header(path, current, int(m[1]), strip)
            problems.append(f"{current}: hunk #{m[1]}{f' ({header})' if header else ''} FAILED at line {m[2]}")
        elif "can't find file to patch" in line or "No file to patch" in line:
            problems.append(f"a file it patches is not in $SRC (patch_strip = {strip}: is -p{strip} right?)")
        elif "Reversed (or previously applied) patch detected" in line:
            problems.append(f"{current}: already applied (or reversed)")
        elif "Only garbage was found" in line or "malformed patch" in line:
            problems.append(line.strip())
    if not problems:
        tail = [t for t in output.strip().splitlines() if t.strip()][-3:]
        problems = tail or ["patch failed"]
    return f"patch {rel} does not apply: " + "; ".join(dict.fromkeys(problems))


def _hunk_header(path: Path, target: str | None, number: int, strip: int) -> str | None:
    """The `@@ ... @@` line of hunk `number` of the file section for `target` in the patch."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    in_target, count = False, 0
    for line in lines:
        if line.startswith("+++ "):
            name = line[4:].split("\t")[0].strip()
            in_target = target is not None and "/".join(name.split("/")[strip:]) == target
            count = 0
        elif in_target and line.startswith("@@"):
            count += 1
            if count == number:
                return line.split("@@")[1].strip() and "@@" + line.split("@@")[1] + "@@"
    return None
