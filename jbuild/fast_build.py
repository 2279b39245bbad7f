"""`jbuild build` parsed without click, for the command lines a build usually has.

Importing click and making the `build` command cost ~25 ms: a quarter of a no-op at 1,000
packages. This parser knows the build options below exactly as click reads them (values after
the option or after `=`, `-jN`, flags anywhere among the patterns, `--` ending options) and
gives up — returns None, and click parses — on anything else: `--help`, `--dry-run`, an option
it does not list, a value that click would refuse or convert, a flag given a value, the remote
executor's options, JBUILD_REMOTE_CA_CERT set. tests/test_fast_build.py checks, on generated
command lines, that every answer it gives is click's.
"""

from __future__ import annotations

import os

from .build_options import BUILD, SANDBOXES

# From build_options.py's rows, as click's `build` is made (one table: the two cannot drift).
# VALUES: an option taking a value -> (parameter, kind); FLAGS: a flag -> (parameter, value).
VALUES = {d: (row["name"], row["kind"]) for row in BUILD if row["fast"] and row["kind"] not in ("flag", "switch")
          for d in row["decls"]}
FLAGS = {flag: (row["name"], value) for row in BUILD if row["fast"] and row["kind"] in ("flag", "switch")
         for d in row["decls"] for value, flag in zip((True, False), d.split("/"), strict=False)}
DEFAULTS = {row["name"]: row["default"] for row in BUILD if row["name"] != "dry_run"}  # (a dry run prints a plan)
FROM_ENVIRONMENT = [row["click"]["envvar"] for row in BUILD if "envvar" in row["click"]]


def parse(argv: list[str]) -> dict | None:
    """The parameters of build_run.build_and_report for `jbuild build ARGS` (or `jbuild //x ...`),
    or None where click must parse (or refuse) the command line."""
    if not argv or any(var in os.environ for var in FROM_ENVIRONMENT):
        return None
    if argv[0] == "build":
        args = argv[1:]
    elif argv[0].startswith(("//", ":", "@")) or not argv[0].startswith("-") and (":" in argv[0] or argv[0].endswith("/...")):
        # `jbuild //x:y` is `jbuild build //x:y`, and so is a relative label (`jbuild services:geotags`;
        # no command name has a ':' or ends with '/...': group.py)
        args = argv
    else:
        return None
    params, patterns = dict(DEFAULTS), []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            patterns += args[i:]
            break
        if not arg.startswith("-"):
            patterns.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name.startswith("--") and name in VALUES:
            if not eq:
                if i == len(args) or args[i].startswith("-"):
                    return None
                value, i = args[i], i + 1
        elif arg[:2] in VALUES and len(arg) > 2 and not eq:  # -j2
            name, value = arg[:2], arg[2:]
        elif arg in VALUES:  # -j 2
            if i == len(args) or args[i].startswith("-"):
                return None
            name, value, i = arg, args[i], i + 1
        elif arg in FLAGS:
            key, flag = FLAGS[arg]
            params[key] = flag
            continue
        else:
            return None
        if not _store(params, *VALUES[name], value):
            return None
    if not patterns:
        return None
    return {"patterns": tuple(patterns), **params}


def _store(params: dict, key: str, kind: str, value: str) -> bool:
    """Set one option's value as click would convert it; False where click might differ."""
    if kind in ("int", "count"):
        if not value.isascii() or not value.isdigit():
            return False  # (click accepts "+2", " 2", "-1" for -j: it parses those itself)
        params[key] = int(value)
    elif kind == "sandbox":
        if value not in SANDBOXES:
            return False
        params[key] = value
    elif kind in ("path", "text"):
        params[key] = value
    else:
        return False  # (a kind this parser does not know: click's)
    return True
