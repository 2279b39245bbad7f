"""base/dataclass_code.py: data classes made from kept code behave as those compiled afresh, the
file is written only where bytecode would be, and a bad file is ignored. Each case runs in a
fresh interpreter (the module patches `dataclasses` for the process's life)."""

import os
import subprocess
import sys

# Made in each child: every generated function is exercised (init with a default and a factory,
# repr, eq, hash, frozen assignment, order), and its annotations must be the objects themselves:
# compiled under this module's `from __future__ import annotations` they would be strings.
CHILD = r'''
import sys
from jbuild.base import dataclass_code
if sys.argv[2] == "no-compile":
    def refuse(*a, **k):
        raise AssertionError("compiled though kept")
    dataclass_code.compile = refuse  # (the module global shadows the builtin)
dataclass_code.install(sys.argv[1])
import dataclasses

@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Point:
    x: int
    y: int = 2
    tags: tuple = dataclasses.field(default_factory=tuple)

p = Point(1)
assert p == Point(1, 2, ()) and p != Point(1, 3) and p < Point(2), p
assert hash(p) == hash(Point(1, 2, ())), p
assert repr(p) == "Point(x=1, y=2, tags=())", repr(p)
assert Point.__init__.__annotations__["x"] is int, Point.__init__.__annotations__
try:
    p.x = 5
except dataclasses.FrozenInstanceError:
    pass
else:
    raise AssertionError("not frozen")
print("OK")
'''


def _child(tmp_path, file, mode="compile", write=True):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if not write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    r = subprocess.run([sys.executable, "-c", CHILD, str(file), mode], env=env, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "OK", r.stderr
    return r


def test_kept_code_makes_the_same_classes_without_compiling(tmp_path):
    file = tmp_path / "pycache" / "dc.marshal"
    _child(tmp_path, file)  # compiles, writes at exit
    assert file.stat().st_size > 0
    _child(tmp_path, file, "no-compile")  # every function from the file


def test_no_file_where_bytecode_is_not_written(tmp_path):
    file = tmp_path / "dc.marshal"
    _child(tmp_path, file, write=False)
    assert not file.exists()


def test_a_torn_or_foreign_file_is_ignored_and_replaced(tmp_path):
    file = tmp_path / "dc.marshal"
    _child(tmp_path, file)
    whole = file.read_bytes()
    for bad in (whole[: len(whole) // 2], b"jbuild-dc1" + b"\0" * 4 + whole[14:], b"garbage"):
        file.write_bytes(bad)
        _child(tmp_path, file)  # compiles afresh (a torn file reads as nothing)
        _child(tmp_path, file, "no-compile")  # and the file written at exit is whole again
