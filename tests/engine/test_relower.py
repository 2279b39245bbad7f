"""A BUILD edit in place of a large file, through the CLI's kept session, re-lowers the edited
piece without reading the loader or the analysis's targets back (engine/relower.py): the edited
package alone is built, the no-op snapshot is updated rather than recorded whole (and says what a
whole recording says), the next run is a no-op; lines added on top are taken in so too (the targets
below moved by their records' shifts, never read back), and an edit that adds a package (taken
the usual way, from the loader read back and patched to match) builds what it must."""

from __future__ import annotations

import dataclasses
import re
import shutil

from jbuild.base.cachefile import read
from jbuild.engine import analysis_file, noop, snapshot
from jbuild.engine.build import build
from jbuild.engine.settings import Options
from test_noop_since import _build  # (the CLI's build of //..., its outcomes and stderr)

COUNT = 40  # packages of ~1 KB each: a file of a few pieces (dsl/pieces.py, 16 KB each)


def _text(scripts: dict[int, str], top: int = 0) -> str:
    out = ["# top\n" * top]
    for i in range(COUNT):
        reqs = f"    requires = [:p{i // 2}]\n" if i else ""
        out.append(f'package p{i} {{\n    version = "1"\n    sources = ["src/p{i}.txt"]\n{reqs}'
                   f'    build = "mkdir -p $OUT && cat $SRC/src/p{i}.txt > $OUT/p{i} # {scripts.get(i, "")}"\n'
                   + "".join(f"    # {'padding ' * 12}{j}\n" for j in range(15)) + "}\n")
    return "".join(out)


def _extra() -> str:
    return 'package extra {\n    version = "1"\n    build = "mkdir -p $OUT"\n}\n'


def _snapshot(root):
    (path,) = (root / ".jbuild" / "cache").glob("analysis-*.pickle")
    snap = read(path, snapshot.FORMAT, None)
    out = {k: v for k, v in dataclasses.asdict(snap).items() if k not in ("recorded_at", "session")}
    out["dirs"] = {p: state[1:] for p, state in out["dirs"].items()}
    return out


def test_an_edit_in_place_reads_no_loader_back_and_builds_what_changed(make_workspace, tmp_path, monkeypatch):
    root = make_workspace({f"src/p{i}.txt": f"{i}\n" for i in range(COUNT)} | {"BUILD": _text({})})
    assert len(_text({})) > 3 * 16 * 1024
    _build(root, tmp_path)
    (root / "BUILD").write_text(_text({7: "edited"}))

    def whole(*args):
        raise AssertionError("the no-op snapshot recorded whole (it reads the loader back)")

    monkeypatch.setattr(noop, "record", whole)
    before = dict(analysis_file.READ_BACK)
    result = build(["//..."], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None), str(root),
                   members=False)
    assert result.code == 0
    assert analysis_file.READ_BACK["heavy"] == before["heavy"]  # no loader, no families read back
    assert analysis_file.READ_BACK["targets"] - before["targets"] < COUNT / 2  # those of the edited piece
    monkeypatch.undo()
    updated = _snapshot(root)
    build_file = str(root / "BUILD")
    assert updated["files"].pop(build_file) == snapshot.stat_of(root / "BUILD")  # the edited file's new stat
    ran, err = _build(root, tmp_path)
    assert set(ran.values()) == {"reused"} and f"0 built, {COUNT} reused" in err  # a no-op
    (root / "BUILD").write_text(_text({7: "edited", 30: "also"}, top=3))  # lines on top: taken in too
    ran, _ = _build(root, tmp_path)
    assert {k for k, v in ran.items() if v == "built"} == {"//:p30"}
    (root / "BUILD").write_text(_text({7: "edited", 30: "also"}, top=3) + _extra())  # a package added: the
    ran, _ = _build(root, tmp_path)  # loader read back (patched to match), the usual way
    assert {k for k, v in ran.items() if v == "built"} == {"//:extra"}
    (root / "BUILD").write_text(_text({7: "again", 30: "also"}, top=1) + _extra())  # from there, in place again
    ran, err = _build(root, tmp_path)
    assert {k for k, v in ran.items() if v == "built"} == {"//:p7"}, err
    (root / "BUILD").write_text(_text({7: "again", 30: "also"}, top=5) + _extra())  # lines on top, in process
    before = dict(analysis_file.READ_BACK)
    result = build(["//..."], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None), str(root),
                   members=False)
    assert result.code == 0 and analysis_file.READ_BACK["heavy"] == before["heavy"]
    assert analysis_file.READ_BACK["targets"] - before["targets"] < COUNT * 3 // 4  # the first piece's, their requirers'
    shutil.rmtree(root / ".jbuild")  # a cold analysis sees the same, and records the same
    ran, _ = _build(root, tmp_path)
    assert set(ran.values()) == {"reused"}
    (root / "BUILD").write_text(_text({7: "edited"}))
    shutil.rmtree(root / ".jbuild")
    _build(root, tmp_path)
    whole = _snapshot(root)
    whole["files"].pop(build_file)  # (written again: another stat)
    assert whole == updated


def test_a_kept_analysis_after_an_edit_in_place_names_the_new_recipe(make_workspace, tmp_path):
    """The analysis written after such edits copies the loader's part and its targets' records
    as bytes but the edited one's: read back whole (a query loads the loader), it has the edit,
    and every target's spans at the lines the last edit put it on."""
    root = make_workspace({f"src/p{i}.txt": f"{i}\n" for i in range(COUNT)} | {"BUILD": _text({})})
    _build(root, tmp_path)
    (root / "BUILD").write_text(_text({12: "edited"}))
    assert _build(root, tmp_path)[0]["//:p12"] == "built"
    text = _text({12: "edited"}, top=4)
    (root / "BUILD").write_text(text)  # lines on top: nothing to build, every target two lines down
    assert set(_build(root, tmp_path)[0].values()) == {"reused"}
    from jbuild.engine import session_file

    (cache,) = (root / ".jbuild" / "cache").glob("analysis-*.pickle")
    s = session_file.restore(cache, Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None))
    assert s is not None and s.changed_files() == []
    (p12,) = s.families[next(lb for lb in s.families if lb.name == "p12")]
    assert re.search(r"# edited", p12.build)
    assert p12.span.line == text.splitlines().index("package p12 {") + 1  # read back at its new line
    entry = s.loader._cache[str(root / "BUILD")]
    assert entry.expanded[12] is p12 and entry.digest != "" and len(entry.pieces) > 2
    assert [t.label.name for t in entry.expanded] == [f"p{i}" for i in range(COUNT)]


def test_an_edit_in_place_copies_the_closures_part_and_reads_back_what_an_analysis_makes(make_workspace, tmp_path,
                                                                                         monkeypatch):
    """A build script changed: the nodes and edges are as they were, so the rewritten analysis
    copies the closures' bytes (session_file._closures_part) rather than pickling 40,000 edges
    again at 10,000 packages — and reads back the closures a whole analysis makes."""
    from jbuild.engine import session_file
    from jbuild.engine.resolve import kept_edges
    from jbuild.engine.session import Session

    root = make_workspace({f"src/p{i}.txt": f"{i}\n" for i in range(COUNT)} | {"BUILD": _text({})})
    opts = Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None)
    _build(root, tmp_path)
    (root / "BUILD").write_text(_text({7: "edited"}))

    def pickled(*args):
        raise AssertionError("the closures pickled again")

    monkeypatch.setattr(session_file, "_closure_reducer", pickled)
    assert build(["//..."], opts, str(root), members=False).code == 0
    monkeypatch.undo()
    (cache,) = (root / ".jbuild" / "cache").glob("analysis-*.pickle")
    back = session_file.restore(cache, opts)
    fresh = Session(["//..."], opts, str(root))
    assert [c.root for c in back.closures] == [c.root for c in fresh.closures]
    assert list(back.closures[0].nodes.items()) == list(fresh.closures[0].nodes.items())
    assert list(back.closures[0].deps.items()) == list(kept_edges(fresh.closures[0].deps).items())
    edited = next(n for n in back.closures[0].nodes.values() if n.label.name == "p7")
    assert "edited" in edited.target.build and back.update([]).affected == set()
