"""`version_check`: compare a recipe's `version` with what upstream's own files report.

A bumped recipe whose sources are still the old tarball (or the reverse) builds happily and
lies in its name. The check becomes shell steps around the build script (so it runs in the
sandbox, and enters the recipe hash as part of the script):

    version_check = { file = "zlib.h", regex = "define ZLIB_VERSION \"([^\"]+)\"" }
        before the build: the first match of the regex in $SRC/zlib.h, its first group
    version_check = { command = "$OUT/bin/lua -v", regex = "Lua ([0-9.]+)" }
        after the build: the same over the command's output (stdout and stderr)

The regex is a POSIX extended one (sed -E); without one, the first version-looking word is
taken. A mismatch fails the build naming both versions.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT = r"^[^0-9]*([0-9][0-9A-Za-z.+~-]*).*"
KEYS = ("file", "command", "regex")


@dataclass(frozen=True)
class VersionCheck:
    file: str | None
    command: str | None
    regex: str | None


def problem(values: dict) -> tuple[str, str] | None:
    """(message, help) if a version_check map is malformed."""
    example = 'e.g. { file = "zlib.h", regex = "ZLIB_VERSION \\"([^\\"]+)\\"" }'
    unknown = [k for k in values if k not in KEYS]
    if unknown:
        return f"version_check has no key '{unknown[0]}'", f"its keys: {', '.join(KEYS)}"
    if ("file" in values) == ("command" in values):
        return "version_check needs exactly one of 'file' and 'command'", example
    if any(not isinstance(v, str) or not v for v in values.values()):
        return "version_check's values are non-empty strings", example
    regex = values.get("regex")
    if regex is not None and "(" not in regex.replace("\\(", ""):
        return "version_check's regex needs a group: the version is what its first group matches", example
    file = values.get("file", "")
    if file.startswith("/") or ".." in file.split("/"):
        return f"'{file}' is not a path inside the sources", "name a file relative to $SRC, e.g. \"zlib.h\""
    return None


def wrap(build: str, version: str, check: VersionCheck) -> str:
    """The build script with the check before it (file) or after it (command)."""
    if check.file is not None:
        where = f"$SRC/{check.file}"
        before = (f'[ -f {_dq(where)} ] || {{ echo "jbuild: version_check: no file {_esc(check.file)} in the '
                  f'sources" >&2; exit 1; }}\n'
                  f"jbuild_found=$(sed -n -E {_sed(check.regex)} {_dq(where)} | head -n 1)\n")
        return before + _compare(version, check.file, check.file, check.regex) + build
    after = (f"jbuild_found=$({check.command} 2>&1 | sed -n -E {_sed(check.regex)} | head -n 1)\n"
             + _compare(version, f"'{check.command}'", f"the output of '{check.command}'", check.regex))
    return build.rstrip("\n") + "\n" + after


def _compare(version: str, what: str, where: str, regex: str | None) -> str:
    """Nothing found is its own message: "says ''" would read as an empty version upstream."""
    pattern = f"the regex {regex}" if regex is not None else "a version number"
    nothing = f"jbuild: version_check failed: nothing in {where} matches {pattern} (the recipe says version {version})"
    return (f"if [ -z \"$jbuild_found\" ]; then\n"
            f"    printf '%s\\n' {_sq(nothing)} >&2\n"
            "    exit 1\n"
            "fi\n"
            f"if [ \"$jbuild_found\" != {_sq(version)} ]; then\n"
            f"    echo \"jbuild: version_check failed: the recipe says version {version}, but "
            f"{_esc(what)} says '$jbuild_found'\" >&2\n"
            "    exit 1\n"
            "fi\n")


def _sed(regex: str | None) -> str:
    body = DEFAULT if regex is None else ".*" + regex + ".*"
    return _sq("s/" + body.replace("/", "\\/") + "/\\1/p")


def _sq(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _dq(text: str) -> str:
    return '"' + _esc(text) + '"'


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
