"""A build cleans the store's leftovers only when a process that wrote it died (store/runs.py):
real processes, killed with SIGKILL mid-temporary, and the next cleaning finds what they left."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from jbuild.engine.store import Store
from jbuild.engine.store.runs import DIR

KILLED = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from jbuild.engine.store import Store
    from jbuild.engine.store.temporaries import temporary
    store = Store(sys.argv[1])
    victim = store.root / "k9-old-1"
    victim.mkdir()
    os.rename(victim, store.root / ".trash-half-deleted")  # as a discard killed mid-way leaves it
    with store.temporary() as tmp:
        (tmp.out / "f").write_text("half")
        if sys.argv[2] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    os.rename(store.root / ".trash-half-deleted", victim)
""")


def leftovers(store: Store) -> list[str]:
    return sorted(p for p in os.listdir(store.root) if p.startswith((".tmp-", ".trash-")))


def markers(store: Store) -> list[str]:
    return sorted(os.listdir(store.root / DIR))


def run(store: Store, how: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILLED, str(store.root), how], capture_output=True, text=True)


def test_a_process_that_ends_normally_leaves_no_marker(tmp_path):
    store = Store(tmp_path / "s")
    proc = run(store, "finish")
    assert proc.returncode == 0, proc.stderr
    assert markers(store) == [] and leftovers(store) == []


def test_a_run_killed_mid_way_is_cleaned_by_the_next(tmp_path):
    store = Store(tmp_path / "s")
    proc = run(store, "kill")
    assert proc.returncode == -9, proc.stderr
    assert len(markers(store)) == 1  # its flock is free now: it died
    assert any(p.endswith(".out") for p in leftovers(store)) and ".trash-half-deleted" in leftovers(store)
    with store.shared():
        assert store.clean_temporaries() >= 2
    assert leftovers(store) == [] and markers(store) == []


def test_without_a_dead_process_the_store_is_not_listed(tmp_path):
    store = Store(tmp_path / "s")
    with store.shared():
        store.clean_temporaries()  # (a store of an older jbuild, without .runs: cleaned once, then has it)
    assert (store.root / DIR).is_dir()
    (store.root / ".trash-planted").mkdir()  # what no process of this jbuild can leave unannounced
    with store.shared():
        assert store.clean_temporaries() == 0
    assert leftovers(store) == [".trash-planted"]
    with store.shared():  # gc and verify clean whatever is there
        assert store.clean_temporaries(always=True) == 1
    assert leftovers(store) == []


def test_a_store_of_an_older_jbuild_is_cleaned_once(tmp_path):
    store = Store(tmp_path / "s")
    (store.root / ".trash-old").mkdir()
    assert not (store.root / DIR).exists()
    with store.shared():
        assert store.clean_temporaries() == 1
    assert leftovers(store) == [] and (store.root / DIR).is_dir()


def test_a_live_process_is_not_taken_for_a_dead_one(tmp_path):
    store = Store(tmp_path / "s")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys
        from jbuild.engine.store import Store
        store = Store(sys.argv[1])
        with store.temporary() as tmp:
            print("ready", flush=True)
            sys.stdin.readline()
    """), str(store.root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        with store.shared():
            assert store.clean_temporaries() == 0
        assert len(markers(store)) == 1 and any(p.endswith(".out") for p in leftovers(store))
    finally:
        holder.communicate("\n")
    assert holder.returncode == 0 and markers(store) == [] and leftovers(store) == []


POOLED = textwrap.dedent("""
    import os, signal, sys
    from jbuild.engine.store import Store
    store = Store(sys.argv[1])
    with store.reused_temporaries():
        with store.temporary(reuse=True) as tmp:
            (tmp.work / "left-in-tmp").write_text("x")  # so this work tree is replaced, on the remover
        with store.temporary(reuse=True) as tmp:
            (tmp.out / "f").write_text("half")
            if sys.argv[2] == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_runs_pooled_temporaries_are_announced_too(tmp_path):
    """A run's workers reuse their temporaries (temporaries.Pool): a normal end leaves no marker
    and nothing behind; a kill leaves a marker, so the next build cleans what it left."""
    store = Store(tmp_path / "s")
    for how, code in (("finish", 0), ("kill", -9)):
        proc = subprocess.run([sys.executable, "-c", POOLED, str(store.root), how], capture_output=True, text=True)
        assert proc.returncode == code, proc.stderr
        if how == "finish":
            assert markers(store) == [] and leftovers(store) == []
    assert len(markers(store)) == 1 and any(p.endswith(".out") for p in leftovers(store))
    with store.shared():
        assert store.clean_temporaries() >= 1
    assert leftovers(store) == [] and markers(store) == []
