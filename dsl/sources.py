"""Sources from elsewhere: `archive(...)` and `git(...)` in `sources`, and `patches`.

Lowering's helpers for these attributes (lowering.py delegates here): each argument is checked
against a small table, so an unknown argument gets a did-you-mean and a malformed hash an error
at its own span. What a fetched source contributes to a key is decided by the engine
(`engine/fetch/digest.py`): its content hash, never its URL.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from . import model as m
from . import syntax as st
from .errors import did_you_mean

# name -> (converter, required, meaning): drives checks, errors and docs/language.md
ARCHIVE_ARGS = {
    "url": ("url", True, "where the archive is fetched from (http, https, file or mirror://NAME/PATH)"),
    "sha256": ("sha256", True, "the archive's SHA-256, 64 hex digits: what is verified and what enters the key"),
    "strip": ("count", False, "leading path components dropped from each member (default 0; 1 for NAME-1.2/...)"),
}
GIT_ARGS = {
    "url": ("url", True, "the repository (https, http, file, or a path)"),
    "commit": ("commit", True, "a full commit id (40 or 64 hex digits), never a branch or tag"),
}
FUNCTIONS = {"archive": ARCHIVE_ARGS, "git": GIT_ARGS}
URL_SCHEMES = ("http", "https", "file", "mirror")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def fetched(lw, call: st.Call) -> m.Fetched:
    """An `archive(...)` or `git(...)` call of `sources`, checked argument by argument."""
    table = FUNCTIONS[call.name]
    if call.args:
        lw.fail(call.args[0].span, f"{call.name}() takes named arguments",
                f"write {call.name}(" + ", ".join(f"{k} = ..." for k, v in table.items() if v[1]) + ")")
    values: dict = {}
    for key, expr in call.kwargs:
        if key not in table:
            lw.fail(expr.span, f"{call.name}() has no argument '{key}'",
                    did_you_mean(key, table) or f"{call.name}() takes: {', '.join(table)}")
        if key in values:
            lw.fail(expr.span, f"'{key}' is given twice")
        values[key] = CONVERTERS[table[key][0]](lw, expr, key)
    missing = [k for k, (_, required, _) in table.items() if required and k not in values]
    if missing:
        lw.fail(call.span, f"{call.name}() needs '{missing[0]}'", f"{missing[0]}: {table[missing[0]][2]}")
    if call.name == "archive":
        return m.Archive(values["url"], values["sha256"], values.get("strip", 0), call.span)
    return m.GitSource(values["url"], values["commit"], call.span)


def _url(lw, expr, key) -> str:
    text = lw.conv_string(expr, key)
    if _fetchable(text):
        return text
    lw.fail(expr.span, f"'{text}' is not a URL jbuild can fetch",
            "use http://, https://, file:// or mirror://NAME/PATH (found only in [fetch] mirrors)")


def _fetchable(text: str) -> bool:
    """An absolute path, or a URL of a scheme jbuild fetches with, without blanks."""
    try:
        scheme = urlsplit(text).scheme
    except ValueError:  # e.g. a bracketed host that is no IP address
        return False
    if any(c.isspace() for c in text):
        return False
    return text.startswith("/") or (scheme in URL_SCHEMES and len(text) > len(scheme) + 3)


def _sha256(lw, expr, key) -> str:
    text = lw.conv_string(expr, key)
    if _HEX64.fullmatch(text.lower()):
        return text.lower()
    lw.fail(expr.span, f"'sha256' must be 64 hexadecimal digits, not '{text}' ({len(text)} characters)",
            "compute it with: sha256sum FILE")


def _commit(lw, expr, key) -> str:
    text = lw.conv_string(expr, key)
    if _COMMIT.fullmatch(text.lower()):
        return text.lower()
    lw.fail(expr.span, f"'commit' must be a full commit id (40 hex digits), not '{text}'",
            "a branch or tag moves, and a key must not: run `git rev-parse TAG` and write the id")


def _count(lw, expr, key) -> int:
    if isinstance(expr, st.Int) and expr.value >= 0:
        return expr.value
    lw.fail(expr.span, f"'{key}' takes a whole number (0 or more)", f"e.g. {key} = 1")


CONVERTERS = {"url": _url, "sha256": _sha256, "commit": _commit, "count": _count}


def conv_count(lw, expr, name) -> int:
    return _count(lw, expr, name)


def conv_patches(lw, expr, name) -> m.FileSet:
    """`patches = ["patches/fix.patch", ...]`: files of this package, applied in this order."""
    out = []
    for item in lw.flatten_list(expr, name):
        if not isinstance(item, st.Str):
            lw.fail(item.span, f"'{name}' takes a list of file paths (strings)", 'e.g. ["patches/fix-cve.patch"]')
        path = lw.relative_path(item)
        if path in out:
            lw.fail(item.span, f"patch '{path}' is listed twice")
        out.append(path)
    return m.FileSet(tuple(out), span=expr.span)


def package_fields(lw, values: dict) -> dict:
    """Package fields for sources and patches. A patch is a declared source: the loader checks
    it exists and adds it to the package's files (so its content enters the source hash)."""
    sources = values.get("sources", m.FileSet())
    patches = values.get("patches", m.FileSet())
    if patches and not sources:
        lw.error(patches.span, "'patches' need 'sources' to patch",
                 "declare the sources, e.g. sources = archive(url = ..., sha256 = ...)")
    return {"sources": sources, "patches": patches, "patch_strip": values.get("patch_strip", 1)}


def reference_table() -> str:
    """The argument table of docs/language.md (a test keeps the two equal)."""
    rows = ["| call | argument | meaning |", "|---|---|---|"]
    for name, table in FUNCTIONS.items():
        for arg, (_, required, doc) in table.items():
            rows.append(f"| `{name}()` | `{arg}`{' (required)' if required else ''} | {doc} |")
    return "\n".join(rows)
