"""A BUILD-file edit through the kept analysis gives exactly what a cold analysis gives.

Random edits of one large BUILD file (cut into small pieces here, each edit's cuts found from the
last ones: dsl/pieces.py) — a build script, a package added or removed, a requirement added or
removed, lines inserted at the top,
a version, a version constraint, a flavour and a flavour asked for, a template defined and
called, a syntax error made and mended — each followed by what the CLI does: the kept session
restored from its files, the changed files found by their stats, the session updated (the
edited pieces parsed, the shared resolution and the action graph updated: engine/reresolve.py,
engine/regraph.py; an edit in place taken in without reading the loader back, engine/relower.py)
and saved. After
every edit, the result is compared with a cold analysis of a fresh copy of the workspace: the
same nodes with the same resolutions, edges, predicted build and interface keys and targets
(spans included), or the same error, to the character (file:line:col and the caret).
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest
from jbuild.base.errors import JbuildError
from jbuild.dsl import piece_cache, pieces
from jbuild.dsl.errors import RecipeError, render_all
from jbuild.engine import regraph, relower, reresolve, session_file
from jbuild.engine.session import Session
from jbuild.engine.settings import Options

TEMPLATE = 'template tool(v) {\n    version = args.v\n    build = "echo ${args.name} > $OUT/t"\n}\n'


class Workspace:
    """The BUILD file as data: packages (name -> spec), lines on top, a template, a typo."""

    def __init__(self, rng: random.Random, count: int):
        self.rng, self.top, self.template, self.typo, self.next = rng, 0, False, False, count
        self.packages: dict[str, dict] = {}
        for i in range(count):
            self.add(f"p{i}")

    def add(self, name: str) -> None:
        names = list(self.packages)
        reqs = {n: "" for n in self.rng.sample(names, min(len(names), self.rng.randrange(3)))}
        self.packages[name] = {"version": "1.0", "script": "a", "requires": reqs, "flavours": False}

    def text(self) -> str:
        out = ["# top\n" * self.top]
        for name, p in self.packages.items():
            reqs = ", ".join(f":{r}{how}" for r, how in p["requires"].items())
            out.append(
                f'package {name} {{\n    version {"==" if self.typo and name == "p3" else "="} "{p["version"]}"\n'
                f'    sources = ["src/{name}.txt"]\n'
                + ("    flavours { opt = [a, b] default a }\n" if p["flavours"] else "")
                + (f"    requires = [{reqs}]\n" if reqs else "")
                + f'    build = "mkdir -p $OUT && cat $SRC/src/{name}.txt > $OUT/{name} # {p["script"]}"\n}}\n')
        if self.template:
            out.append(TEMPLATE + 'package made = tool("2.1")\n')
        return "".join(out)

    def edit(self) -> str:
        """One random edit; returns what it was."""
        rng, names = self.rng, list(self.packages)
        what = rng.choice(["script", "script", "add", "remove", "require", "unrequire", "top", "version",
                           "constraint", "flavour", "ask flavour", "template", "typo"])
        name = rng.choice(names)
        p = self.packages[name]
        self.typo = self.template = False  # an error, a template (a whole parse), a flavour asked for
        for q in self.packages.values():  # or a constraint (a resolution with search) lasts one edit
            q["requires"] = dict.fromkeys(q["requires"], "")
        if what == "script":
            p["script"] = f"s{rng.randrange(10 ** 6)}"
        elif what == "add":
            self.add(f"p{self.next}")
            self.next += 1
        elif what == "remove" and len(names) > 4:
            del self.packages[name]
            for q in self.packages.values():
                q["requires"].pop(name, None)
        elif what in ("require", "constraint", "ask flavour"):
            earlier = names[:names.index(name)]
            if earlier:
                dep = rng.choice(earlier)
                p["requires"][dep] = {"require": "", "constraint": rng.choice([" >= 1.0", " >= 1.1", " < 1.1"]),
                                      "ask flavour": "[opt=b]"}[what]
        elif what == "unrequire" and p["requires"]:
            del p["requires"][rng.choice(list(p["requires"]))]
        elif what == "top":
            self.top += rng.randrange(1, 4)
        elif what == "version":
            p["version"] = rng.choice(["1.0", "1.1", "0.9"])
        elif what == "flavour":
            p["flavours"] = not p["flavours"]
        elif what == "template":
            self.template = True
        elif what == "typo" and "p3" in self.packages:
            self.typo = True
        return f"{what} {name}"


def write(root: Path, ws: Workspace) -> None:
    (root / "src").mkdir(parents=True, exist_ok=True)
    for name in ws.packages:
        f = root / "src" / f"{name}.txt"
        if not f.exists():
            f.write_text(f"{name}\n")
    (root / "BUILD").write_text(ws.text())


def analysis(make) -> tuple:
    """What an analysis says: its error, or every node with its resolution, edges, keys and
    target (spans included: they are in a target's repr), and the action graph."""
    try:
        s = make()
    except RecipeError as exc:
        return ("error", render_all(exc, root="/nowhere"))
    except JbuildError as exc:
        return ("error", str(exc))
    if getattr(s, "store", None) is not None:  # (40 sessions a test: their index connections would pile up)
        s.store.index.close()
    keys = s.computer.keys
    nodes = []
    for n, c in s.node_closure.items():
        edges = sorted((r.kind.value, d.id, d.resolution) for r, d in c.deps.get(n, ()))
        nodes.append((n.id, n.resolution, keys.build.get(n), keys.interface.get(n), edges, repr(n.target)))
    return ("ok", sorted(nodes), sorted(str(c.root) for c in s.closures), actions(s)), s


def actions(s) -> list:
    """The action graph (updated from the last one after an edit: engine/regraph.py): each action
    with its edges; its order puts dependencies first and, where the closures share one set of
    nodes, its objects are theirs (a re-made node's new object, with its new target)."""
    graph = s.graph
    at = {n: i for i, n in enumerate(graph.nodes)}
    assert len(at) == len(graph.nodes) == len(graph.deps)
    assert all(at[d] < at[n] for n in graph.nodes for d in graph.deps[n])
    assert all(n in graph.deps[c] for n in graph.nodes for c in graph.consumers[n])
    if len({id(c.nodes) for c in s.closures}) == 1:
        mine = {id(n) for n in s.node_closure}
        assert all(id(d) in mine for n in graph.nodes for d in (n, *graph.deps[n]))
    return sorted((n.id, n.resolution, sorted((d.id, d.resolution) for d in graph.deps[n])) for n in graph.nodes)


def opts(root: Path) -> Options:
    return Options(sandbox="bwrap", store=str(root.parent / (root.name + "-store")), out_link=None)


def incremental(root: Path, cache: Path, used: dict):
    """The CLI's way: the kept session restored, updated with the files whose stats changed."""
    def make():
        s = session_file.restore(cache, opts(root))
        changed = s.changed_files() if s is not None else None
        s = Session(["//..."], opts(root), str(root)) if changed is None else s
        if changed is not None:
            used["updates"] += 1
            s.update(changed)
        return s
    found = analysis(make)
    if found[0] != "error":
        session_file.save(found[1], cache)
        return found[0]
    return found


def pair(tmp_path: Path, ws: Workspace) -> tuple[Path, Path, Path]:
    """Two copies of `ws`, one analysed through the kept session and one cold, and that
    session's file. It waits past the racy-clean margin of their jbuild.toml: an analysis within
    20 ms of that write rightly distrusts it, and analyses whole."""
    inc, fresh = tmp_path / "inc", tmp_path / "fresh"
    for root in (inc, fresh):
        root.mkdir()
        (root / "jbuild.toml").write_text("")
        write(root, ws)
    time.sleep(0.05)
    return inc, fresh, inc / ".jbuild" / "cache" / "analysis-test.pickle"


def edited(inc: Path, fresh: Path, cache: Path, ws: Workspace, used: dict):
    """`ws` written to both copies: (the kept session's analysis, a cold one)."""
    for root in (inc, fresh):
        write(root, ws)
    return incremental(inc, cache, used), cold(fresh)


def cold(root: Path):
    shutil.rmtree(root / ".jbuild", ignore_errors=True)
    found = analysis(lambda: Session(["//..."], opts(root), str(root)))
    return found if found[0] == "error" else found[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_build_edits_analyse_as_a_cold_analysis(seed, tmp_path, monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 200)
    used = {"updates": 0, "reresolved": 0, "same shape": 0, "kept": 0, "rebounds": 0, "regraphed": 0,
            "relowered": 0}
    real_update, real_lower, real_same = reresolve.update, piece_cache.lower_by_pieces, reresolve._same_shape
    real_rebounds, real_regraph, real_relower = pieces.rebounds, regraph.updated, relower.update

    def counted_relower(*args):
        found = real_relower(*args)
        used["relowered"] += found is not None
        return found

    def counted_regraph(*args):
        found = real_regraph(*args)
        used["regraphed"] += found is not None
        return found

    def counted_rebounds(*args):
        used["rebounds"] += 1
        return real_rebounds(*args)

    def counted_same(*args):
        found = real_same(*args)
        used["same shape"] += found is not None
        return found

    def counted_update(*args):
        found = real_update(*args)
        used["reresolved"] += found is not None
        return found

    def counted_lower(*args):
        found = real_lower(*args)
        used["kept"] += found is not None and any(p.kept for p in found)
        return found

    monkeypatch.setattr(reresolve, "update", counted_update)
    monkeypatch.setattr(reresolve, "_same_shape", counted_same)
    monkeypatch.setattr(piece_cache, "lower_by_pieces", counted_lower)
    monkeypatch.setattr(pieces, "rebounds", counted_rebounds)
    monkeypatch.setattr(regraph, "updated", counted_regraph)
    monkeypatch.setattr(relower, "update", counted_relower)
    rng = random.Random(seed)
    ws = Workspace(rng, 24)
    inc, fresh, cache = pair(tmp_path, ws)
    assert incremental(inc, cache, used)[0] == "ok"
    assert len(list(pieces.bounds((inc / "BUILD").read_text()))) > 5
    errors = 0
    for step in range(40):
        what = ws.edit()
        got, want = edited(inc, fresh, cache, ws, used)
        errors += got[0] == "error"
        assert got == want, f"step {step}: {what}"
    assert errors >= 2  # the error paths were really compared too
    # ... and the incremental paths were really taken: the kept session updated, pieces kept (their
    # cuts found from the last ones), the resolution and the action graph updated rather than made
    # again, and edits taken in without reading the loader back (engine/relower.py; lines on top
    # too: the pieces below moved by their records' shifts; the edits after those read it back
    # patched)
    assert used["updates"] >= 35 and used["kept"] >= 8 and used["reresolved"] - used["same shape"] >= 3 \
        and used["same shape"] >= 3 and used["rebounds"] >= 15 and used["regraphed"] >= 8 \
        and used["relowered"] >= 8, used
    ws.template = ws.typo = False
    for _ in range(2):  # lines on top of a file without a template or an error: the second taken in
        before, ws.top = used["relowered"], ws.top + 2  # by relower.py (the pieces below moved)
        got, want = edited(inc, fresh, cache, ws, used)
        assert got == want
    assert used["relowered"] == before + 1
