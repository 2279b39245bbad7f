"""The end of `jbuild test`, as Bazel words it:

    //libs:geohash_test                   (cached) PASSED in 0.4s
    //services:geotags_test                        FAILED in 2.0s
      jbuild-testlogs/services/geotags_test/test.log
    Executed 1 out of 2 tests: 1 test passes and 1 fails locally.
"""

from __future__ import annotations

from .result import TestResult

WIDTH = 48


def status_line(r: TestResult) -> str:
    if r.status == "skipped":
        word = "NO STATUS"
    elif r.status == "flaky":
        word = f"FLAKY, failed in {r.attempts - 1} out of {r.attempts} in {r.duration:.1f}s"
    else:
        word = f"{r.status.upper()} in {r.duration:.1f}s"
    cached = "(cached) " if r.cached else ""
    return f"{r.label:<{WIDTH}} {cached}{word}"


def summary_lines(results: list[TestResult], total: int) -> list[str]:
    lines = []
    for r in sorted(results, key=lambda r: r.label):
        lines.append(status_line(r))
        if r.status in ("failed", "timeout", "flaky") and r.log:
            lines.append(f"  {r.log}")
        if r.status == "skipped":
            lines.append(f"  {r.reason}")
    executed = sum(1 for r in results if not r.cached and r.status != "skipped")
    lines.append(f"Executed {executed} out of {total} {_plural(total, 'test')}: {_counts(results)}.")
    return lines


def _counts(results: list[TestResult]) -> str:
    passing = sum(1 for r in results if r.status == "passed")
    failing = sum(1 for r in results if r.status == "failed")
    timeouts = sum(1 for r in results if r.status == "timeout")
    flaky = sum(1 for r in results if r.status == "flaky")
    skipped = sum(1 for r in results if r.status == "skipped")
    if passing == len(results):
        return f"{_plural(passing, 'test', 'tests', n=True)} {'pass' if passing != 1 else 'passes'}"
    parts = []
    if passing:
        parts.append(f"{_plural(passing, 'test', 'tests', n=True)} {'pass' if passing != 1 else 'passes'}")
    if failing:
        parts.append(f"{failing} {'fail' if failing != 1 else 'fails'} locally")
    if timeouts:
        parts.append(f"{timeouts} timed out")
    if flaky:
        parts.append(f"{flaky} {'is' if flaky == 1 else 'are'} flaky")
    if skipped:
        parts.append(f"{skipped} did not run (a dependency failed to build)")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _plural(count: int, one: str, many: str | None = None, n: bool = False) -> str:
    word = one if count == 1 else (many or one + "s")
    return f"{count} {word}" if n else word
