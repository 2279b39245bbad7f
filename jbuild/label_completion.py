"""Labels and patterns offered by shell completion (completion.py speaks the shell's protocol).

Every command that takes labels names `complete_labels` as its arguments' `shell_complete`: so
this module imports nothing of click's completion machinery until a completion is asked for.
"""

from __future__ import annotations

import os


def complete_labels(ctx, param, incomplete: str) -> list:
    """click's `shell_complete` for PATTERN arguments: labels and patterns of the workspace of
    the current directory. In a query expression, the word after the last '(', ',' or space."""
    try:
        cut = max(incomplete.rfind(c) for c in "(, ")
        head, tail = incomplete[:cut + 1], incomplete[cut + 1:]
        sign = "-" if tail.startswith("-") else ""
        from click.shell_completion import CompletionItem

        return [CompletionItem(head + sign + c) for c in candidates(tail[len(sign):])]
    except Exception:  # noqa: BLE001 - completion must never print a traceback into a shell
        return []


def candidates(text: str, cwd: str | None = None) -> list[str]:
    """Labels and patterns starting with `text`: package names and patterns until a ':' is
    typed, then the targets of that one package (read through the loader's parse cache)."""
    from jbuild.dsl.errors import RecipeError
    from jbuild.dsl.loader import Loader
    from jbuild.dsl.workspace import Workspace

    try:
        ws = Workspace.find(cwd)
    except RecipeError:
        return []
    repo, prefix = ("std", "@std//") if text.startswith("@") else ("", "//")
    if text.startswith(":"):
        package, prefix = ws.package_of(cwd or os.getcwd()), ""
    elif not (prefix.startswith(text) or text.startswith(prefix)):
        return []
    elif ":" in text[len(prefix):]:
        package = text[len(prefix):].split(":", 1)[0]
    else:
        pkgs = ws.packages_under(repo, "")
        found = [f"{prefix}{p}:" for p in pkgs] + [f"{prefix}{p}/..." for p in pkgs if p] + [f"{prefix}..."]
        return sorted(c for c in found if c.startswith(text))
    loader = Loader(ws)
    names = sorted({t.label.name for t in loader.package(repo, package) or ()} | {"all"})
    loader.save_cache()
    start = f"{prefix}{package}:" if prefix else ":"
    return [start + n for n in names if (start + n).startswith(text)]

