"""The no-op path of `jbuild test`: when nothing a passing run was computed from changed, answer
the same command line again from the result cache — no parser, resolver, keys or schedule.

After a run in which every test passed, this records the build's no-op snapshot (noop.record:
BUILD files, globs' directories, sources, host tools, entries) plus what a build never reads
and a test does — each test's declared sources, with the stats its test key was computed
under — and each test's key. The next identical `jbuild test` answers when the snapshot holds
(snapshot.is_fresh), every entry is still in the store, and the result cache still has a pass
under each key (gc prunes them with the run closure's entries): each test is reported
`(cached) PASSED` with its logs restored to jbuild-testlogs/, as the full path reports a cached
pass. Anything else takes the full path, which records again. Kept beside the build's snapshot,
as `<workspace>/.jbuild/tests-<digest>.pickle`.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.base import cachefile
from jbuild.dsl.workspace import Workspace

from .. import snapshot
from ..settings import Options, resolve

FORMAT = 1


@dataclass
class Recorded:
    build: snapshot.Snapshot
    tests: list[tuple[str, str, str, str]] = field(default_factory=list)  # (label, package, name, test key)


def _path(ws: Workspace, patterns: list[str], opts: Options, cwd: str | None) -> Path:
    command = ("test", tuple(patterns), ws.package_of(cwd or os.getcwd()), opts.strict, opts.sandbox, opts.store)
    found = snapshot.path_for(ws.cache_dir, command)
    return found.with_name(found.name.replace("analysis-", "tests-", 1))


def record(p, rb, results: dict, patterns: list[str], cwd: str | None) -> None:
    """After a run where every test passed (`results`: test node -> TestResult): what the next
    identical run may answer from."""
    from .. import noop

    snap = noop.record(p, rb)
    for t in p.tests:
        base = p.computer.package_dir(t)
        for rel in t.target.files:
            path = os.path.join(base, rel)
            seen = p.stats.entries.get(path)
            if seen is None:
                return  # not stated while its key was computed: nothing safe to record
            snap.files[path] = seen[0]
    tests = [(str(t.label), t.label.package, t.label.name, results[t].key) for t in p.tests]
    cachefile.write(_path(p.workspace, patterns, p.opts, cwd), FORMAT, Recorded(snap, tests))


def answer(patterns: list[str], opts: Options, topts, cwd: str | None):
    """The TestRun of an unchanged command line, or None: take the full path."""
    from ..store import Store
    from .cache import ResultCache

    if not topts.cache_results or opts.verify_inputs:
        return None
    ws = Workspace.find(cwd)
    opts = resolve(ws, opts)
    path = _path(ws, patterns, opts, cwd)
    recorded = cachefile.read(path, FORMAT, None)
    if recorded is None or not snapshot.is_fresh(recorded.build):
        return None
    a, store = recorded.build, Store(Path(opts.store))
    cache = ResultCache(store.root)
    try:
        hits = [cache.get(key) for *_, key in recorded.tests]
        if any(h is None for h in hits):
            return None
        with store.shared():
            if not snapshot.entries_present(str(store.root), [*(n for _, n in a.actions), *a.outputs]):
                return None
            return _report(recorded, hits, ws, store, opts, topts, path)
    finally:
        cache.close()


def _report(recorded: Recorded, hits, ws: Workspace, store, opts: Options, topts, path: Path):
    from ..progress import Reporter
    from . import CODES, TestRun, _write_junit
    from .result import cached_result
    from .summary import summary_lines

    a = recorded.build
    reporter = Reporter(len(a.actions), opts.build_events)
    reporter.held = True
    reporter.reused_unstarted([node for node, _ in a.actions], "inputs unchanged")
    if not a.decisions_all_reused:
        store.index.mark_reused(str(ws.root), [node for node, _ in a.actions])
        a.decisions_all_reused = True
        cachefile.write(path, FORMAT, recorded)
    results = []
    now = time.time()
    for (label, package, name, key), hit in zip(recorded.tests, hits, strict=True):
        result = cached_result(ws.root, label, package, name, key, hit, now)
        reporter.test_result(label, "passed", now, now, cached=True, attempts=1,
                             log=str(result.log.relative_to(ws.root)), xml=str(result.xml.relative_to(ws.root)),
                             key=key)
        results.append(result)
    if opts.remote_executor:  # as a full run ends (build.run): nothing was executed or asked for
        from ..reapi import summary

        print(summary(opts.remote_executor, 0, 0), file=sys.stderr)
    reporter.summary(0, bool(opts.keep_going))
    out = TestRun(CODES["passed"], "passed", results, summary_lines(results, len(results)))
    if topts.junit_xml:
        out.junit_xml = _write_junit(Path(topts.junit_xml), results)
        out.summary.append(f"JUnit report: {out.junit_xml}")
    reporter.finish(out.code)
    return out
