"""Shared by the image tests: the example built once per module, its images unpacked by umoci,
and services started from an unpacked root filesystem under bubblewrap."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

from helpers import free_port, pristine_example, run_jbuild  # noqa: F401 (free_port: for the image tests)

ROOTLESS = ["--rootless"] if os.geteuid() != 0 else []


class Built:
    """A private copy of the example and its store; `image()` runs the real CLI."""

    def __init__(self, root: Path, store: Path):
        self.root, self.store = root, store

    def jbuild(self, *args):
        return run_jbuild(*args, cwd=self.root, env={"JBUILD_STORE": str(self.store)})

    def image(self, target: str, out: Path, *args) -> str:
        r = self.jbuild("image", target, "-o", str(out), "--sandbox", "bwrap", *args)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()


def built_example(tmp: Path) -> Built:
    return Built(pristine_example(tmp / "geotags"), tmp / "store")


def unpack(layout: Path, tag: str, bundle: Path) -> dict:
    """umoci unpacks the image; returns the runtime config it wrote (process args, env, cwd)."""
    subprocess.run(["umoci", "unpack", *ROOTLESS, "--image", f"{layout}:{tag}", str(bundle)], check=True,
                   capture_output=True, text=True)
    return json.loads((bundle / "config.json").read_text())


def start(bundle: Path, config: dict, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """The image's entrypoint (config's args[0]) with `args`, in its working directory and
    environment, under bubblewrap with the unpacked rootfs as / (nothing of the host bound)."""
    proc = config["process"]
    cmd = ["bwrap", "--bind", str(bundle / "rootfs"), "/", "--proc", "/proc", "--dev", "/dev",
           "--unshare-pid", "--die-with-parent", "--chdir", proc["cwd"], "--clearenv"]
    for item in proc["env"]:
        k, _, v = item.partition("=")
        cmd += ["--setenv", k, v]
    for k, v in (env or {}).items():
        cmd += ["--setenv", k, v]
    return subprocess.Popen([*cmd, proc["args"][0], *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_port(port: int, p: subprocess.Popen, timeout: float = 15) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if p.poll() is not None:
            raise AssertionError(f"exited {p.returncode}: {p.stdout.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def ask(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(line.encode() + b"\n")
        return s.makefile().readline().strip()


def stop(p: subprocess.Popen) -> str:
    p.terminate()
    try:
        out, _ = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out
