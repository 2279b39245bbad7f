"""Run one test in the sandbox, attempt after attempt, and say what happened.

The sandbox is a build's (sandbox.py: bubblewrap, no network but loopback, clean environment,
the declared host tools' /usr), with the test's environment instead of build dependencies:
  /env            the environment of the test's run closure (runtime/environment.py), read-only;
                  the script starts there, so `bin/geotags` is the program under test
  <store paths>   the environment and its members at their own paths, read-only (the
                  environment's launchers name them)
  /src            the test's declared sources, read-only
  /tmp            $TEST_TMPDIR (and $TMPDIR, $HOME): empty and writable, fresh per attempt
  /out            writable; $XML_OUTPUT_FILE is /out/test.xml
plus $TEST_TARGET (the label) and $JBUILD_TEST_ATTEMPT (1, 2, …).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..sandbox import Job
from .result import TestResult  # noqa: F401 (its home before result.py)


@dataclass
class Attempt:
    code: int | None  # None: killed at the time limit
    log: str
    xml: str | None  # what the test wrote to $XML_OUTPUT_FILE
    duration: float


@dataclass
class Sandboxed:
    """What every attempt of one test gets."""

    script: str
    label: str
    sources: Path  # the package directory the declared sources are relative to
    files: tuple[str, ...]
    env_dir: Path
    binds: tuple[Path, ...]
    host: object  # hostroot.HostRoot or None
    timeout: float | None


def run_attempts(executor, store, test: Sandboxed, attempts: int) -> list[Attempt]:
    """Up to `attempts` runs, stopping at the first pass (or an interrupt)."""
    done: list[Attempt] = []
    for number in range(1, max(1, attempts) + 1):
        done.append(run_once(executor, store, test, number))
        if done[-1].code == 0 or executor.cancelled:
            break
    return done


def run_once(executor, store, test: Sandboxed, number: int) -> Attempt:
    with store.temporary() as tmp:
        src, scratch, log = tmp.work / "src", tmp.work / "tmp", tmp.work / "test.log"
        scratch.mkdir()
        _stage(test.sources, test.files, src)
        env = {"TEST_TMPDIR": "/tmp", "XML_OUTPUT_FILE": "/out/test.xml", "TEST_TARGET": test.label,
               "JBUILD_TEST_ATTEMPT": str(number)}
        job = Job(script=test.script, src=src, out=tmp.out, tmp=scratch, log=log, extra_env=env,
                  env_tree=test.env_dir, binds=test.binds, workdir="/env", timeout=test.timeout)
        job.host = test.host
        start = time.monotonic()
        try:
            code: int | None = executor.run(job)
        except subprocess.TimeoutExpired:
            code = None
        duration = time.monotonic() - start
        text = log.read_text(errors="replace") if log.exists() else ""
        if code is None:
            text += f"\njbuild: the test was killed after {test.timeout:g}s (--test-timeout)\n"
        xml_file = tmp.out / "test.xml"
        xml = xml_file.read_text(errors="replace") if xml_file.is_file() else None
    return Attempt(code, text, xml, duration)


def outcome(attempts: list[Attempt]) -> str:
    last = attempts[-1]
    if last.code == 0:
        return "flaky" if len(attempts) > 1 else "passed"
    return "timeout" if last.code is None else "failed"


def _stage(base: Path, files, dest: Path) -> None:
    """Exactly the declared sources, copied (as a build's are, rebuilder.py says why)."""
    dest.mkdir()
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(base / rel, target)
