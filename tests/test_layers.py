"""Layers import one way: cli -> engine -> dsl -> lark. dsl never imports engine."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def imports_of(folder: str):
    for path in (REPO / folder).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                yield path, ("." * node.level) + mod
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name


def test_dsl_never_imports_engine_or_cli():
    bad = [(str(p), m) for p, m in imports_of("dsl") if "engine" in m or m.startswith(("jbuild.cli", ".."))]
    assert bad == []


def test_only_the_dsl_parsers_import_lark():
    """The recipe parser (with its tree transformer) and the query parser, each translating lark's
    errors at its boundary."""
    users = {p.name for p, m in imports_of("dsl") if m.split(".")[0] == "lark"}
    assert users == {"parser.py", "to_syntax.py", "query.py"}
    outside = [(str(p), m) for folder in ("base", "engine", "jbuild") for p, m in imports_of(folder)
               if m.split(".")[0] == "lark"]
    assert outside == []


def test_engine_never_imports_cli():
    """Not the CLI modules, and not the top-level jbuild package (which is the CLI)."""
    bad = [m for _, m in imports_of("engine")
           if m.startswith("jbuild") and not m.startswith(("jbuild.base", "jbuild.dsl", "jbuild.engine"))]
    assert bad == []


def test_scheduler_knows_nothing_of_keys_store_or_sandbox():
    engine_imports = [m for p, m in imports_of("engine") if p.name == "scheduler.py"]
    assert not [m for m in engine_imports if m.lstrip(".") in ("keys", "store", "sandbox", "rebuilder")
                or m.startswith(("jbuild", "."))]


def test_base_imports_neither_dsl_nor_engine_nor_cli():
    bad = [(p.name, m) for p, m in imports_of("base")
           if m.startswith(("jbuild.dsl", "jbuild.engine", "jbuild.cli", "..")) or m in ("jbuild",)]
    assert bad == []
