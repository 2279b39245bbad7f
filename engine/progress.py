"""What a build tells its user: plain lines (a status line on a terminal), a failure block,
a summary, and `--build-events FILE` (one JSON object per event)."""

from __future__ import annotations

import json
import sys
import threading
import time


class Reporter:
    def __init__(self, total: int, events_path: str | None = None, stream=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.lock = threading.Lock()
        self.done = 0
        self.counts = {"built": 0, "reused": 0, "failed": 0}
        self.failures: list[str] = []
        self.start = time.monotonic()
        self.events = open(events_path, "w") if events_path else None
        self.event("started", total=total)

    def event(self, kind: str, **data) -> None:
        if self.events:
            with self.lock:
                self.events.write(json.dumps({"event": kind, "time": time.time(), **data}) + "\n")
                self.events.flush()

    def _line(self, text: str) -> None:
        with self.lock:
            if self.tty:
                self.stream.write("\r\033[K" + text + "\n")
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def started(self, node, reason: str) -> None:
        self._line(f"[{self.done + 1} / {self.total}] building {node} ({reason})")
        self.event("action_started", target=str(node), reason=reason)

    def built(self, node, duration: float) -> None:
        self.done += 1
        self.counts["built"] += 1
        self.event("action_executed", target=str(node), success=True, duration=round(duration, 3))

    def reused(self, node, why: str) -> None:
        self.done += 1
        self.counts["reused"] += 1
        self.event("target_complete", target=str(node), reused=True, reason=why)

    def failed(self, node, code, log) -> None:
        self.done += 1
        self.counts["failed"] += 1
        tail = []
        try:
            tail = open(log, errors="replace").read().splitlines()[-15:]
        except OSError:
            pass
        block = [f"ERROR: building {node} failed: {'exit code ' + str(code) if isinstance(code, int) else code}"]
        block += [f"> {t}" for t in tail]
        block.append(f"For the full log: jbuild log {node.label}")
        self.failures.append(block[0])
        self._line("\n".join(block))
        self.event("action_executed", target=str(node), success=False, exit_code=str(code))

    def summary(self, code: int, keep_going: bool) -> None:
        elapsed = time.monotonic() - self.start
        if keep_going and len(self.failures) > 1:
            self._line("\n".join(self.failures))
        c = self.counts
        self._line(f"{c['built']} built, {c['reused']} reused from the store, {c['failed']} failed "
                   f"in {elapsed:.1f}s")
        self.event("finished", exit_code=code, **c)
        if self.events:
            self.events.close()
