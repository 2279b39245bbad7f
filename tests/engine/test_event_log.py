"""EventLog.emit_each (engine/events.py): the no-op's thousands of events, encoded once and
filled in, read back exactly as one emit each would have written them."""

import json

from jbuild.engine.events import EventLog


def _read(path):
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in path.read_text().splitlines()]


def test_emit_each_writes_what_one_emit_per_value_writes(tmp_path):
    tricky = ["//:a@1", '//x:"q%s"\\', "//ü:é\n", '"id": -1', "\0"]
    data = {"outcome": "reused", "cache": {"source": "local"}, "reason": '50% "id": -1 \0', "start_time": 1.5}
    one, many = tmp_path / "one.json", tmp_path / "many.json"
    log = EventLog(str(one))
    root = log.emit("started", None, total=5)
    for v in tricky:
        log.emit("target_complete", root, target=v, **data)
    log.emit("finished", root)
    log.close()
    log = EventLog(str(many))
    root = log.emit("started", None, total=5)
    log.emit_each("target_complete", root, "target", tricky, **data)
    log.emit("finished", root)
    log.close()
    assert _read(many) == _read(one)
    assert [e["id"] for e in _read(many)] == [1, 2, 3, 4, 5, 6, 7]


def test_emit_each_with_the_value_before_the_id_and_no_file(tmp_path):
    path = tmp_path / "e.json"
    log = EventLog(str(path))
    log.emit_each("x", None, "a", ["v1", "v2"], z=1)  # "a" sorts before "id"
    log.close()
    assert _read(path) == [{"a": "v1", "event": "x", "id": 1, "parent": None, "z": 1},
                           {"a": "v2", "event": "x", "id": 2, "parent": None, "z": 1}]
    quiet = EventLog(None)
    quiet.emit_each("x", None, "a", ["v1", "v2"])
    assert quiet.emit("y", None) == 3  # ids are counted without a file too


def test_emit_each_of_plain_labels_writes_what_json_writes(tmp_path):
    """Labels that need no escaping are quoted, not encoded (the no-op's 10,000 targets): the
    lines are still exactly json.dumps's, whatever the other fields hold ('%s' included)."""
    plain = ["//src:p0", "//:a@1.0-b", "@std//host:cc", "//a/b:c+d~e"]
    data = {"reason": 'inputs %s unchanged 100% "%d"', "cache": {"source": "local"}}
    one, many = tmp_path / "one.json", tmp_path / "many.json"
    log = EventLog(str(one))
    for v in plain:
        log.emit("target_complete", 7, target=v, **data)
    log.close()
    log = EventLog(str(many))
    log.emit_each("target_complete", 7, "target", plain, **data)
    log.close()

    def untimed(path):
        return [json.dumps({k: v for k, v in json.loads(line).items() if k != "time"}, sort_keys=True)
                for line in path.read_text().splitlines()]

    assert untimed(many) == untimed(one)
    assert all(f'"target": "{v}"' in line for v, line in zip(plain, many.read_text().splitlines(), strict=True))
