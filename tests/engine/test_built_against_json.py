"""An entry's `built_against` JSON is joined from per-dependency items written without
json.dumps (build_action._json_item): each must be exactly what json.dumps(sort_keys=True)
writes, or two runs' metadata of one build would differ."""

import json

import pytest
from jbuild.engine.build_action import _json_item


@pytest.mark.parametrize("label, entry, exported", [
    ("//lib:z", "0f3a-z-1.2", "9c1d" * 16),
    ('//odd/"quoted":näme\t', "e\n\u2028", "d\\x"),  # quotes, escapes, non-ASCII
    ("//lib:z", "0f3a-z-1.2", None),  # not a digest: json.dumps itself
])
def test_an_item_is_what_json_dumps_writes(label, entry, exported):
    value = {"entry": entry, "exported": exported}
    item = _json_item(label, entry, value)
    assert item == f"{json.dumps(label)}: {json.dumps(value, sort_keys=True)}"
    assert json.loads("{" + item + "}") == {label: value}
