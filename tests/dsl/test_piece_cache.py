"""A large BUILD file's targets kept piece by piece (dsl/piece_cache.py): after any edit, a
load through the piece cache gives exactly what a load with no cache gives (targets with every
span, and the same messages), and an edit of one item parses only its piece again."""

import random
import shutil

import pytest
from jbuild.dsl import parser, pieces
from jbuild.dsl.errors import RecipeError, render_all
from jbuild.dsl.loader import Loader
from jbuild.dsl.workspace import Workspace

TEMPLATE = 'template tool(v) {\n    version = args.v\n    build = "echo ${args.name} > $OUT/t"\n}\n'


def package(i: int, script: str = "a") -> str:
    req = f"    requires = [:p{i - 1}]\n" if i else ""
    return f'package p{i} {{\n    version = "1.{i}"\n{req}    build = "echo {script} > $OUT/p{i}"\n}}\n'


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 300)


def load(root) -> tuple[str, str, list]:
    """(repr of the targets, rendered errors, templates defined) of the root package, as a
    loader finds them."""
    loader = Loader(Workspace(root))
    targets = loader.package("", "")
    try:
        loader.raise_errors()
    except RecipeError as exc:
        return "", render_all(exc, root=str(root)), loader.templates_in("", "")
    return repr(targets), "", loader.templates_in("", "")


def counting_parses(monkeypatch) -> list:
    """A list that grows by one at each parse of a piece (or a whole file) from now on."""
    calls: list = []
    real = parser.__dict__.get("_real_parse_one", parser.parse_one)
    monkeypatch.setattr(parser, "_real_parse_one", real, raising=False)
    monkeypatch.setattr(parser, "parse_one", lambda text, path: calls.append(1) or real(text, path))
    return calls


def edit(rng: random.Random, items: list[str], n: int) -> None:
    """One random edit of the item list: a script, a line, an item added or gone, a template
    (defined in one piece, called from another) added, changed or gone, a call of it, a syntax
    error made or mended, a name declared twice."""
    i = rng.randrange(len(items))
    what = rng.choice(["script", "script", "comment", "add", "drop", "template", "call", "typo", "mend", "rename"])
    defined = [k for k, t in enumerate(items) if t.startswith("template")]
    if what == "script":
        items[i] = items[i].replace("echo ", f"echo {rng.choice('xyz')}", 1)
    elif what == "comment":
        items.insert(i, f"# note {rng.random()}\n")
    elif what == "add":
        items.insert(i, package(n, rng.choice("bc")))
    elif what == "drop" and len(items) > 3:
        del items[i]
    elif what == "template" and defined and rng.random() < .5:
        del items[defined[0]]
    elif what == "template":
        tmpl = TEMPLATE.replace("$OUT/t", f"$OUT/{rng.randrange(99)}")
        if defined:
            items[defined[0]] = tmpl
        else:
            items.insert(i, tmpl)
    elif what == "call":
        items.insert(i, f'package c{n} = tool("2.{rng.randrange(9)}")\n')
    elif what == "typo":
        items[i] = items[i].replace("=", "==", 1)
    elif what == "mend" or rng.random() < .2:  # errors and templates do not last forever
        items[:] = [t.replace("==", "=") for t in items if not t.startswith("package c")]
    elif what == "rename":
        items[i] = items[i].replace("package p", "package p1", 1)


def test_random_edits_load_as_a_fresh_load(small_pieces, tmp_path, monkeypatch):
    inc, fresh = tmp_path / "inc", tmp_path / "fresh"
    for root in (inc, fresh):
        root.mkdir()
        (root / "jbuild.toml").write_text("")
    rng = random.Random(12)
    items = [package(i) for i in range(40)]
    reused = 0
    for step in range(80):
        edit(rng, items, 40 + step)
        text = "".join(items)
        for root in (inc, fresh):
            (root / "BUILD").write_text(text)
            (root / ".jbuild/cache/parse.pickle").unlink(missing_ok=True)  # parsed again, from pieces
        shutil.rmtree(fresh / ".jbuild", ignore_errors=True)
        calls = counting_parses(monkeypatch)
        found = load(inc)
        reused += 0 < len(calls) < len(list(pieces.bounds(text)))
        assert found == load(fresh), f"step {step}"
    assert reused > 20  # the piece cache was really in use


def test_an_edit_parses_only_its_piece(small_pieces, make_workspace, monkeypatch):
    items = [package(i) for i in range(60)]
    root = make_workspace({"BUILD": "".join(items)})
    first = load(root)
    assert first[1] == "" and first[0].count("Package(") == 60 and first[2] == []
    count = len(list(pieces.bounds("".join(items))))
    calls = counting_parses(monkeypatch)
    items[30] = items[30].replace("echo a", "echo b")
    (root / "BUILD").write_text("".join(items))
    (root / ".jbuild/cache/parse.pickle").unlink(missing_ok=True)
    targets, errors, _ = load(root)
    assert errors == "" and "echo b > $OUT/p30" in targets and count > 8
    assert len(calls) == 1  # the edited piece; the others were read back


def test_a_file_defining_a_template_is_loaded_whole(small_pieces, make_workspace):
    """Another file may call its templates: they are kept with the file (a whole parse)."""
    items = [package(i) for i in range(30)]
    root = make_workspace({"BUILD": "".join(items[:15] + [TEMPLATE] + items[15:])})
    for _ in range(2):  # the second load would find every piece kept, were it lowered by pieces
        (root / ".jbuild/cache/parse.pickle").unlink(missing_ok=True)
        targets, errors, templates = load(root)
        assert errors == "" and templates == ["tool"] and targets.count("Package(") == 30


def test_pieces_kept_under_another_lowering_format_are_parsed_again(small_pieces, make_workspace, monkeypatch):
    """A change of lowering bumps the loader's CACHE_FORMAT: no piece lowered before is read back."""
    from jbuild.dsl import loader

    items = [package(i) for i in range(20)]
    root = make_workspace({"BUILD": "".join(items)})
    assert load(root)[1] == ""
    count = len(list(pieces.bounds("".join(items))))
    monkeypatch.setattr(loader, "CACHE_FORMAT", loader.CACHE_FORMAT + 1)
    calls = counting_parses(monkeypatch)
    (root / ".jbuild/cache/parse.pickle").unlink(missing_ok=True)
    assert load(root)[1] == ""
    assert len(calls) == count > 2  # every piece, none read back
