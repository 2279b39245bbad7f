"""`--build-events FILE`: one JSON object per line, in the spirit of Bazel's Build Event Protocol.

Every event has an integer `id` (1, 2, … in the order written), the `id` of its `parent` (null
only for `started`), its kind in `event`, and `time` (Unix seconds when written); events that
close something (`action_executed`, `target_complete`, `test_result`, `finished`) also carry
`start_time`, `end_time` and `duration` (seconds). The JSON Schema is in docs/ci.md, and a test
validates real events against it; change both together.
"""

from __future__ import annotations

import json
import re
import threading
import time

SCHEMA_VERSION = 1
_PLAIN = re.compile(r'[^ !#-\[\]-~]')  # what json.dumps would escape: not printable ASCII, '"', '\\'


class EventLog:
    """Writes events as they happen (a killed build leaves every line written so far)."""

    def __init__(self, path: str | None):
        self.file = open(path, "w") if path else None
        self.lock = threading.Lock()
        self.next_id = 1
        self.held: list[str] | None = None  # lines kept by `hold` until `release`

    def emit(self, kind: str, parent: int | None, **data) -> int:
        """Write one event; returns its id, for its children's `parent`."""
        with self.lock:
            eid = self.next_id
            self.next_id += 1
            if self.file is not None:
                record = {"id": eid, "parent": parent, "event": kind, "time": round(time.time(), 6), **data}
                if self.held is not None:
                    self.held.append(json.dumps(record, sort_keys=True) + "\n")
                else:
                    self.file.write(json.dumps(record, sort_keys=True) + "\n")
                    self.file.flush()
        return eid

    def hold(self) -> None:
        """Keep lines until `release`, then write them at once (thousands of adopted actions)."""
        with self.lock:
            self.held = []

    def release(self) -> None:
        with self.lock:
            held, self.held = self.held, None
            if self.file is not None and held:
                self.file.write("".join(held))
                self.file.flush()

    def emit_each(self, kind: str, parent: int | None, name: str, values: list[str], **data) -> None:
        """One event per value of the field `name`, the rest alike, written at once: a no-op of
        `//...` reports thousands of targets, and encoding each event whole cost more than the
        rest of the no-op. The line is encoded once, with the id and the value put in after."""
        with self.lock:
            first = self.next_id
            self.next_id += len(values)
            if self.file is None or not values:
                return
            line = json.dumps({"id": -1, "parent": parent, "event": kind, "time": round(time.time(), 6), **data,
                               name: "\0"}, sort_keys=True) + "\n"
            key, id_mark, value_mark = json.dumps(name) + ": ", '"id": -1', json.dumps(name) + ': "\\u0000"'
            at_id, at_value = line.index(id_mark), line.index(value_mark)  # (each unique: keys are not escaped)
            plain = _PLAIN.search("".join(values)) is None  # labels need no escaping: quoted, not encoded
            q, values = ('"', values) if plain else ("", [json.dumps(v) for v in values])
            if at_id < at_value:  # the line is head ID middle VALUE tail, written as one join
                head, middle = line[:at_id] + '"id": ', line[at_id + len(id_mark):at_value] + key + q
                tail = q + line[at_value + len(value_mark):]
                text = head + (tail + head).join([f"{i}{middle}{v}" for i, v in enumerate(values, first)]) + tail
            else:
                head, middle = line[:at_value] + key + q, q + line[at_value + len(value_mark):at_id] + '"id": '
                tail = line[at_id + len(id_mark):]
                text = head + (tail + head).join([f"{v}{middle}{i}" for i, v in enumerate(values, first)]) + tail
            self.file.write(text)
            self.file.flush()

    def close(self) -> None:
        with self.lock:
            if self.file is not None:
                self.file.close()
                self.file = None


def span(start: float, end: float | None = None) -> dict:
    """start_time, end_time (Unix seconds) and duration of something that has ended."""
    end = time.time() if end is None else end
    return {"start_time": round(start, 6), "end_time": round(end, 6), "duration": round(max(0.0, end - start), 6)}
