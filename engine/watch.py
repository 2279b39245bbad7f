"""Watch mode (CONVENTIONS.md, "Watch mode"): a first build, then a rebuild per change of a
declared input, until stopped.

It watches exactly what the analysis was made from (session.py: the declared sources of the
closure, the BUILD files and directories that define it, jbuild.toml); a change nothing declares
does nothing. Each batch of changes (watcher.py: debounced, editors' droppings ignored) updates
the session in memory — only what the change reaches is re-keyed — and runs the plan. A broken
recipe or a cycle mid-edit is reported and watching goes on; so does a failed build.

Three actions: `build`; `test` (jbuild.engine.testing, when present); `run`, which starts the
target's services (or program) and restarts them — SIGTERM, then SIGKILL after a timeout —
only after a rebuild that changed what they run (their environment or their description).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field

from jbuild.base.errors import BadInput, JbuildError
from jbuild.dsl.errors import RecipeError, render_all

from .settings import Options
from .watcher import Watcher


@dataclass
class WatchOptions:
    action: str = "build"  # build | test | run
    debounce: float = 0.1
    poll: bool = False
    sets: list[str] = field(default_factory=list)  # run: --set
    withs: list[str] = field(default_factory=list)  # run: --with
    ready_timeout: float = 30.0
    stop_timeout: float = 5.0
    test_options: object = None  # test: the test runner's options


class TestRunnerMissing(BadInput):
    pass


def watch(patterns: list[str], opts: Options, cwd: str | None, w: WatchOptions, out=None,
          stop: threading.Event | None = None) -> int:
    """Watch until `stop` is set (or Ctrl-C); returns 0."""
    out = out or sys.stderr
    stop = stop or threading.Event()
    action = _action(w, patterns, opts, cwd, out)
    watcher = Watcher(w.debounce, w.poll)
    loop = _Loop(action, watcher, out, cwd)
    try:
        loop.first()
        loop.rewatch()
        loop.say("Watching for changes (Ctrl-C to stop)")
        while not stop.is_set():
            batch = watcher.next_batch(stop)
            if batch:
                loop.changed(batch)
                loop.rewatch()
    except KeyboardInterrupt:
        pass
    finally:
        watcher.close()
        action.close()
    return 0


class _Loop:
    """The session and what to watch; reports errors and keeps going."""

    def __init__(self, action, watcher: Watcher, out, cwd):
        self.action, self.watcher, self.out, self.cwd = action, watcher, out, cwd
        self.session = None
        self.root = None

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def first(self) -> None:
        from jbuild.dsl.workspace import Workspace

        self.root = str(Workspace.find(self.cwd).root)
        self._attempt(self._start)

    def _start(self) -> None:
        from .session import Session

        started = time.perf_counter()
        session = Session(self.action.patterns, self.action.opts, self.cwd)
        self.session = session
        self.action.first(session, session.plan(), time.perf_counter() - started)

    def rewatch(self) -> None:
        if self.session is None:  # no analysis yet: any change may fix the workspace
            self.watcher.watch(set(), recursive={self.root})
        else:
            self.watcher.watch(self.session.watch_dirs())

    def changed(self, batch: dict[str, str]) -> None:
        s = self.session
        if s is None:
            paths = [p for p in batch if ".jbuild" not in p.split(os.sep)]
            if paths:
                self.say(f"Changed: {self._names(paths)} — rebuilding")
                self._attempt(self._start)
            return
        paths = [p for p, how in batch.items() if not self._ours(p) and s.relevant(p, how)]
        if paths:
            self._attempt(lambda: self._update(paths))

    def _ours(self, path: str) -> bool:
        """jbuild's own writes: result links (and their temporaries), .jbuild/. (A result link
        is a directory where a `//...` pattern looks: it would redo the whole analysis.)"""
        link = self.action.opts.out_link
        name = os.path.basename(path)
        if link and re.fullmatch(re.escape(os.path.basename(link)) + r"(-\d+)?(\.jbuild-new-\d+)?", name):
            return True
        return ".jbuild" in path.split(os.sep)

    def _update(self, paths: list[str]) -> None:
        s = self.session
        known = [p for p in paths if p in s.sources or p in s.build_files or p in s.structural]
        names = self._names(known or paths)  # an editor's temporary is not worth naming
        started = time.perf_counter()
        try:
            plan = s.update(paths)
        except (RecipeError, JbuildError):
            self.say(f"Changed: {names} — rebuilding")
            raise
        planned = f"(planned in {(time.perf_counter() - started) * 1000:.0f} ms)"
        if plan.affected is not None and not plan.affected and not self.action.always:
            if any(p in s.build_files or p in s.structural for p in known):
                self.say(f"Changed: {names} — nothing to rebuild {planned}")
            return
        self.say(f"Changed: {names} — rebuilding {planned}")
        self.action.again(s, plan)

    def _attempt(self, step) -> None:
        """Run one step; a recipe error, a cycle or a failed build is reported, not fatal."""
        try:
            step()
        except RecipeError as exc:
            self.say(render_all(exc, self.root, color=False))
            self.say("Waiting for a fix (watching)")
        except JbuildError as exc:
            self.say(f"error: {exc}" if str(exc) else "the build failed")
            self.say("Waiting for the next change (watching)")
        except OSError as exc:  # a file went between the event and the look (an editor mid-save)
            self.say(f"error: {exc.strerror or exc}: {exc.filename or ''}")
            self.say("Waiting for the next change (watching)")

    def _names(self, paths: list[str]) -> str:
        rel = sorted(os.path.relpath(p, self.root) for p in paths)
        return ", ".join(rel[:3]) + (f" (+{len(rel) - 3} more)" if len(rel) > 3 else "")


# ------------------------------------------------------------------ the actions


def _action(w: WatchOptions, patterns, opts, cwd, out):
    if w.action == "test":
        return _Test(patterns, opts, cwd, out, w.test_options)
    if w.action == "run":
        return _Run(patterns, opts, cwd, out, w)
    return _Build(patterns, opts, cwd, out)


class _Build:
    always = False  # an update that affects no action does nothing

    def __init__(self, patterns, opts, cwd, out):
        self.patterns, self.opts, self.cwd, self.out = list(patterns), opts, cwd, out

    def first(self, session, plan, planned: float) -> None:
        self.again(session, plan)

    def again(self, session, plan) -> None:
        from . import nothing_to_build
        from .build import run

        nothing_to_build.check(plan, self.patterns, self.cwd)  # said, then watched: an edit may add one
        code, rb = run(plan)
        session.settle(rb)
        for n in plan.roots:
            o = rb.outcomes.get(n)
            if o is not None and o.entry is not None and o.decision in ("built", "reused"):
                print(f"{n} up to date: {o.entry}", file=self.out, flush=True)
        if code != 0:
            print("Build failed; waiting for the next change (watching)", file=self.out, flush=True)

    def close(self) -> None:
        pass


class _Test(_Build):
    always = True  # tests observe behaviour: rerun them on every relevant change

    def __init__(self, patterns, opts, cwd, out, test_options):
        super().__init__(patterns, opts, cwd, out)
        try:
            from jbuild.engine.testing import TestOptions, test
        except ImportError:
            raise TestRunnerMissing("`jbuild watch test` needs the test runner (jbuild.engine.testing), which "
                                    "this jbuild does not have yet; use `jbuild watch build`") from None
        self.test, self.test_options = test, test_options or TestOptions()

    def again(self, session, plan) -> None:
        run = self.test(self.patterns, self.opts, self.test_options, self.cwd)
        for line in run.summary:
            print(line, file=self.out, flush=True)
        if run.code not in (0, 4):
            print(f"Tests failed (exit code {run.code}); waiting for the next change (watching)",
                  file=self.out, flush=True)


class _Run(_Build):
    """Keeps the target's services (or program) running; restarts them when what they run changed."""

    always = False

    def __init__(self, patterns, opts, cwd, out, w: WatchOptions):
        if len(patterns) != 1:
            raise BadInput(f"`jbuild watch run` takes one target, not {len(patterns)}")
        super().__init__([*patterns, *w.withs], dataclasses.replace(opts, out_link=None), cwd, out)
        self.target, self.w = patterns[0], w
        self.running = None
        self.current = None  # what runs: (services, program)

    def first(self, session, plan, planned: float) -> None:
        self.again(session, plan)

    def again(self, session, plan) -> None:
        from .services import prepare

        rp = prepare(self.target, self.opts, self.w.sets, self.cwd, self.w.withs, planned=plan,
                     after_run=session.settle)
        what = (rp.services, rp.program, rp.env)
        if self.running is not None and what == self.current:
            print(f"{rp.target}: what it runs is unchanged; still running", file=self.out, flush=True)
            return
        if self.running is not None:
            print(f"{rp.target}: its closure changed; restarting", file=self.out, flush=True)
            self.running.stop()
        self.current = what
        from .watch_run import Running

        self.running = Running(rp, self.out, self.w.ready_timeout, self.w.stop_timeout)

    def close(self) -> None:
        if self.running is not None:
            self.running.stop()
