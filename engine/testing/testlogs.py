"""`jbuild-testlogs/<package path>/<name>/` in the workspace: each test's `test.log` (what it
printed, last attempt), `test.xml` (JUnit) and, when an attempt failed, `test_attempts/
attempt_<N>.log`. Files are replaced whole (written aside, renamed), so a reader never sees half
of one, and a run's files never mix with an older run's; one already holding the same text (a
cached pass restored again) is left as it is."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DIR = "jbuild-testlogs"


def directory(ws_root: Path, package: str, name: str) -> Path:
    return Path(ws_root) / DIR / package / name


def write(dest: Path, log: str, xml: str, failed_attempts: list[str]) -> tuple[Path, Path]:
    """Replace the test's logs; returns (test.log, test.xml)."""
    dest.mkdir(parents=True, exist_ok=True)
    attempts = dest / "test_attempts"
    if attempts.exists():
        shutil.rmtree(attempts)
    for i, text in enumerate(failed_attempts, 1):
        attempts.mkdir(exist_ok=True)
        _replace(attempts / f"attempt_{i}.log", text)
    _replace(dest / "test.log", log)
    _replace(dest / "test.xml", xml)
    return dest / "test.log", dest / "test.xml"


def _replace(path: Path, text: str) -> None:
    try:
        if path.read_text(errors="replace") == text:
            return  # a cached pass restoring what is there already: a read is cheaper than a rename
    except (OSError, UnicodeError):
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, errors="replace")
    os.replace(tmp, path)
