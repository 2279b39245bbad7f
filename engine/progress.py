"""What a build tells its user.

On a terminal: messages scroll, and one status line at the bottom is rewritten in place —
`[12 / 340] building //db:postgresql; 3s (2 running)`. In the CI profile (`CI=true`, or output
that is not a terminal): plain lines with no control characters, and a heartbeat after every
`JBUILD_HEARTBEAT` seconds (default 30) of silence while something runs, so CI does not kill a
quiet job; nothing else is ever printed twice. A failure is one block (under CI=true with the
whole log); with `GITHUB_ACTIONS=true` it also gets an `::error` annotation and its log a
`::group::` (ci.py). `--build-events FILE` gets the events of events.py (schema: docs/ci.md).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager

from . import ci
from .events import EventLog, span

TAIL_LINES = 15  # of a failed action's log, on a terminal
FULL_LINES = 2000  # of a log shown "in full" (CI=true; a failed test): more is in the file


class Reporter:
    def __init__(self, total: int, events_path: str | None = None, stream=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = not ci.plain_output(self.stream)
        self.full_logs = ci.ci_requested()
        self.github = ci.github_actions()
        self.lock = threading.Lock()
        self.done = 0
        self.counts = {"built": 0, "reused": 0, "remote": 0, "failed": 0, "skipped": 0}
        self.tests: dict[str, int] = {}  # test status -> how many
        self.failures: list[str] = []
        self.running: dict[str, float] = {}
        self.testing: dict[str, float] = {}  # tests running now (jbuild test)
        self.began: dict[str, tuple[float, int, str]] = {}  # target -> (wall start, action_started id, why)
        self.detail = ""  # a transient note on the status line (a download's progress)
        self.start = time.monotonic()
        self.start_wall = time.time()
        self.last_output = self.start
        self.held = False  # `finish` writes the final event (jbuild test: after the tests' summary)
        self.events = EventLog(events_path)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.interval = 1.0 if self.tty else float(os.environ.get("JBUILD_HEARTBEAT", "30"))
        self.root_id = self.events.emit("started", None, total=total, schema_version=1)

    # ------------------------------------------------------------ output

    def event(self, kind: str, parent: int | None = None, **data) -> int:
        return self.events.emit(kind, self.root_id if parent is None else parent, **data)

    def _status(self, still: bool = False) -> str:
        """`[started / total]`: the same count the `building` lines show, so it never goes back.
        The oldest running action or test is named (tests are not in the count)."""
        started = self.done + len(self.running)
        busy = [(since, "building", node) for node, since in self.running.items()]
        busy += [(since, "testing", label) for label, since in self.testing.items()]
        if not busy:
            return f"[{started} / {self.total}]"
        since, verb, node = min(busy)
        return (f"[{started} / {self.total}] {'still ' if still else ''}{verb} {node}; "
                f"{time.monotonic() - since:.0f}s ({len(busy)} running)" + (f"; {self.detail}" if self.detail else ""))

    def _line(self, text: str) -> None:
        with self.lock:
            if self.tty:
                self.stream.write("\r\033[K" + text + "\n" + self._status())
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
            self.last_output = time.monotonic()

    def _tick(self) -> None:
        while not self._stop.wait(min(self.interval, 1.0)):
            with self.lock:
                now = time.monotonic()
                if self.tty:
                    self.stream.write("\r\033[K" + self._status())
                elif (self.running or self.testing) and now - self.last_output >= self.interval:
                    self.stream.write(self._status(still=True) + "\n")
                    self.last_output = now
                self.stream.flush()

    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="jbuild-progress", daemon=True)
            try:
                self._ticker.start()
            except RuntimeError:  # "can't start new thread" (ulimit -u): no heartbeat, the build goes on
                pass

    # ------------------------------------------------------------ actions

    def note(self, text: str) -> None:
        """A line of its own above the status line (a download fetched, its progress)."""
        self._line(text)
        self.event("note", text=text)

    def progress(self, text: str) -> None:
        """Show `text` on the terminal's status line until the next call ('' clears it)."""
        with self.lock:
            self.detail = text
            if self.tty:
                self.stream.write("\r\033[K" + self._status())
                self.stream.flush()

    def started(self, node, reason: str) -> None:
        with self.lock:
            self.running[str(node)] = time.monotonic()
            number = self.done + len(self.running)
            self._start_ticker()
        eid = self.event("action_started", target=str(node), reason=reason)
        self.began[str(node)] = (time.time(), eid, reason)
        self._line(f"[{number} / {self.total}] building {node} ({reason})")

    def _finish(self, node, what: str) -> tuple[float, int | None, str]:
        with self.lock:
            self.running.pop(str(node), None)
            self.done += 1
            self.counts[what] += 1
        return self.began.pop(str(node), (time.time(), None, ""))

    def built(self, node, duration: float) -> None:
        start, parent, why = self._finish(node, "built")
        executed = self.event("action_executed", parent, target=str(node), success=True, exit_code=0,
                              log=None, **span(start))
        self.event("target_complete", executed, target=str(node), outcome="built", cache=None,
                   reason=why or "built", **span(start))

    def reused(self, node, why: str, source: str = "local") -> None:
        """A hit: `source` is where it came from, "local" (the store) or "remote" (the shared cache)."""
        start, parent, _ = self._finish(node, "reused" if source == "local" else source)
        self.event("target_complete", parent, target=str(node), outcome="reused", cache={"source": source},
                   reason=why, **span(start))

    @contextmanager
    def batched(self):
        """Events of the block written at once when it ends (adopting thousands of actions)."""
        self.events.hold()
        try:
            yield
        finally:
            self.events.release()

    def reused_unstarted(self, nodes: list[str], why: str) -> None:
        """`reused` for many targets at once that never started (the no-op path)."""
        with self.lock:
            self.done += len(nodes)
            self.counts["reused"] += len(nodes)
        self.events.emit_each("target_complete", self.root_id, "target", nodes, outcome="reused",
                              cache={"source": "local"}, reason=why, **span(time.time()))

    def skipped(self, node, why: str) -> None:
        """A dependency failed (or the build stopped first): never reported as up to date."""
        start, parent, _ = self._finish(node, "skipped")
        self.event("target_complete", parent, target=str(node), outcome="skipped", cache=None, reason=why,
                   **span(start))

    def interrupted(self, node) -> None:
        with self.lock:
            self.running.pop(str(node), None)

    def failed(self, node, code, log, command: str = "") -> None:
        start, parent, _ = self._finish(node, "failed")
        lines = _read_lines(log)
        headline = f"ERROR: building {node} failed: {'exit code ' + str(code) if isinstance(code, int) else code}"
        block = [headline]
        failing = _failing_command(lines[-60:]) if isinstance(code, int) else None
        if failing:
            block.append(f"  command: {failing}")
        if self.full_logs:
            body = lines[-FULL_LINES:]
            block += [f"> {t}" for t in body] if not self.github else [ci.group(f"log of {node}", "\n".join(body))]
        else:
            block += [f"> {t}" for t in [t for t in lines[-60:] if not t.startswith("+ ")][-TAIL_LINES:]]
        block.append(f"For the full log: jbuild log {getattr(node, 'label', node)}")
        if self.github:
            block.insert(0, self.annotation(node, headline[len("ERROR: "):]))
        self.failures.append(headline)
        self._line("\n".join(block))
        exit_code = code if isinstance(code, int) else 1
        executed = self.event("action_executed", parent, target=str(node), success=False, exit_code=exit_code,
                              log=str(log) if log else None, **span(start))
        self.event("target_complete", executed, target=str(node), outcome="failed", cache=None,
                   reason=f"exit code {code}" if isinstance(code, int) else str(code),
                   **span(start))

    def annotation(self, node, message: str) -> str:
        """`::error file=<its BUILD file>,line=…,col=…::message` for a target."""
        where = _span_of(node)
        if where is None:
            return ci.annotation(message)
        path, line, col = where
        return ci.annotation(message, path, line, col, title=f"jbuild: {getattr(node, 'label', node)}")

    # ------------------------------------------------------------ tests

    def test_started(self, label: str) -> None:
        with self.lock:
            self.testing[label] = time.monotonic()
            self._start_ticker()

    def test_result(self, label: str, status: str, start: float, end: float, *, cached: bool, attempts: int,
                    log: str | None, xml: str | None, key: str, show: list[str] | None = None,
                    node=None) -> None:
        """A test's outcome (passed | failed | flaky | timeout | skipped); `show`: its log lines
        to print (--test-output), in a group on GitHub, under a headline."""
        with self.lock:
            self.testing.pop(label, None)
            self.tests[status] = self.tests.get(status, 0) + 1
            self.tests["cached"] = self.tests.get("cached", 0) + cached
        if show is not None:
            head = f"==== {label} {status.upper()}" + (f" (attempt {attempts})" if attempts > 1 else "") + \
                   (f"; log: {log}" if log else "")
            body = show[-FULL_LINES:]
            text = ci.group(f"test log of {label}", "\n".join(body)) if self.github else "\n".join([*body, "===="])
            self._line(head + "\n" + text)
        if self.github and status in ("failed", "timeout"):
            self._line(self.annotation(node if node is not None else label, f"test {label} {status}"))
        self.event("test_result", target=label, status=status, cached=cached,
                   cache={"source": "local"} if cached else None, attempts=attempts, log=log, xml=xml,
                   test_key=key, **span(start, end))

    # ------------------------------------------------------------ end

    def stop(self) -> None:
        """The status line's ticker ends (`summary` does it too): a build that gives up its
        reporter (a restart, an error) leaves no thread writing to a stream soon closed (a
        resident server's client's)."""
        self._stop.set()

    def summary(self, code: int, keep_going: bool) -> None:
        self.stop()
        elapsed = time.monotonic() - self.start
        if keep_going and len(self.failures) > 1:
            self._line("\n".join(self.failures))
        c = self.counts
        text = f"{c['built']} built, {c['reused']} reused from the store, "
        text += f"{c['remote']} from the remote cache, " if c["remote"] else ""
        text += f"{c['failed']} failed"
        if c["skipped"]:
            text += f", {c['skipped']} skipped (a dependency failed)"
        text += f" in {elapsed:.1f}s"
        if code == 8:
            text = "interrupted: " + text
        with self.lock:
            self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
            self.stream.flush()
        if not self.held:
            self.finish(code)

    def finish(self, code: int) -> None:
        """The last event: the exit code, what happened to every target and test, how long."""
        self.event("finished", exit_code=code, counts=dict(self.counts),
                   tests={k: self.tests.get(k, 0) for k in ("passed", "failed", "flaky", "timeout", "skipped",
                                                            "cached")},
                   **span(self.start_wall))
        self.events.close()


def _read_lines(log) -> list[str]:
    try:
        with open(log, errors="replace") as f:
            return f.read().splitlines()
    except (OSError, TypeError):
        return []


def _failing_command(log_tail: list[str]) -> str | None:
    """The last command the shell traced (`set -x` prints `+ cmd`) before it failed."""
    traced = [line[2:] for line in log_tail if line.startswith("+ ")]
    return traced[-1].strip() if traced else None


def _span_of(node) -> tuple[str, int, int] | None:
    """Where `node`'s recipe is written: (absolute path, line, column), or None."""
    target = getattr(node, "target", None)
    where = getattr(target, "span", None)
    if where is None or where.line <= 0:
        return None
    path = where.path
    if not os.path.isabs(path):
        try:
            from jbuild.dsl.workspace import Workspace, stdlib_dir

            base = stdlib_dir() if node.label.repo == "std" else Workspace.find().root
            path = os.path.join(base, path)
        except Exception:  # noqa: BLE001 - an annotation without a file is still an annotation
            return None
    return path, where.line, where.col
