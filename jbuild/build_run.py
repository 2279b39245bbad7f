"""`jbuild build` once its options are parsed (by click in build_commands.py, or by
fast_build.py): run the build and say where each root landed. Imports no click: the no-op's
whole command line runs without it."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from . import exitcodes
from .build_options import SHOW_RESULT


def _opts(jobs=None, keep_going=None, strict=None, sandbox="auto", store=None, **more):
    from jbuild.engine.settings import Options

    return Options(jobs=jobs, keep_going=keep_going, strict=strict, sandbox=sandbox, store=store, **more)


def build_and_report(patterns, jobs=None, keep_going=None, strict=None, sandbox="auto", store=None,
                     remote_cache=None, remote_upload=None, strict_interfaces=False, verify_inputs=False,
                     build_events=None, out_link=None, no_link=False, print_out_paths=False,
                     remote_executor=None, remote_instance="", offline=None, remote_ca_cert=None,
                     show_result=SHOW_RESULT) -> int:
    """`jbuild build PATTERNS` (not --dry-run): build, then say where each root landed; the exit code."""
    from jbuild.engine.build import build as run_build

    with events_even_if_refused(build_events):
        opts = _opts(jobs, keep_going, strict, sandbox, store, strict_interfaces=strict_interfaces,
                     verify_inputs=verify_inputs, build_events=build_events,
                     out_link=None if no_link else out_link or "result", link_limit=None if out_link else SHOW_RESULT,
                     offline=offline, remote_cache=remote_cache, remote_upload=remote_upload,
                     remote_executor=remote_executor, remote_instance=remote_instance, remote_ca_cert=remote_ca_cert)
        result = run_build(list(patterns), opts, members=False)  # nothing here prints members
    err, out = [], []  # one write each: `--print-out-paths` of //... prints thousands of lines
    listed = len(result.roots) <= show_result
    for node, entry in result.roots if listed or print_out_paths else ():  # (10,000 roots: not even looked at)
        _print_root(node, entry, result.outputs.get(node, {}), print_out_paths, listed, err, out)
    if not listed:
        err.append(_unlisted(len(result.roots), show_result))
    if result.unlinked:
        err.append(f"no result links ({len(result.roots)} roots, more than {SHOW_RESULT}; `--out-link result` makes "
                   "them): one GC root of this command line keeps what it built")
    _write(sys.stderr, err)
    _write(sys.stdout, out)
    _write(sys.stderr, [f"{node} {why}" for node, why in result.skipped]
           + [f"{test} is a test: built what it needs; `jbuild build` does not run tests"
              for test in (result.tests if result.code == 0 else ())])  # (after a failure, maybe not all)
    return result.code


def _write(stream, lines: list[str]) -> None:
    if lines:
        stream.write("\n".join(lines) + "\n")
        stream.flush()


@contextmanager
def events_even_if_refused(path: str | None):
    """A bad recipe or command line stops jbuild before the build opens its event stream; CI
    still gets one (`started`, then `finished` with exit code 2: docs/ci.md), never the stale
    file of an earlier run."""
    from jbuild.base.errors import BadInput, JbuildError

    start = time.time()
    try:
        yield
    except Exception as exc:
        if isinstance(exc, BadInput) or _is_recipe_error(exc):
            refused_events(path, start, exitcodes.BAD_INPUT)
        elif isinstance(exc, JbuildError) and exc.kind == "nothing_to_build":  # exit 4: nothing to build
            refused_events(path, start, exitcodes.BY_KIND[exc.kind])
        raise


def _is_recipe_error(exc: Exception) -> bool:
    """A RecipeError exists only once its module was imported: a no-op, which never imports it,
    does not import it (~3 ms, with the span types) to ask."""
    errors = sys.modules.get("jbuild.dsl.errors")
    return errors is not None and isinstance(exc, errors.RecipeError)


def refused_events(path: str | None, start: float, code: int) -> None:
    """Write the two events of a run that built nothing, unless this run wrote the file already."""
    import os

    from jbuild.engine.events import SCHEMA_VERSION, EventLog, span

    try:
        if not path or os.path.getmtime(path) >= start:
            return
    except OSError:
        pass
    try:
        log = EventLog(path)
    except OSError:
        return  # the path itself is what was refused
    root = log.emit("started", None, total=0, schema_version=SCHEMA_VERSION)
    log.emit("finished", root, exit_code=code, counts={"built": 0, "reused": 0, "remote": 0, "failed": 0, "skipped": 0},
             tests=dict.fromkeys(("passed", "failed", "flaky", "timeout", "skipped", "cached"), 0), **span(start))
    log.close()


def _print_root(node: str, entry, outputs: dict, print_out_paths: bool, listed: bool, err: list,
                out: list) -> None:
    """`NODE up to date: ENTRY` (when `listed`); a split package's outputs (name -> entry) each on
    a line of their own (and, for scripts, each output's path instead of the set entry's, always)."""
    if listed:
        err.append(f"{node} up to date: {entry}")
        err.extend(f"  {name}: {path}" for name, path in outputs.items())
    if print_out_paths:
        out.extend(str(path) for path in outputs.values() or [entry])


def _unlisted(roots: int, show_result: int) -> str:
    """The one line that replaces more than `--show-result` per-root lines (as Bazel's
    --show_result): how many, and how to see them."""
    return (f"{roots} roots up to date (more than --show-result {show_result}: `--show-result {roots}` "
            f"lists each with its store path, `--print-out-paths` prints the paths on stdout)")
