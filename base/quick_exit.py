"""Leaving the `jbuild` process once a command is done, without the interpreter's shutdown.

At 10,000 packages a build holds a few million small objects (the kept session, the plan, the
rebuilder's maps). Freeing them when `build()` returns, then tearing the interpreter down
(modules, the store index's connection: a WAL checkpoint with its fdatasyncs), cost ~100 ms of
a 0.5 s leaf edit. The real CLI entry (`cli.main` with no argv: the console script and
`python -m jbuild`) arms this module; the engine hands it what it would otherwise free (`keep`);
`leave` then does explicitly what a normal exit would do that matters, and `os._exit`s:

- the atexit handlers run (the store's `.runs` marker, the trash remover joined, logging,
  weakref finalizers such as temporary directories): `atexit._run_exitfuncs`;
- stdout and stderr are flushed (a failed flush exits 120, as Python's own exit does);
- a non-daemon thread still alive (Python would join it) sends us to the normal exit instead.

What is not done is what a `kill -9` would not do either, and every part of the store and of
the kept session survives that: the SQLite index is in WAL mode (its last commits stay in the
WAL, read back by the next opener; SQLite checkpoints it every 1,000 pages), each cache file is
written to a temporary and renamed. Nothing is written at exit that is not already durable in
the sense a kill leaves it. In-process callers (tests, click's CliRunner) never arm it: `keep`
then holds nothing.
"""

from __future__ import annotations

import os
import sys

_armed = False
_kept: tuple = ()  # what the last command left: freed by the process's end, not object by object


def arm() -> None:
    """The process ends with `leave` (the CLI's own entry point only)."""
    global _armed
    _armed = True


def armed() -> bool:
    """Does the process end with `leave` (the CLI's own entry point), its objects never freed
    one by one? (A caller may then freeze what it made out of the cyclic collector's way.)"""
    return _armed


def keep(*objects) -> None:
    """Hold `objects` (a build's session, plan, rebuilder) until the process ends, when armed.
    One command's worth: a later `keep` (`jbuild watch` builds again and again) lets go of the
    earlier one."""
    global _kept
    if _armed:
        _kept = objects


def release() -> None:
    """Let go of what `keep` holds (before a new build fills memory again)."""
    global _kept
    _kept = ()


def leave(code: int) -> None:
    """End the process with `code`: quickly when armed and nothing needs the normal exit, else
    as `sys.exit` does."""
    import threading

    if not _armed or any(t.is_alive() and not t.daemon for t in threading.enumerate()
                         if t is not threading.main_thread()):
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            code = code or 120  # (Python's own exit status when flushing stdout fails)
    os._exit(code)
