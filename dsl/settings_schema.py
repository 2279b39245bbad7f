"""What `jbuild.toml` may hold: one table drives validation, its errors and the typed accessor.

An unknown section or key is an error with a did-you-mean, as an unknown recipe attribute is
(a misspelt `[biuld] jobs = 4` silently ignored would be worse than no setting). TOML keeps no
positions, so `locate` finds the line of a section or key by reading the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TYPE_CHECKING = False  # (typing's own import is ~3 ms of a no-op)
if TYPE_CHECKING:  # (imported where a jbuild.toml is checked: a run with an empty one needs neither)
    from .errors import Diagnostic
    from .span import Span


@dataclass(frozen=True)
class SettingSpec:
    key: str
    type: str  # "string", "int>=1", "bool" or "strings"
    doc: str
    reserved: bool = False  # validated now, used by a later version


def _table(*specs: SettingSpec) -> dict[str, SettingSpec]:
    return {s.key: s for s in specs}


BUILD = _table(
    SettingSpec("jobs", "int>=1", "parallel actions (default: the core count)"),
    SettingSpec("keep_going", "bool", "go on building what does not depend on a failure (default: false; true under `CI=true`)"),
    SettingSpec("strict", "bool", "key every build on its inputs' build keys, not interface keys"),
)
SECTIONS = {
    "store": _table(SettingSpec("path", "string", "the store directory, relative to the workspace")),
    "build": BUILD,
    "fetch": _table(SettingSpec("mirrors", "strings",
                                "directories (relative to the workspace) or URLs searched for archives "
                                "before their own URL"),
                    SettingSpec("offline", "bool", "never use the network: archives come from the download "
                                "cache or a mirror directory (as --offline)")),
    "cache": _table(SettingSpec("url", "string", "a shared cache of store entries over HTTP (docs/cache.md)"),
                    SettingSpec("upload", "bool", "push built entries to the cache (default: true)")),
}
PROFILES = "profiles"  # [profiles.NAME] holds the keys of [build]
# What a checked jbuild.toml's acceptance depends on, beside jbuild's version: a memo of the
# settings (dsl/workspace.py) is not trusted under another table.
SCHEMA_KEY = repr(sorted((section, key, spec.type) for section, table in SECTIONS.items() for key, spec in table.items()))

TYPE_NAMES = {"string": "a string", "int>=1": "an integer of at least 1", "bool": "true or false",
              "strings": "a list of strings"}


def spec_for(section: str) -> dict[str, SettingSpec] | None:
    """The keys a section may hold: `build`, or `profiles.ci` (which holds build's)."""
    if section.startswith(PROFILES + "."):
        return BUILD
    return SECTIONS.get(section)


def type_ok(typ: str, value) -> bool:
    if typ == "string":
        return isinstance(value, str)
    if typ == "int>=1":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if typ == "bool":
        return isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _toml_type(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), "a date or time")


def validate(data: dict, text: str, path: str) -> list[Diagnostic]:
    """Every problem of a parsed jbuild.toml, each placed on its line."""
    from .errors import Diagnostic, did_you_mean

    out: list[Diagnostic] = []
    for name, body in data.items():
        if name == PROFILES and isinstance(body, dict):
            for profile, keys in body.items():
                if not isinstance(keys, dict):
                    out.append(Diagnostic(locate(text, path, PROFILES, profile),
                                          f"'{PROFILES}.{profile}' must be a table",
                                          f"write [{PROFILES}.{profile}] and the [build] keys under it"))
                else:
                    out += _check_keys(f"{PROFILES}.{profile}", keys, BUILD, text, path)
        elif name in SECTIONS and isinstance(body, dict):
            out += _check_keys(name, body, SECTIONS[name], text, path)
        elif name in SECTIONS or name == PROFILES:
            out.append(Diagnostic(locate(text, path, "", name), f"'{name}' must be a section",
                                  f"write [{name}] on a line of its own, then its keys"))
        else:
            hint = did_you_mean(name, [*SECTIONS, PROFILES])
            if hint is None and not isinstance(body, dict):
                owner = next((s for s, t in SECTIONS.items() if name in t), None)
                hint = f"it belongs in a section: [{owner}] {name} = ..." if owner else None
            out.append(Diagnostic(locate(text, path, "", name), f"unknown section '{name}' in jbuild.toml",
                                  hint or f"sections: {', '.join(sorted([*SECTIONS, PROFILES + '.NAME']))}"))
    return out


def _check_keys(section: str, body: dict, table: dict[str, SettingSpec], text: str, path: str):
    from .errors import Diagnostic, did_you_mean

    for key, value in body.items():
        spec = table.get(key)
        span = locate(text, path, section, key)
        if spec is None:
            home = next((s for s, t in SECTIONS.items() if key in t and s != section), None)
            yield Diagnostic(span, f"unknown key '{key}' in [{section}]",
                             did_you_mean(key, table) or (f"it belongs in [{home}]" if home else None)
                             or f"[{section}] may hold: {', '.join(table)}")
        elif not type_ok(spec.type, value):
            number = isinstance(value, int) and not isinstance(value, bool) and spec.type == "int>=1"
            yield Diagnostic(span, f"[{section}] {key} must be {TYPE_NAMES[spec.type]}, "
                             f"not {value if number else _toml_type(value)}", f"{key}: {spec.doc}")


_HEADER = re.compile(r"\s*\[\[?\s*([^\]#]+?)\s*\]\]?\s*(?:#.*)?$")


def locate(text: str, path: str, section: str, key: str) -> Span:
    """Where `key` of `section` is written (its header's line if the key is not found alone)."""
    from .span import Span

    current, header_span = "", None
    key_re = re.compile(r"\s*(?:\"|')?" + re.escape(key) + r"(?:\"|')?\s*[=.]")
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            current = re.sub(r"\s*\.\s*", ".", m[1]).replace('"', "").replace("'", "")
            if current == (f"{section}.{key}" if section else key):
                col = line.index(m[1]) + 1
                return Span(path, n, col, n, col + len(m[1]))
            if current == section:
                header_span = Span(path, n, 1, n, len(line.rstrip()) + 1)
            continue
        if current == section and key_re.match(line):
            col = len(line) - len(line.lstrip()) + 1
            return Span(path, n, col, n, col + len(key))
    return header_span or Span(path, 1, 1)


def reference_table() -> str:
    """The settings table of docs/language.md (a test keeps the two equal)."""
    rows = ["| section | key | type | meaning |", "|---|---|---|---|"]
    for section, table in (*SECTIONS.items(), (PROFILES + ".NAME", BUILD)):
        for spec in table.values():
            note = " (reserved: checked, not yet used)" if spec.reserved else ""
            rows.append(f"| `[{section}]` | `{spec.key}` | {TYPE_NAMES[spec.type]} | {spec.doc}{note} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(reference_table())
