"""Work a build may leave until its client has its answer: the build server's saves.

A build's last steps write what the next build starts from (the kept session, the no-op
snapshot): after a BUILD-file edit at 10,000 packages, the analysis and the session's hot part
whole, ~0.2 s the user waited for with nothing left to see. The build server (jbuild/server.py)
defers them: `deferring()` around a build queues what `later` is given, and `run_pending` runs
it once the client has its exit code, before the server takes its next request. Everywhere else
(an in-process build, `jbuild watch`, tests) `later` runs its work at once, as before.

Nothing is lost by a server killed in between: the files on disk are those of the build before
(each written whole, to a temporary renamed over it), and the next build, finding their stats
outdated, re-reads what changed since, as after a kill mid-write. A second build within one
request (or one started before `run_pending`) runs what is queued first: `run_pending` at a
build's start."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager

_deferring = False  # inside the server's `deferring()`; else `later` runs its work at once
_pending: list[Callable[[], None]] = []


def later(work: Callable[[], None]) -> None:
    """Run `work` now, or once the client has its answer when the build server defers."""
    if _deferring:
        _pending.append(work)
    else:
        work()


@contextmanager
def deferring():
    """Queue what `later` is given inside (the server, around one request); the caller owes a
    `run_pending` once it has answered."""
    global _deferring
    _deferring = True
    try:
        yield
    finally:
        _deferring = False


def pending() -> int:
    return len(_pending)


def run_pending(log: Callable[[str], None] | None = None) -> None:
    """Run what was deferred, in order. A failure is said (the build it belongs to has answered
    already: in `log`, else on stderr) and the rest still run: each is a save the next build can
    do without."""
    while _pending:
        work = _pending.pop(0)
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - said; the next build re-reads what changed
            line = f"warning: a save deferred past the last build's answer failed: {type(exc).__name__}: {exc}"
            if log is not None:
                log(line)
            else:
                print(line, file=sys.stderr)
