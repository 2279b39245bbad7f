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

from .build_run import SANDBOXES, SHOW_RESULT

VALUES = {"-j": "jobs", "--jobs": "jobs", "--sandbox": "sandbox", "--store": "store", "--build-events": "build_events",
          "--out-link": "out_link", "--show-result": "show_result", "--remote-cache": "remote_cache"}
FLAGS = {"-k": ("keep_going", True), "--keep-going": ("keep_going", True), "--no-keep-going": ("keep_going", False),
         "--strict": ("strict", True), "--no-link": ("no_link", True), "--print-out-paths": ("print_out_paths", True),
         "--offline": ("offline", True), "--strict-interfaces": ("strict_interfaces", True),
         "--verify-inputs": ("verify_inputs", True), "--remote-upload": ("remote_upload", True),
         "--no-remote-upload": ("remote_upload", False)}
DEFAULTS = {"jobs": None, "keep_going": None, "strict": None, "sandbox": "auto", "store": None, "remote_cache": None,
            "remote_upload": None, "strict_interfaces": False, "verify_inputs": False, "build_events": None,
            "out_link": "result", "no_link": False, "print_out_paths": False, "remote_executor": None,
            "remote_instance": "", "offline": None, "remote_ca_cert": None, "show_result": SHOW_RESULT}


def parse(argv: list[str]) -> dict | None:
    """The parameters of build_run.build_and_report for `jbuild build ARGS` (or `jbuild //x ...`),
    or None where click must parse (or refuse) the command line."""
    if not argv or "JBUILD_REMOTE_CA_CERT" in os.environ:
        return None
    if argv[0] == "build":
        args = argv[1:]
    elif argv[0].startswith(("//", ":", "@")):  # `jbuild //x:y` is `jbuild build //x:y` (group.py)
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
        elif arg.startswith("-j") and len(arg) > 2 and not eq:  # -j2
            name, value = "-j", arg[2:]
        elif arg == "-j":
            if i == len(args) or args[i].startswith("-"):
                return None
            name, value, i = arg, args[i], i + 1
        elif arg in FLAGS:
            key, flag = FLAGS[arg]
            params[key] = flag
            continue
        else:
            return None
        if not _store(params, VALUES[name], value):
            return None
    if not patterns:
        return None
    return {"patterns": tuple(patterns), **params}


def _store(params: dict, key: str, value: str) -> bool:
    """Set one option's value as click would convert it; False where click might differ."""
    if key in ("jobs", "show_result"):
        if not value.isascii() or not value.isdigit():
            return False  # (click accepts "+2", " 2", "-1" for -j: it parses those itself)
        params[key] = int(value)
    elif key == "sandbox":
        if value not in SANDBOXES:
            return False
        params[key] = value
    else:
        params[key] = value
    return True
