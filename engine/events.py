"""`--build-events FILE`: one JSON object per line, in the spirit of Bazel's Build Event Protocol.

Every event has an integer `id` (1, 2, … in the order written), the `id` of its `parent` (null
only for `started`), its kind in `event`, and `time` (Unix seconds when written); events that
close something (`action_executed`, `target_complete`, `test_result`, `finished`) also carry
`start_time`, `end_time` and `duration` (seconds). The JSON Schema is in docs/ci.md, and a test
validates real events against it; change both together.
"""

from __future__ import annotations

import json
import threading
import time

SCHEMA_VERSION = 1


class EventLog:
    """Writes events as they happen (a killed build leaves every line written so far)."""

    def __init__(self, path: str | None):
        self.file = open(path, "w") if path else None
        self.lock = threading.Lock()
        self.next_id = 1

    def emit(self, kind: str, parent: int | None, **data) -> int:
        """Write one event; returns its id, for its children's `parent`."""
        with self.lock:
            eid = self.next_id
            self.next_id += 1
            if self.file is not None:
                record = {"id": eid, "parent": parent, "event": kind, "time": round(time.time(), 6), **data}
                self.file.write(json.dumps(record, sort_keys=True) + "\n")
                self.file.flush()
        return eid

    def close(self) -> None:
        with self.lock:
            if self.file is not None:
                self.file.close()
                self.file = None


def span(start: float, end: float | None = None) -> dict:
    """start_time, end_time (Unix seconds) and duration of something that has ended."""
    end = time.time() if end is None else end
    return {"start_time": round(start, 6), "end_time": round(end, 6), "duration": round(max(0.0, end - start), 6)}
