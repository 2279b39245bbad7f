"""`jbuild test`: build what the matched targets need and run their `test` targets.

    run = jbuild.engine.testing.test(["//..."], Options(...), TestOptions(...))
    print("\\n".join(run.summary)); sys.exit(run.code)

`code` is 0 (every test passed or was flaky), 1 (a build failed), 3 (a test failed or timed
out), 4 (no test target matched) — the CLI's exit codes (jbuild/exitcodes.py; the kinds are
base/errors.py's). Bad patterns or recipes raise (RecipeError, BadInput: exit 2), as build()
does; an interrupt raises Interrupted (exit 8).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .result import TestResult
from .summary import summary_lines

__all__ = ["TestOptions", "TestResult", "TestRun", "test", "CODES"]

# Outcome kind -> exit code: the numbers of jbuild/exitcodes.py (the engine may not import the
# CLI; tests/engine/test_testing.py checks the two agree).
CODES = {"passed": 0, "build_failed": 1, "tests_failed": 3, "no_tests": 4}
OUTPUTS = ("errors", "all", "summary")


@dataclass(frozen=True)
class TestOptions:
    cache_results: bool = True  # --cache-test-results
    output: str = "errors"  # --test-output: errors | all | summary
    timeout: float = 300.0  # --test-timeout, seconds per attempt
    flaky_attempts: int = 1  # --flaky-attempts: runs of a failing test before it is called failed
    junit_xml: str | None = None  # --junit-xml FILE: one combined report


@dataclass
class TestRun:
    code: int
    kind: str  # passed | build_failed | tests_failed | no_tests
    results: list[TestResult] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)  # the lines to print at the end
    junit_xml: Path | None = None


def test(patterns: list[str], opts, topts: TestOptions, cwd: str | None = None) -> TestRun:
    """Build what PATTERNS need (results are not linked) and run every test target they match."""
    from jbuild.base.errors import BadInput, Interrupted

    from . import unchanged

    if topts.output not in OUTPUTS:
        raise BadInput(f"--test-output must be one of {', '.join(OUTPUTS)}, not {topts.output!r}")
    if topts.flaky_attempts < 1 or topts.timeout <= 0:
        raise BadInput("--flaky-attempts must be at least 1 and --test-timeout more than 0")
    if topts.junit_xml:
        _check_writable(Path(topts.junit_xml))
    opts = dataclasses.replace(opts, out_link=None)
    unchanged_run = unchanged.answer(patterns, opts, topts, cwd)  # nothing changed since every test passed
    if unchanged_run is not None:
        return unchanged_run
    from ..build import plan, run
    from .schedule import TestSchedule

    p = plan(patterns, opts, cwd)
    if not p.tests:
        return TestRun(CODES["no_tests"], "no_tests",
                       summary=[f"no test targets matched {' '.join(patterns)} (test targets tagged manual are "
                                "run only when named)"])
    tests = TestSchedule(p, topts)
    try:
        build_code, rb = run(p, tests)
    except Interrupted:
        if tests.reporter is not None:
            tests.reporter.finish(8)
        raise
    results = [tests.results[t] for t in p.tests if t in tests.results]
    kind = "build_failed" if build_code != 0 else (
        "tests_failed" if any(not r.ok for r in results) else "passed")
    out = TestRun(CODES[kind], kind, results, summary_lines(results, len(p.tests)))
    if topts.junit_xml:
        out.junit_xml = _write_junit(Path(topts.junit_xml), results)
        out.summary.append(f"JUnit report: {out.junit_xml}")
    if kind == "passed" and tests.cache is not None and len(results) == len(p.tests) and \
            all(r.status == "passed" for r in results):
        unchanged.record(p, rb, tests.results, patterns, cwd)
    tests.reporter.finish(out.code)
    if tests.cache is not None:
        tests.cache.close()
    return out


def _write_junit(path: Path, results: list[TestResult]) -> Path:
    import os

    from jbuild.base.errors import BadInput

    from .junit import combined

    text = combined([r.xml.read_text() for r in results if r.xml and r.xml.is_file()])
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:  # checked up front, but the directory may go or fill up meanwhile
        raise BadInput(f"--junit-xml {path}: cannot write the report: {exc.strerror}") from None
    return path


def _check_writable(path: Path) -> None:
    """Fail before anything runs, not after the tests: try to create the report's temporary
    (os.access says yes for root on /proc, a full disk or a read-only bind mount)."""
    from jbuild.base.errors import BadInput

    parent = path.absolute().parent
    if path.is_dir() or not parent.is_dir():
        raise BadInput(f"--junit-xml {path}: cannot write a file there")
    probe = path.with_name(f".{path.name}.tmp")
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise BadInput(f"--junit-xml {path}: cannot write a file there ({exc.strerror})") from None
