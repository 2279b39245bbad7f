import os
import signal
from pathlib import Path

import pytest
from helpers import Example, pristine_example, write_tree


@pytest.fixture
def make_workspace(tmp_path):
    """make_workspace({"BUILD": "...", "src/a.c": "..."}) -> a workspace root with jbuild.toml."""

    def make(files: dict[str, str], toml: str = "") -> Path:
        root = tmp_path / "ws"
        root.mkdir(exist_ok=True)
        (root / "jbuild.toml").write_text(toml)
        return write_tree(root, files)

    return make


@pytest.fixture
def landlock(monkeypatch):
    """An executor confining every job's dependencies with Landlock, whatever their count (the
    way `--sandbox landlock` does; engine/sandbox_landlock.py). Fails where the host cannot."""
    from jbuild.engine import sandbox_landlock
    from jbuild.engine.sandbox import BwrapExecutor

    assert BwrapExecutor.landlock_available(), sandbox_landlock.why_not()  # fail, never vacuous
    monkeypatch.setattr(BwrapExecutor, "stage_from", 0)
    monkeypatch.setattr(BwrapExecutor, "landlock", True)
    return BwrapExecutor()


@pytest.fixture
def example(tmp_path):
    return Example(pristine_example(tmp_path / "geotags"), tmp_path / "store")


# In CI (`CI=true bash .ci/run`) dev/setup.sh has installed every tool and server the tests
# guard on, so a skip there means a broken set-up, not a missing tool: it fails. The one skip
# kept is a permission test root cannot run (root reads any file).
SKIPS_ALLOWED_IN_CI = ("root reads any file",)
IN_CI = os.environ.get("CI") == "true"
# The jbuild processes the tests start run as on a developer's machine unless a test sets these:
# CI=true changes jbuild's defaults (keep-going, docs/ci.md), which tests of fail-fast would feel.
for _name in ("CI", "GITHUB_ACTIONS"):
    os.environ.pop(_name, None)

# The interrupt tests send SIGINT/SIGTERM to the jbuild they start and expect it to stop. jbuild,
# like a program under `nohup`, keeps a SIGINT its parent ignored, and an ignored disposition
# survives exec: a suite started with them ignored (a non-interactive shell's `cmd &`, some CI
# runners) would see those tests fail. The suite puts them back, for itself and all it starts.
for _sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, signal.default_int_handler if _sig == signal.SIGINT else signal.SIG_DFL)

# The build server (the default, docs/server.md) would leave one resident process per test
# workspace and share state across tests: the suite's jbuild processes build in-process; the
# tests of the server (tests/test_server*.py) set JBUILD_SERVER=1 and stop their servers.
# Each server inherits SUITE_MARK, so the suite's end finds any it left (_servers_left).
os.environ["JBUILD_SERVER"] = "0"
SUITE_MARK = f"PYTEST_JBUILD_SUITE_PID={os.getpid()}"  # (each xdist worker its own: its tests' servers)
os.environ["PYTEST_JBUILD_SUITE_PID"] = str(os.getpid())


def _servers_left() -> list[int]:
    """Build servers started by this pytest process's tests, still running."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"from jbuild.server import main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            if SUITE_MARK.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(int(pid))
        except OSError:
            continue
    return found


_LEFT_BY_WORKERS: list[int] = []  # (pytest-xdist: what each worker's tests left, as they reported it)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _LEFT_BY_WORKERS.extend(getattr(node, "workeroutput", {}).get("jbuild_servers_left", []))


def pytest_sessionfinish(session, exitstatus):
    """No build server outlives the tests that started it: any left is killed, and fails the run."""
    import signal
    import time

    deadline = time.monotonic() + 5  # (one being stopped exits within a moment)
    while (left := _servers_left()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if hasattr(session.config, "workeroutput"):  # an xdist worker: the controller fails the run
        session.config.workeroutput["jbuild_servers_left"] = left
        return
    left += _LEFT_BY_WORKERS
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = f"build servers left running by the tests (killed): pids {left}"
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_sep("=", text, red=True)
        else:
            print(text)


def _fail_a_skip_in_ci(report) -> None:
    if report.skipped and IN_CI and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not any(allowed in reason for allowed in SKIPS_ALLOWED_IN_CI):
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, where dev/setup.sh installs what it needs: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_a_skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_a_skip_in_ci(outcome.get_result())  # a module-level importorskip


# pytest-xdist (dev/test.sh runs the suite on worker processes). The workers are started after
# this module popped CI from the environment: the controller tells them whether the run is CI's,
# so a skip on a worker fails there too.
@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput["jbuild_in_ci"] = IN_CI


def pytest_configure(config):
    global IN_CI
    if hasattr(config, "workerinput"):
        IN_CI = config.workerinput.get("jbuild_in_ci", IN_CI)


# `--dist loadfile` sends a test module's tests to one worker, so that its module-scoped fixtures
# (a built workspace, a server) are made once; this one also keeps tests/reapi/ together, so that
# the one BuildGrid (tests/reapi/conftest.py's session-scoped `buildgrid`: PostgreSQL and a bgd)
# starts once; and tests/test_server*.py together, one at a time: a test there changes the date
# of one of jbuild's own files, which restarts every build server running then.
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            for together in ("tests/reapi/", "tests/test_server"):
                if path.startswith(together):
                    return together
            return path

    return Scheduling(config, log)
