"""engine/node.py: a Node hashes and compares in C (no Python call), yet two equal nodes made
apart are equal and hash alike, also after pickling in another process (another str hash seed)
and after a save and restore of the kept session; no table keeps nodes alive."""

import gc
import os
import pickle
import subprocess
import sys
import tracemalloc

from jbuild.dsl.labels import Label
from jbuild.engine.resolve import Node

LIB = Label("", "lib", "lib")


def _node(version="1", flavours=(("opt", "o2"),), resolution="abcd", target="T", label=LIB):
    return Node(target, label, version, flavours, resolution)


def _python_calls(fn) -> int:
    calls = []
    sys.setprofile(lambda frame, event, arg: calls.append(frame.f_code.co_name) if event == "call" else None)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return len([c for c in calls if c != "<lambda>"])


def test_equal_nodes_made_apart_are_equal_and_hash_alike_without_a_python_call():
    a, b = _node(target="one"), _node(target="two")  # (the target is no part of a node's identity)
    assert a is not b and a == b and hash(a) == hash(b) == a._hash == b._hash
    table = {a: "a"}
    assert _python_calls(lambda: (hash(b), a == b, table[b], b in {a})) == 0
    assert table[b] == "a" and b.target == "two"
    for other in (_node(version="2"), _node(flavours=()), _node(resolution=""), _node(label=Label("x", "lib", "lib")),
                  _node(label=Label("", "lib2", "lib")), _node(label=Label("", "lib", "lib2"))):
        assert other != a and other not in table
    assert str(a) == f"{a}" == "//lib:lib@1[opt=o2]" and "abcd" in repr(a)


def test_a_node_is_frozen():
    a = _node()
    for name in ("version", "label", "anything"):
        try:
            setattr(a, name, "x")
        except AttributeError:
            continue
        raise AssertionError(f"{name} was assigned")
    assert a.version == "1" and a.shape.action is False  # (cached properties still fill its dict)


CHILD = """
import pickle, sys
from jbuild.dsl.labels import Label
from jbuild.engine.resolve import Node
n = Node("T", Label("", "lib", "lib"), "1", (("opt", "o2"),), "abcd")
sys.stdout.buffer.write(pickle.dumps({n: "value"}))
"""


def test_a_node_pickled_in_another_process_is_equal_and_hashes_as_one_made_here():
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, check=True, timeout=60).stdout
    (back, value), = pickle.loads(out).items()
    here = _node()
    assert back == here and hash(back) == hash(here) == back._hash and value == "value"
    assert pickle.loads(out)[here] == "value" and back.target == "T" and type(back) is Node
    again = pickle.loads(pickle.dumps(here))
    assert again == here and again.__dict__.keys() == here.__dict__.keys()


def test_no_table_keeps_dropped_nodes_alive():
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for round in range(5):  # (a watch loop re-making every node again and again)
            nodes = {_node(resolution=f"{round}-{i}"): i for i in range(5000)}
            assert len(nodes) == 5000
            del nodes
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 200_000, grown  # (5 x 5,000 nodes took megabytes while alive)


RESTORE = """
import sys
from jbuild.engine import session_file
from jbuild.engine.resolve import Node
from jbuild.engine.settings import Options
back = session_file.restore(__import__("pathlib").Path(sys.argv[1]), Options(sandbox="bwrap", store=sys.argv[2],
                            out_link=None))
assert back is not None
for n in back.node_closure:
    fresh = Node(n.target, n.label, n.version, n.flavours, n.resolution)
    assert fresh == n and hash(fresh) == hash(n) == n._hash and fresh is not n
    assert (fresh in back.settled) == (n in back.settled) and fresh in back.node_closure
print(sorted(n.label.name for n in back.settled if Node(n.target, n.label, n.version, n.flavours, n.resolution)
             in back.settled))
"""


def test_nodes_restored_from_a_kept_session_equal_nodes_made_afresh(make_workspace, tmp_path):
    from test_session_file import built_saved_restored

    s, back = built_saved_restored(make_workspace, tmp_path)
    root = s.ws.root
    analysis = root / ".jbuild" / "cache" / "analysis-test.pickle"
    by_label = {n.label: n for n in s.node_closure}
    assert {n.label.name for n in back.settled} == {"lib", "app"}
    for n in back.node_closure:
        assert n == by_label[n.label] and hash(n) == hash(by_label[n.label]) and n is not by_label[n.label]
    assert all(n in back.settled for n in s.settled)  # (the kept session's dicts answer for the old objects)
    env = {**os.environ, "PYTHONHASHSEED": "777"}  # (another process's str hashes: re-hashed on restore)
    r = subprocess.run([sys.executable, "-c", RESTORE, str(analysis), str(tmp_path / "store")], env=env, capture_output=True,
                       text=True, timeout=60, cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['app', 'lib']"
