"""Two `jbuild build` of one target in one workspace at the same moment (an editor's save hook
and a terminal, two panes of a watch): each must succeed — or wait for the other — and leave the
result link naming the built environment. Both write the same link (`result`), and a fast no-op
makes their link-writing overlap often. Each writer makes its link under a name of its own
(`result.jbuild-new-<pid>`, engine/result_links.py), then renames it over `result`."""

import os
import subprocess
import sys
import time

from jbuild.engine.result_links import settle
from jbuild.engine.store import Store


def _noop_pair(example):
    env = {**os.environ, "JBUILD_STORE": str(example.store)}
    argv = [sys.executable, "-m", "jbuild", "build", "//services:geotags", "--sandbox", "bwrap"]
    procs = [subprocess.Popen(argv, cwd=example.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    return [(p.wait(timeout=120), p.stderr.read()) for p in procs]


def test_concurrent_noops_of_one_target_all_succeed(example):
    r, _ = example.build()
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 30
    for _ in range(30):  # (or 30 s: a no-op of the example takes 20-300 ms, load permitting)
        if time.monotonic() > deadline:
            break
        for code, err in _noop_pair(example):
            assert code in (0, 9), err  # 9: a lock not had in time
        assert (example.root / "result" / "bin" / "geotags").exists()
        assert not list(example.root.glob("result.jbuild-new*"))


def _link_writer(store_root, link, env, gate, errors):
    Store(store_root)
    for _ in range(60):
        gate.wait()
        try:
            settle(str(store_root), link, [env.name], None, lambda: [[]])
        except Exception as e:  # noqa: BLE001 - any failure counts
            errors.put(repr(e))


def test_result_links_written_at_once_all_succeed(tmp_path):
    """The same race, made likely: processes writing one result link, released together."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    env, gate, errors = tmp_path / "store" / "env", ctx.Barrier(6), ctx.Queue()
    env.mkdir(parents=True)
    procs = [ctx.Process(target=_link_writer, args=(tmp_path / "store", str(tmp_path / "result"), env, gate, errors))
             for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert os.readlink(tmp_path / "result") == str(env)
