"""Helpers shared by the tests (importable as `helpers`)."""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "geotags"


def pristine_example(dest: Path) -> Path:
    """A copy of the example workspace as committed (git HEAD), never the working tree's: the
    README tour edits files in place, and a toured checkout must not break the tests. Outside a
    git checkout (an sdist), the files as they are."""
    import shutil

    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD", "examples/geotags"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        shutil.copytree(EXAMPLE, dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".jbuild", "result", "result-*"))
        return dest
    subprocess.run(["tar", "-x", "-C", str(dest), "--strip-components=2"], input=archive.stdout, check=True)
    return dest


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def run_jbuild(*args: str, cwd, env=None, timeout=300) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as a user runs it."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "jbuild", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def outcomes(events: Path) -> dict[str, str]:
    """{label (without version): built | reused | skipped | failed} from a --build-events file
    (each target's one `target_complete` event; docs/ci.md)."""
    import json

    seen = {}
    for line in events.read_text().splitlines() if events.exists() else []:
        e = json.loads(line)
        if e["event"] == "target_complete":
            seen[e["target"].split("@")[0]] = e["outcome"]
    return seen


class Example:
    """A private copy of the example workspace with its own store."""

    def __init__(self, root, store):
        self.root, self.store = root, store
        self.runs = 0

    def jbuild(self, *args, **kw):
        return run_jbuild(*args, cwd=self.root, env={"JBUILD_STORE": str(self.store)}, **kw)

    def build(self, *args, target="//services:geotags"):
        """Build; return (process, {target: "built"|"reused"}) from the build events."""
        self.runs += 1
        events = self.root / f"events-{self.runs}.json"
        r = self.jbuild("build", target, "--sandbox", "bwrap", "--build-events", str(events), *args)
        return r, {label: how for label, how in outcomes(events).items() if how != "failed"}  # built | reused | skipped

    def edit(self, rel, old, new):
        p = self.root / rel
        text = p.read_text()
        assert old in text
        p.write_text(text.replace(old, new))


def click_build_params(args) -> dict | None:
    """What click's own `build` command gets for ARGS (None where click refuses them): what
    jbuild/fast_build.py must answer, when it answers."""
    import click

    from jbuild.build_commands import build

    try:
        ctx = build.make_context("build", list(args), resilient_parsing=False)
    except (click.exceptions.Exit, click.ClickException):
        return None
    params = dict(ctx.params)
    params.pop("dry_run")
    return params


def processes_holding(marker: str, ignore: bytes = b"\0\0") -> list[int]:
    """Pids of live processes (zombies excluded, this one too) whose command line holds
    `marker`, but not `ignore`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmd and state != "Z" and ignore not in cmd:
            found.append(int(pid))
    return found


def gone_within(marker: str, within: float, ignore: bytes = b"\0\0") -> bool:
    """Have the processes holding `marker` all ended within `within` seconds?"""
    import time

    end = time.monotonic() + within
    while time.monotonic() < end:
        if not processes_holding(marker, ignore):
            return True
        time.sleep(0.2)
    return not processes_holding(marker, ignore)


_GIVEN: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one given before in this process: the kernel may hand
    the same one out twice in a row (a test asking for two got one port, under load)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port
