"""What a build tells its user.

On a terminal: messages scroll, and one status line at the bottom is rewritten in place —
`[12 / 340] building //db:postgresql; 3s (2 running)`. Elsewhere (CI, pipes): plain lines with
no control characters, and a heartbeat every `JBUILD_HEARTBEAT` seconds (default 30) so CI does
not kill a quiet job. A failure is one block; `--build-events FILE` gets one JSON object per
event.
"""

from __future__ import annotations

import json
import os
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
        self.counts = {"built": 0, "reused": 0, "remote": 0, "failed": 0, "skipped": 0}
        self.failures: list[str] = []
        self.running: dict[str, float] = {}
        self.start = time.monotonic()
        self.events = open(events_path, "w") if events_path else None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.interval = 1.0 if self.tty else float(os.environ.get("JBUILD_HEARTBEAT", "30"))
        self.event("started", total=total)

    # ------------------------------------------------------------ output

    def event(self, kind: str, **data) -> None:
        if self.events:
            with self.lock:
                self.events.write(json.dumps({"event": kind, "time": time.time(), **data}) + "\n")
                self.events.flush()

    def _status(self) -> str:
        """`[started / total]`: the same count the `building` lines show, so it never goes back."""
        started = self.done + len(self.running)
        if not self.running:
            return f"[{started} / {self.total}]"
        node, since = min(self.running.items(), key=lambda kv: kv[1])
        return (f"[{started} / {self.total}] building {node}; {time.monotonic() - since:.0f}s "
                f"({len(self.running)} running)")

    def _line(self, text: str) -> None:
        with self.lock:
            if self.tty:
                self.stream.write("\r\033[K" + text + "\n" + self._status())
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self.lock:
                if self.tty:
                    self.stream.write("\r\033[K" + self._status())
                elif self.running:
                    self.stream.write(self._status().replace("] building", "] still building") + "\n")
                self.stream.flush()

    # ------------------------------------------------------------ events

    def started(self, node, reason: str) -> None:
        with self.lock:
            self.running[str(node)] = time.monotonic()
            number = self.done + len(self.running)
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, daemon=True)
                self._ticker.start()
        self._line(f"[{number} / {self.total}] building {node} ({reason})")
        self.event("action_started", target=str(node), reason=reason)

    def _finish(self, node, what: str) -> None:
        with self.lock:
            self.running.pop(str(node), None)
            self.done += 1
            self.counts[what] += 1

    def built(self, node, duration: float) -> None:
        self._finish(node, "built")
        self.event("action_executed", target=str(node), success=True, duration=round(duration, 3))

    def reused(self, node, why: str, source: str = "store") -> None:
        """`source`: where the entry came from, "store" (local) or "remote" (the shared cache)."""
        self._finish(node, "reused" if source == "store" else source)
        self.event("target_complete", target=str(node), reused=True, reason=why, cache=source)

    def skipped(self, node, why: str) -> None:
        """A dependency failed (or the build stopped first): never reported as up to date."""
        self._finish(node, "skipped")
        self.event("target_skipped", target=str(node), reason=why)

    def interrupted(self, node) -> None:
        with self.lock:
            self.running.pop(str(node), None)

    def failed(self, node, code, log, command: str = "") -> None:
        self._finish(node, "failed")
        tail = []
        try:
            tail = open(log, errors="replace").read().splitlines()[-60:]
        except OSError:
            pass
        block = [f"ERROR: building {node} failed: {'exit code ' + str(code) if isinstance(code, int) else code}"]
        failing = _failing_command(tail) if isinstance(code, int) else None
        if failing:
            block.append(f"  command: {failing}")
        block += [f"> {t}" for t in [t for t in tail if not t.startswith("+ ")][-15:]]
        block.append(f"For the full log: jbuild log {node.label}")
        self.failures.append(block[0])
        self._line("\n".join(block))
        self.event("action_executed", target=str(node), success=False,
                   exit_code=code if isinstance(code, int) else 1, reason=str(code))

    def summary(self, code: int, keep_going: bool) -> None:
        self._stop.set()
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
        self.event("finished", exit_code=code, **c)
        if self.events:
            self.events.close()


def _failing_command(log_tail: list[str]) -> str | None:
    """The last command the shell traced (`set -x` prints `+ cmd`) before it failed."""
    traced = [line[2:] for line in log_tail if line.startswith("+ ")]
    return traced[-1].strip() if traced else None
