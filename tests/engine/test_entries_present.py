"""The no-op and adoption paths ask "is every entry still in the store?" by one listing of the
store for many entries and by a stat each for a few (snapshot.entries_present): both answer
alike, and both notice an entry a gc took. Entry paths skip pathlib's parsing (Store.path)."""

import shutil
import subprocess

from jbuild.engine import snapshot
from jbuild.engine.build import run
from jbuild.engine.session import Session
from jbuild.engine.settings import Options
from jbuild.engine.store import Store

BUILD = "\n".join(f'package p{i} {{ version = "1" build = "mkdir -p $OUT && echo {i} > $OUT/f" }}' for i in range(4))


def _built(make_workspace, tmp_path):
    root = make_workspace({"BUILD": BUILD})
    store = tmp_path / "store"
    s = Session(["//..."], Options(sandbox="bwrap", store=str(store), out_link=None), str(root))
    code, rb = run(s.plan())
    assert code == 0
    return store, [rb.entry_of(n) for n in rb.outcomes]


def test_listing_and_stats_agree_and_notice_a_vanished_entry(make_workspace, tmp_path):
    store, names = _built(make_workspace, tmp_path)
    assert len(names) == 4
    for listing_from in (0, 1000):  # the listing, then a stat each
        assert snapshot.entries_present(str(store), names, listing_from)
        assert not snapshot.entries_present(str(store), [*names, names[0] + "x"], listing_from)
    subprocess.run(["chmod", "-R", "u+w", str(store / names[1])], check=True)
    shutil.rmtree(store / names[1])
    for listing_from in (0, 1000):
        assert not snapshot.entries_present(str(store), names, listing_from)
    assert not snapshot.entries_present(str(tmp_path / "no-store"), names, 0)


def test_an_entry_path_is_the_path_pathlib_would_make(tmp_path):
    store = Store(tmp_path / "store")
    for name in ("abc-p1-1.0", "sub/dir", "x.y"):
        fast, slow = store.path(name), store.root / name
        assert fast == slow and str(fast) == str(slow) and fast.name == slow.name and fast.parent == slow.parent
        assert hash(fast) == hash(slow)
