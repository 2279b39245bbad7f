"""Tests on the build's workers: each test is one more id in the build's schedule
(engine/build.py `run(p, extra)`), waiting on the actions of its run closure and run on the same
`-j` workers as soon as they are built, in parallel with the rest of the build.

A test's id is its resolved Node. Before it takes a worker, `inline` looks its test key up in the
result cache (cache.py): a clean pass recorded under the same key is reused, logs restored. A test
never fails the schedule: its outcome is recorded here, and the build's code only says whether
the builds succeeded.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..resolve import Node
from . import junit, testlogs
from .cache import ResultCache
from .result import TestResult, cached_result
from .runner import Sandboxed, outcome, run_attempts
from .testkey import TestInputs, action_deps, test_inputs


class TestSchedule:
    def __init__(self, p, topts):
        self.p = p
        self.topts = topts
        self.deps: dict[Node, set[Node]] = {t: action_deps(p.node_closure[t], t) for t in p.tests}
        self.results: dict[Node, TestResult] = {}
        self.inputs: dict[Node, TestInputs] = {}
        self.cache = ResultCache(p.store.root) if topts.cache_results else None
        self.rb = self.executor = self.reporter = None

    def attach(self, rb, executor, reporter, deps: dict, work, inline):
        """Called by build.run: add the tests to `deps`; return (work, inline) that route them here."""
        self.rb, self.executor, self.reporter = rb, executor, reporter
        reporter.held = True  # the final event waits for the tests' summary (see test())
        deps.update(self.deps)

        def work_or_test(a) -> bool:
            return self.run(a) if a in self.deps else work(a)

        def inline_or_cached(a):
            return self.cached(a) if a in self.deps else inline(a)

        return work_or_test, inline_or_cached

    # ------------------------------------------------------------ one test

    def _inputs(self, test: Node) -> TestInputs:
        if test not in self.inputs:  # once its closure is built: the cache lookup, then the run
            self.inputs[test] = test_inputs(self.p.computer, self.p.node_closure[test], test, self.rb.entry_of)
        return self.inputs[test]

    def cached(self, test: Node) -> bool | None:
        """A clean pass under the same test key: reuse it (True); else None, run it on a worker."""
        if self.cache is None:
            return None
        inputs = self._inputs(test)
        hit = self.cache.get(inputs.key)
        if hit is None:
            return None
        result = cached_result(self.p.workspace.root, str(test.label), test.label.package, test.label.name,
                               inputs.key, hit, time.time())
        self._report(test, result, hit.log)
        return True

    def run(self, test: Node) -> bool:
        from ..runtime.environment import assemble

        inputs = self._inputs(test)
        store = self.p.store
        env_dir = assemble(store, inputs.members, inputs.etc, title=test.label.name)  # under build.run's lock
        spec = Sandboxed(script=test.target.command, label=str(test.label),
                         sources=Path(self.p.computer.package_dir(test)), files=test.target.files,
                         env_dir=env_dir, binds=(env_dir, *(store.path(m.entry) for m in inputs.members)),
                         host=self.rb.host_root(test), timeout=self.topts.timeout)
        start = time.time()
        self.reporter.test_started(str(test.label))
        attempts = run_attempts(self.executor, store, spec, self.topts.flaky_attempts)
        if self.executor.cancelled and attempts[-1].code != 0:
            return False  # interrupted: no result, the build reports the interrupt
        status, last = outcome(attempts), attempts[-1]
        result = TestResult(str(test.label), test.label.package, status, duration=last.duration,
                            attempts=len(attempts), key=inputs.key, start=start, end=time.time(),
                            reason=_reason(status, last.code, self.topts.timeout))
        result.failed_attempts = [a.log for a in attempts if a.code != 0]
        xml = junit.report_for(result.label, result.package, status, last.duration, len(attempts), last.log,
                               last.xml, result.reason)
        self._finish(test, result, last.log, xml)
        if status == "passed" and self.cache is not None:
            self.cache.put(inputs.key, result.label, last.duration, last.log, xml,  # after the logs are written
                           [m.entry for m in inputs.members])
        return True

    def skipped(self, test: Node, failed: list[str]) -> None:
        """Its closure did not build: no status (never a pass)."""
        now = time.time()
        why = f"not run: {', '.join(failed)} failed to build" if failed else "not run: the build stopped"
        result = TestResult(str(test.label), test.label.package, "skipped", reason=why, start=now, end=now)
        xml = junit.report_for(result.label, result.package, "skipped", 0.0, 0, "", None, why)
        self._finish(test, result, "", xml)

    def _finish(self, test: Node, result: TestResult, log: str, xml: str) -> None:
        dest = testlogs.directory(self.p.workspace.root, test.label.package, test.label.name)
        result.log, result.xml = testlogs.write(dest, log, xml,
                                                result.failed_attempts if result.attempts > 1 else [])
        self._report(test, result, log)

    def _report(self, test: Node, result: TestResult, log: str) -> None:
        self.results[test] = result
        root = self.p.workspace.root
        self.reporter.test_result(result.label, result.status, result.start, result.end, cached=result.cached,
                                  attempts=result.attempts, log=str(result.log.relative_to(root)),
                                  xml=str(result.xml.relative_to(root)), key=result.key,
                                  show=self._shown(result, log), node=test)

    def _shown(self, result: TestResult, log: str) -> list[str] | None:
        """The log lines --test-output prints: errors (failed, timed out, flaky) | all | summary."""
        mode = self.topts.output
        if result.cached or result.status == "skipped" or mode == "summary":
            return None
        if mode == "all" or result.status in ("failed", "timeout"):
            return log.splitlines()
        if result.status == "flaky":
            return result.failed_attempts[-1].splitlines()
        return None


def _reason(status: str, code: int | None, timeout: float | None) -> str:
    if status == "timeout":
        return f"timed out after {timeout:g}s"
    if status == "failed":
        return f"exit code {code}"
    return ""
