"""`jbuild gc` deletes the host trees (`<store>/.host/<key>/`, the sandbox's /usr) that no GC
root names and nobody used within --unused-for days (engine/hostroot_gc.py); a killed gc
leaves no half tree under a key's name. Real CLI, real dpkg database, real bubblewrap."""

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time

from helpers import run_jbuild, write_tree
from jbuild.engine import hostroot
from jbuild.engine.gc import gc
from jbuild.engine.store import Store

OLD = time.time() - 30 * 86400


def trees(store):
    return sorted(p.name for p in (store / ".host").iterdir() if p.is_dir() and not p.name.startswith("."))


def make_old(path):
    os.utime(path, (OLD, OLD))


def test_gc_keeps_rooted_and_recent_trees_and_deletes_the_rest(tmp_path):
    root, store = tmp_path / "ws", tmp_path / "store"
    write_tree(root, {"jbuild.toml": "", "BUILD": '''
        package p {
            version = "1"
            build_requires = [@std//host:sh]
            build = "mkdir -p $OUT/share && echo p > $OUT/share/p"
        }
    '''})

    def jb(*args):
        r = run_jbuild(*args, cwd=root, env={"JBUILD_STORE": str(store)})
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout + r.stderr

    jb("build", "//:p", "--sandbox", "bwrap")
    [built] = trees(store)  # the tree //:p was built over: its result link's root names it
    spare = hostroot.host_root(store, ["make"]).key  # assembled by nobody's build: no root names it
    assert spare != built and (store / ".host" / spare / "usr" / "bin" / "make").is_file()

    out = jb("gc")  # used just now: both stay
    assert ".host/" not in out and trees(store) == sorted([built, spare])

    make_old(store / ".host" / spare)
    make_old(store / ".host" / built)
    out = jb("gc", "--dry-run")
    assert f"would delete .host/{spare}" in out and built not in out and spare in trees(store)
    out = jb("gc")
    assert f"deleting .host/{spare}" in out and built not in out and "bytes freed" in out
    assert trees(store) == [built] and not list((store / ".host").glob(".trash-*"))

    (root / "result").unlink()  # nothing roots the build any more: the next gc takes its tree too
    out = jb("gc", "--unused-for", "0")
    assert f"deleting .host/{built}" in out and trees(store) == []

    jb("build", "//:p", "--sandbox", "bwrap")  # rebuilt over a tree assembled again
    assert trees(store) == [built] and (root / "result" / "share" / "p").read_text() == "p\n"
    make_old(store / ".host" / built)
    assert built not in jb("build", "//:p", "--sandbox", "bwrap")  # a no-op build re-roots it ...
    assert ".host/" not in jb("gc", "--unused-for", "0") and trees(store) == [built]  # ... with its tree


def test_a_process_that_remembers_a_deleted_tree_assembles_it_again(tmp_path):
    """A watch keeps host_root's memo between rounds; a gc between them must not leave it a
    path that is gone."""
    store = Store(tmp_path / "store")
    first = hostroot.host_root(store.root, ["make"])
    make_old(first.usr.parent)
    report = gc(store, unused_for_days=1)
    assert f".host/{first.key}" in [p for p, _ in report.trimmed] and not first.usr.exists()
    again = hostroot.host_root(store.root, ["make"])
    assert again.key == first.key and (again.usr / "bin" / "make").is_file()


def test_freed_counts_copies_not_links_to_the_hosts_files(tmp_path):
    store = Store(tmp_path / "store")
    tree = hostroot.host_root(store.root, ["make"]).usr.parent
    make = tree / "usr" / "bin" / "make"  # programs are copied (hostroot.COPIED)
    libc = tree / "usr" / "lib" / "x86_64-linux-gnu" / "libc.so.6"
    assert os.stat(make).st_nlink == 1 and os.stat(libc).st_nlink > 1
    make_old(tree)
    report = gc(store, unused_for_days=1)
    freed = dict(report.trimmed)[f".host/{tree.name}"]
    assert os.path.getsize("/usr/bin/make") <= freed < os.path.getsize("/usr/bin/make") + 50_000_000
    assert os.path.exists("/usr/lib/x86_64-linux-gnu/libc.so.6")  # the host's own file, linked, is untouched


KILLED_GC = """
import os, shutil, signal, sys
from jbuild.engine import hostroot_gc
from jbuild.engine.gc import gc
from jbuild.engine.store import Store

real = shutil.rmtree
def rmtree_then_die(path, ignore_errors=False):
    real(os.path.join(path, "usr", "bin"))  # half the tree gone ...
    os.kill(os.getpid(), signal.SIGKILL)  # ... then killed
hostroot_gc.shutil.rmtree = rmtree_then_die
gc(Store(sys.argv[1]), unused_for_days=1)
"""


def test_a_gc_killed_while_deleting_leaves_no_half_tree(tmp_path):
    store = Store(tmp_path / "store")
    first = hostroot.host_root(store.root, ["make"])
    make_old(first.usr.parent)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_GC), str(store.root)], check=False)
    assert r.returncode == -signal.SIGKILL
    [trash] = (store.root / ".host").glob(f".trash-{first.key}-*")
    assert not (trash / "usr" / "bin").exists() and not first.usr.exists()  # the half tree has another name

    hostroot._MEMO.clear()  # a new process
    again = hostroot.host_root(store.root, ["make"])
    assert (again.usr / "bin" / "make").is_file()  # assembled whole, not the half one
    report = gc(store, unused_for_days=1)  # the next gc deletes the killed one's trash
    assert [p for p, _ in report.trimmed] == [f".host/{trash.name}"] and not trash.exists()
    assert again.usr.is_dir()  # used just now: kept


def test_gc_waits_for_a_running_build_before_it_deletes_a_tree(tmp_path):
    """A build holds the store's lock shared for its whole run (engine/build.py): the trees it
    runs over are not deleted under it, however old they look."""
    store = Store(tmp_path / "store")
    tree = hostroot.host_root(store.root, ["make"]).usr.parent
    make_old(tree)
    with store.shared():  # as a running build
        gc_run = subprocess.Popen([sys.executable, "-m", "jbuild", "gc", "--unused-for", "0", "--store",
                                   str(store.root)], stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        assert gc_run.poll() is None and tree.is_dir()  # waiting for the lock
    out, _ = gc_run.communicate(timeout=120)
    assert gc_run.returncode == 0 and f"deleting .host/{tree.name}" in out and not tree.exists()


def test_gc_deletes_a_trees_lock_with_it_but_never_a_lock_someone_holds(tmp_path):
    """`<key>.lock` goes with its tree, and so does a lock left without a tree; a lock someone
    holds (an assembler outside the store lock's protocol) stays, with its tree."""
    store = Store(tmp_path / "store")
    host = store.root / ".host"
    tree = hostroot.host_root(store.root, ["make"]).usr.parent
    busy = hostroot.host_root(store.root, ["dash"]).usr.parent
    (host / "0123abcd.lock").touch()  # an assembler crashed before making its tree
    (host / "4567ef01.lock").touch()  # ... or still holds it
    for path in (tree, busy):
        make_old(path)
    holders = []
    for name in (f"{busy.name}.lock", "4567ef01.lock"):
        fd = os.open(host / name, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        holders.append(fd)
    try:
        assert {p for p, _ in gc(store, dry_run=True, unused_for_days=1).trimmed} == \
            {f".host/{tree.name}", ".host/0123abcd.lock"}
        report = gc(store, unused_for_days=1)
    finally:
        for fd in holders:
            os.close(fd)
    assert {p for p, _ in report.trimmed} == {f".host/{tree.name}", ".host/0123abcd.lock"}
    assert sorted(p.name for p in host.iterdir()) == sorted([busy.name, f"{busy.name}.lock", "4567ef01.lock"])
    hostroot._MEMO.clear()  # a new process: the next build assembles the tree again, with a new lock
    again = hostroot.host_root(store.root, ["make"])
    assert (again.usr / "bin" / "make").is_file() and (host / f"{tree.name}.lock").is_file()
