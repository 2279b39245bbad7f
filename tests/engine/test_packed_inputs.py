"""The hot file's key inputs are read back only when something looks into them
(engine/packed_inputs.py): a PackedInputs reads as the KeyInputs it stands for in every way the
engine reads one; a source edit reads none of them, a libc patch at most once, and both build
what they must; a torn hot file
restores nothing. The CLI cases run the real CLI in a subprocess and report what it read."""

import io
import json
import os
import pickle
import subprocess
import sys

from helpers import outcomes
from jbuild.engine import packed_inputs
from jbuild.engine.analysis_file import Unpickler, dumps
from jbuild.engine.keys import KeyInputs
from test_session import FILES  # libc, mid over libc, top over both

A = KeyInputs("r", {"a.c": "d1"}, {"@std//host:cc": "f"}, "bwrap+x", {"//:libc": "e"}, {"//:tool": "k"})
B = KeyInputs("r2")


def _packed(value):
    """`value` written as the hot file writes it and read back (its KeyInputs packed)."""
    entries, reduce = packed_inputs.packing()
    body = dumps(value, {KeyInputs: reduce, packed_inputs.PackedInputs: reduce})
    table = packed_inputs.Table(pickle.dumps(entries), len(entries))
    return Unpickler(io.BytesIO(body), [], inputs=table.packed()).load(), table


def test_a_packed_inputs_reads_as_its_key_inputs():
    got, table = _packed({"settled": (1, "e", A), "predicted": A, "other": B})
    x = got["predicted"]
    assert type(x) is packed_inputs.PackedInputs and got["settled"][2] is x  # one object where one was
    assert table.real is None  # nothing read yet
    assert x == A and A == x and not x != A and not A != x and x != B and B != x and x != got["other"]
    assert (x.recipe, x.sources, x.platform, x.sandbox, x.interfaces, x.tools) == tuple(A)
    assert x[1] == {"a.c": "d1"} and x[1:3] == A[1:3] and len(x) == 6 and list(x) == list(A)
    recipe, sources, *_ = x
    assert (recipe, sources) == ("r", {"a.c": "d1"})
    assert x.as_dict() == A.as_dict() and x.key() == A.key() and repr(x) == repr(A)
    assert json.dumps(x.as_dict()) == json.dumps(A.as_dict())  # (what the store's index is given)
    again = pickle.loads(pickle.dumps(x))  # pickled elsewhere (a journal record): as the KeyInputs itself
    assert type(again) is KeyInputs and again == A
    assert isinstance(x, KeyInputs) and packed_inputs.real(x) == A and type(packed_inputs.real(x)) is KeyInputs


def test_packed_inputs_are_written_again_as_they_were():
    got, _ = _packed({"settled": (1, "e", A), "predicted": A})
    again, table = _packed(got)  # (a hot file written whole from a restored session)
    assert again["settled"][2] is again["predicted"] and table.real is None
    assert again["predicted"] == A


PROBE = """
import atexit, json, sys, runpy
def report():
    from jbuild.engine import packed_inputs
    print("PROBE " + json.dumps({**packed_inputs.READ_BACK, "parsed": "jbuild.dsl.syntax" in sys.modules}))
atexit.register(report)
sys.argv = ["jbuild", *sys.argv[1:]]
runpy.run_module("jbuild", run_name="__main__")
"""


def _build(root, tmp_path):
    events = tmp_path / "events.json"
    events.unlink(missing_ok=True)
    r = subprocess.run([sys.executable, "-c", PROBE, "build", "//...", "--sandbox", "bwrap", "--no-link",
                        "--build-events", str(events)], cwd=root, env={**os.environ, "JBUILD_STORE": str(tmp_path / "s")},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    probe = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("PROBE "))[6:])
    return outcomes(events), probe


def test_an_edit_reads_no_key_inputs_a_patch_reads_them_a_torn_hot_file_restores_nothing(make_workspace, tmp_path):
    root = make_workspace(FILES)
    _build(root, tmp_path)
    (root / "top.c").write_text("top 2\n")
    _build(root, tmp_path)  # (the first run after an analysis writes the hot file whole)
    (root / "top.c").write_text("top 3\n")
    done, probe = _build(root, tmp_path)
    assert done == {"//:libc": "reused", "//:mid": "reused", "//:top": "built"}
    assert probe == {"tables": 0, "parsed": False}, probe
    (root / "libc" / "impl.c").write_text("impl 2\n")  # its interface unchanged: its consumers' keys hold
    done, probe = _build(root, tmp_path)
    assert done == {"//:libc": "built", "//:mid": "reused", "//:top": "reused"}
    assert probe["tables"] <= 1 and not probe["parsed"], probe  # (read once if at all: cutoff.py may not look)
    (hot,) = (root / ".jbuild" / "cache").glob("session-*.hot.pickle")
    hot.write_bytes(hot.read_bytes()[: hot.stat().st_size // 3])  # torn (as no rename leaves it: a damaged disk)
    (root / "mid.c").write_text("mid 2\n")
    done, probe = _build(root, tmp_path)
    assert probe["parsed"] and done == {"//:libc": "reused", "//:mid": "built", "//:top": "built"}
