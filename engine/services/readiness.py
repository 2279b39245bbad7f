"""When a started service is ready for its consumers: its `health` command exits 0, else its
first port accepts a TCP connection on 127.0.0.1, else (neither declared) as soon as it runs."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

HOST = "127.0.0.1"


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def health_passes(command: str, env: dict[str, str], cwd: str, timeout: float) -> bool:
    try:
        done = subprocess.run(["sh", "-c", command], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=max(timeout, 0.1),
                              start_new_session=True, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def what_is_awaited(ports, health: str | None) -> str:
    if health:
        return f"its health command `{health}` to exit 0"
    if ports:
        return f"port {ports[0]} to accept a connection"
    return "nothing (no port, no health command)"


def wait_ready(spec, running, timeout: float, stop: threading.Event) -> str | None:
    """Wait until `running` (the process of `spec`, as launched: its env and cwd final) is ready. None when ready; else why not:
    "stopped" when `stop` was set, or a sentence saying what went wrong."""
    deadline = time.monotonic() + timeout
    pause = 0.02
    while True:
        if stop.is_set():
            return "stopped"
        status = running.status()
        if status is not None:
            from .process import describe

            return f"{describe(status)} before it was ready"
        left = deadline - time.monotonic()
        if spec.health:
            if health_passes(spec.health, spec.env, spec.cwd, min(5.0, left)):
                return None
        elif not spec.ports or port_open(spec.ports[0]):
            return None
        if time.monotonic() >= deadline:
            return f"not ready after {timeout:g} s (waited for {what_is_awaited(spec.ports, spec.health)})"
        stop.wait(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 2, 0.25)

