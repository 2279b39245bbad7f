"""One test target's outcome in one `jbuild test`, and a cached pass made into one — apart from
the runner (which imports the sandbox) so the no-op path (unchanged.py) stays light."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import junit, testlogs


@dataclass
class TestResult:
    """One test target's outcome in one `jbuild test`."""

    label: str
    package: str
    status: str  # passed | failed | flaky | timeout | skipped (its closure did not build)
    cached: bool = False
    duration: float = 0.0
    attempts: int = 0
    reason: str = ""
    key: str = ""
    log: Path | None = None
    xml: Path | None = None
    start: float = 0.0
    end: float = 0.0
    failed_attempts: list[str] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "flaky")


def cached_result(ws_root: Path, label: str, package: str, name: str, key: str, hit, now: float) -> TestResult:
    """A clean pass from the result cache (cache.CachedResult), as a run reports it: its logs
    restored to jbuild-testlogs/. Also the no-op path's (unchanged.py)."""
    result = TestResult(label, package, "passed", cached=True, duration=hit.duration, attempts=1, key=key,
                        start=now, end=now)
    xml = hit.xml or junit.report_for(label, package, "passed", hit.duration, 1, hit.log, None)
    result.log, result.xml = testlogs.write(testlogs.directory(ws_root, package, name), hit.log, xml, [])
    return result
