"""How a query's result is printed: `label` (one per line, sorted), `location` (`file:line:col:
kind label`, for editors), `json` (one object per item, with its resolved requirements), and
`graph` (GraphViz DOT: the result's items and the requirements between them)."""

from __future__ import annotations

import json

from .evaluate import BuildFile, kind_of, sort_key

FORMATS = ("label", "graph", "json", "location")


def render(result, output: str) -> str:
    """The whole output, ending with a newline unless empty."""
    lines = {"label": _labels, "location": _locations, "json": _json, "graph": _dot}[output](result)
    return "".join(line + "\n" for line in lines)


def _labels(result):
    return [str(i) for i in result.items]


def _where(session, item, t=None) -> tuple[str, int, int]:
    """(absolute BUILD file, line, column) of a target's declaration, or of a BUILD file."""
    if isinstance(item, BuildFile):
        return item.path, 1, 1
    path = str(session.workspace.build_file(item.repo, item.package))
    return path, t.span.line, t.span.col


def _locations(result):
    s = result.session
    out = []
    for item in result.items:
        targets = s.targets_of(item) or [None]
        for t in targets:  # each version of a family is declared on its own lines
            path, line, col = _where(s, item, t)
            version = f"@{t.version}" if t is not None and t.version is not None and len(targets) > 1 else ""
            out.append(f"{path}:{line}:{col}: {kind_of(item, targets)} {item}{version}")
    return out


def _json(result):
    s = result.session
    g = s.graph
    data = []
    for item in result.items:
        targets = s.targets_of(item)
        path, line, col = _where(s, item, targets[0] if targets else None)
        entry = {"label": str(item), "kind": kind_of(item, targets), "location": f"{path}:{line}:{col}"}
        if not isinstance(item, BuildFile):
            entry["versions"] = sorted(v for v in g.versions.get(item, ()) if v)
            entry["requires"] = [{"label": str(d), "kind": k}
                                 for d in sorted(g.edges.get(item, {}), key=sort_key) for k in sorted(g.kinds(item, d))]
        data.append(entry)
    return [json.dumps(data, indent=1)]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(result):
    """DOT, as Bazel's `--output graph`: an edge from each item to each item it requires."""
    g = result.session.graph
    chosen = set(result.items)
    out = ["digraph jbuild {", "  node [shape=box];"]
    for item in result.items:
        out.append(f"  {_quote(str(item))};")
    for item in result.items:
        for dep in sorted(g.edges.get(item, {}), key=sort_key):
            if dep in chosen:
                kinds = ",".join(sorted(g.kinds(item, dep)))
                style = ' style="dashed"' if kinds == "run_requires" else ""
                out.append(f"  {_quote(str(item))} -> {_quote(str(dep))} [label={_quote(kinds)}{style}];")
    out.append("}")
    return out
