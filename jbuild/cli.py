"""The command line: a thin layer over jbuild.dsl and jbuild.engine.

Each command imports what it needs inside its body, so `jbuild --help` and a warm no-op stay
fast. Every error leaves through `main()`, which maps it to an exit code (exitcodes.py).

`jbuild build` with the options a build usually has is parsed without click (fast_build.py:
importing click and making the command costs more than a no-op's own work at 1,000 packages);
anything else, and anything it does not know for sure, goes to click (group.py).
"""

from __future__ import annotations

import os
import sys

from . import exitcodes


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map every outcome to an exit code, never a traceback for bad input. Without
    `argv` (the console script, `python -m jbuild`: the process is ours) it ends the process
    without the interpreter's shutdown (base/quick_exit.py); with it (a caller in-process), as
    `sys.exit`."""
    if argv is not None:
        sys.exit(run(argv))
    if server_wanted(os.environ) and sys.argv[1:2] != [NO_SERVER] and "_JBUILD_COMPLETE" not in os.environ:
        _through_server()
    import gc

    from jbuild.base import quick_exit

    gc.set_threshold(*GC_THRESHOLDS)
    quick_exit.arm()
    quick_exit.leave(run(argv))


# `jbuild --no-server ...` (as `bazel --batch`): this command in-process, whatever JBUILD_SERVER says.
NO_SERVER = "--no-server"


def server_wanted(environ) -> bool:
    """The build server is the default (as Bazel's), on Linux (SO_PEERCRED, /proc/self/ns);
    JBUILD_SERVER=0 (or false, no, off) turns it off."""
    return sys.platform == "linux" and environ.get("JBUILD_SERVER", "").lower() not in ("0", "false", "no", "off")


def _through_server() -> None:
    """A build the fast path takes runs in the workspace's resident server (server_client.py,
    docs/server.md); this process exits with its exit code. Anything else returns: in-process."""
    from .server_client import forward

    code = forward(sys.argv[1:])
    if code is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


# The cyclic collector's thresholds in the CLI's own process. At the default (700 allocations) a
# leaf edit at 10,000 packages ran ~100 collections, 20-50 ms of its ~450, each young generation
# full of the run's maps that all survive (a build makes few cycles: its objects are freed at
# exit, base/quick_exit.py). 50,000 lets at most that many objects of garbage wait: a few MB.
GC_THRESHOLDS = (50_000, 20, 10)


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM stops a build like Ctrl-C: children killed, exit 8


def run(argv: list[str] | None = None) -> int:
    import signal

    from jbuild.base import dataclass_code

    dataclass_code.install()  # (every command imports data classes: their functions compiled once, kept)
    if threading_is_main():
        signal.signal(signal.SIGTERM, _terminate)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [NO_SERVER]:
        argv = argv[1:]
    try:
        if "_JBUILD_COMPLETE" not in os.environ:
            from .fast_build import parse

            params = parse(argv)
            if params is not None:
                from .build_run import build_and_report

                return build_and_report(**params)
        return _run_click(argv)
    except KeyboardInterrupt:
        _err("interrupted")
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        return exitcodes.SUCCESS
    except Exception as exc:  # noqa: BLE001 - the one place that classifies every failure
        return _classify(exc)


def _run_click(argv: list[str]) -> int:
    import click

    from .group import cli

    if "_JBUILD_COMPLETE" in os.environ:  # shell completion (jbuild/completion.py)
        from .completion import install

        install()
    try:
        result = cli.main(args=argv, prog_name="jbuild", standalone_mode=False)
        return result if isinstance(result, int) else exitcodes.SUCCESS
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        if isinstance(exc, click.NoSuchOption) and exc.option_name == NO_SERVER:
            _err(f"Hint: {NO_SERVER} goes before the command: jbuild {NO_SERVER} "
                 + " ".join(a for a in argv if a != NO_SERVER))
        return exitcodes.BAD_INPUT
    except click.exceptions.Abort:
        _err("interrupted")
        return exitcodes.INTERRUPTED


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _classify(exc: Exception) -> int:
    from jbuild.dsl.errors import RecipeError, render_all

    if isinstance(exc, RecipeError):
        root = _workspace_root()
        _err(render_all(exc, root, color=sys.stderr.isatty()))
        _annotate(exc, root)
        return exitcodes.BAD_INPUT
    from jbuild.base.errors import JbuildError

    if isinstance(exc, JbuildError):
        if hasattr(exc, "with_source_lines"):  # the recipe lines it names (a version conflict: resolve_explain.py)
            _err(exc.with_source_lines(_workspace_root(), color=sys.stderr.isatty()))
        elif str(exc):  # an empty message was reported already (an interrupted build's summary)
            _err(f"error: {exc}")
        return exitcodes.BY_KIND[exc.kind]
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):  # (the store says its own)
        where = f" writing {exc.filename}" if exc.filename else ""
        _err(f"error: {exc.strerror}{where}: free some space (or raise the quota) and run again")
        return exitcodes.BY_KIND["build_failed"]  # (as base.errors.Failed: the work could not be done)
    if isinstance(exc, FileNotFoundError) and _cwd_gone():
        _err("error: the current directory no longer exists (it was removed after the shell entered it): "
             "cd to one that does")
        return exitcodes.BAD_INPUT
    import traceback

    _err("internal error: jbuild has a bug. Please report it with the text below.")
    _err("".join(traceback.format_exception(exc)))
    return exitcodes.INTERNAL_ERROR


def _workspace_root() -> str | None:
    try:
        from jbuild.dsl.workspace import Workspace

        return str(Workspace.find().root)
    except Exception:  # noqa: BLE001 - (no workspace, a gone directory: paths shown as they are)
        return None


def _cwd_gone() -> bool:
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _annotate(exc, root: str | None) -> None:
    """Under GitHub Actions, each recipe error also becomes an `::error file=…,line=…,col=…::`."""
    from jbuild.engine import ci

    if not ci.github_actions():
        return
    for d in exc.diagnostics:
        if d.span.line > 0:
            path = d.span.path if os.path.isabs(d.span.path) or not root else os.path.join(root, d.span.path)
            _err(ci.annotation(d.message, path, d.span.line, d.span.col, title="jbuild: recipe error"))
        else:
            _err(ci.annotation(d.message, title="jbuild: bad command line"))


if __name__ == "__main__":
    main(sys.argv[1:])
