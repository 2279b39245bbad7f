"""The local service runner behind `jbuild run`: start services in dependency order, wait until
each is ready, hand consumers the discovery data of what they require, stream every line
prefixed with its service's name, and stop everything in reverse order on Ctrl-C, SIGTERM,
`stop_event`, or when a service dies (then reported with its last lines; the exit code says
which: SERVICE_FAILED_BASE + its position in the start order).

A service whose exit nobody waits on (nothing running requires it) and that exits 0 has
finished its job, not died; when every such top-level service has finished, the run ends with 0.
So a one-shot consumer (store, check, exit) and a long-running one both fit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from jbuild.base.errors import BadInput

from . import discovery
from .process import Output, Running, describe
from .readiness import port_open, wait_ready

SERVICE_FAILED_BASE = 100  # exit code = this + position (1-based) in start order of the failed service


@dataclass(frozen=True)
class ServiceSpec:
    """A service as the runner needs it: nothing here refers to recipes or the store."""

    name: str  # short and unique in the run; discovery variables are named after it
    label: str  # for messages: //db:tinydb
    command: list[str]  # argv; argv[0] absolute (or found on env's PATH)
    env: dict[str, str]  # the whole environment; discovery data is added on top
    ports: list[int] = field(default_factory=list)  # the first one is the readiness probe
    health: str | None = None  # a shell command run in cwd with the service's env; 0 = ready
    requires: list[str] = field(default_factory=list)  # names of services of the same run
    cwd: str | None = None  # its state directory (created); default <root>/var/<name>


@dataclass
class Failure:
    spec: ServiceSpec
    position: int  # 1-based in start order
    why: str
    lines: list[str]

    @property
    def code(self) -> int:
        return min(SERVICE_FAILED_BASE + self.position, 199)


def start_order(specs: list[ServiceSpec]) -> list[ServiceSpec]:
    """Topological over `requires`, ties in the given order. Duplicate names, unknown
    requirements and cycles are bad input."""
    by_name: dict[str, ServiceSpec] = {}
    for s in specs:
        if s.name in by_name:
            raise BadInput(f"two services are named '{s.name}': {by_name[s.name].label} and {s.label}")
        by_name[s.name] = s
    for s in specs:
        if not s.command:
            raise BadInput(f"service {s.name} ({s.label}) has an empty command")
        for r in s.requires:
            if r not in by_name:
                raise BadInput(f"service {s.name} ({s.label}) requires '{r}', which is not a service of this run "
                               f"(services: {', '.join(sorted(by_name))})")
    order: list[ServiceSpec] = []
    state: dict[str, str] = {}

    def visit(s: ServiceSpec, path: list[str]) -> None:
        if state.get(s.name) == "done":
            return
        if state.get(s.name) == "active":
            cycle = path[path.index(s.name):] + [s.name]
            raise BadInput("services require each other in a cycle: " + " -> ".join(cycle))
        state[s.name] = "active"
        for r in s.requires:
            visit(by_name[r], path + [s.name])
        state[s.name] = "done"
        order.append(s)

    for s in specs:
        visit(s, [])
    return order


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event, hurry: threading.Event):
    """SIGINT/SIGTERM set `stop`; a second one sets `hurry` (SIGKILL without waiting). Only the
    main thread can own signal handlers; elsewhere the caller's `stop_event` is the way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        (hurry if stop.is_set() else stop).set()

    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


class _Session:
    """The services of one run: started in order, watched, stopped in reverse."""

    def __init__(self, order, root: Path, out: Output, stop, hurry, ready_timeout: float, stop_timeout: float):
        self.order, self.root, self.out = order, root, out
        self.stop, self.hurry = stop, hurry
        self.ready_timeout, self.stop_timeout = ready_timeout, stop_timeout
        self.started: list[tuple[ServiceSpec, Running]] = []
        self.finished: set[str] = set()

    def say(self, text: str) -> None:
        self.out.say("", f"jbuild: {text}")

    def start_all(self) -> Failure | None:
        by_name = {s.name: s for s in self.order}
        for i, spec in enumerate(self.order, 1):
            failure = self._start(i, spec, [by_name[r] for r in spec.requires])
            if failure or self.stop.is_set():
                return failure
        self.say(f"{len(self.order)} service(s) ready: {', '.join(s.name for s in self.order)}; Ctrl-C stops them")
        return None

    def _start(self, position: int, spec: ServiceSpec, required: list[ServiceSpec]) -> Failure | None:
        cwd = Path(spec.cwd) if spec.cwd else self.root / "var" / spec.name
        cwd.mkdir(parents=True, exist_ok=True)
        launched = dataclasses.replace(spec, env=discovery.environment_for(spec, required, self.root), cwd=str(cwd))
        if not shutil.which(spec.command[0], path=launched.env.get("PATH", os.defpath)):
            return Failure(spec, position, f"cannot start: {spec.command[0]} is not an executable file", [])
        busy = [p for p in spec.ports if port_open(p)]
        if busy:
            return Failure(spec, position, f"cannot start: port {busy[0]} is already in use by another process", [])
        self.say(f"starting {spec.name} ({spec.label}): {' '.join(spec.command)}")
        try:
            running = Running(spec.name, spec.command, launched.env, str(cwd), self.root / "logs" / f"{spec.name}.log",
                              self.out)
        except OSError as exc:
            return Failure(spec, position, f"cannot start {spec.command[0]}: {exc.strerror or exc}", [])
        self.started.append((launched, running))
        why = wait_ready(launched, running, self.ready_timeout, self.stop)
        if why is None:
            self.say(f"{spec.name} is ready")
        elif why != "stopped":
            return Failure(spec, position, why, self._tail(running))
        return None

    def _tail(self, running: Running) -> list[str]:
        running.stop(self.stop_timeout, self.hurry)  # its output drained, so the last lines are all there
        return list(running.lines)

    def watch(self) -> Failure | None:
        """Until stopped, every top-level service finished, or one died."""
        positions = {s.name: i for i, s in enumerate(self.order, 1)}
        required = {r for s in self.order for r in s.requires}
        while not self.stop.wait(0.05):
            for spec, running in self.started:
                status = running.status()
                if status is None or spec.name in self.finished:
                    continue
                waiting = [s.name for s, r in self.started if spec.name in s.requires and r.status() is None]
                if status != 0 or waiting:
                    extra = f" while {', '.join(waiting)} still need(s) it" if waiting and status == 0 else ""
                    return Failure(spec, positions[spec.name], describe(status) + extra, self._tail(running))
                running.reap()
                self.finished.add(spec.name)
                self.say(f"{spec.name} finished (exit code 0)")
            if all(s.name in self.finished for s in self.order if s.name not in required):
                self.say("every top-level service finished")
                return None
        return None

    def stop_all(self) -> None:
        for spec, running in reversed(self.started):
            if running.status() is None:
                self.say(f"stopping {spec.name}")
                status = running.stop(self.stop_timeout, self.hurry)
                self.say(f"{spec.name} stopped ({describe(status)})")
            else:
                running.reap()

    def report(self, failure: Failure) -> None:
        ordinal = f"service {failure.position} of {len(self.order)} in start order"
        self.say(f"error: service {failure.spec.name} ({failure.spec.label}) {failure.why}"
                 + ("; its last lines:" if failure.lines else ""))
        for line in failure.lines:
            self.out.say("", f"    {failure.spec.name} | {line}")
        self.say(f"stopping the others; exit code {failure.code} ({ordinal})")


def run_services(specs: list[ServiceSpec], root: str, stream: TextIO, stop_event: threading.Event | None = None, *,
                 ready_timeout: float = 30.0, stop_timeout: float = 5.0) -> int:
    """Run `specs` until stopped; 0 after a requested stop (or when every top-level service
    finished with 0), else SERVICE_FAILED_BASE + the failed service's position in start order.
    `root` holds the run's discovery files (discovery/), logs (logs/) and default state dirs (var/)."""
    order = start_order(specs)
    stop, hurry = stop_event or threading.Event(), threading.Event()
    session = _Session(order, Path(root), Output(stream), stop, hurry, ready_timeout, stop_timeout)
    failure = None
    with _stop_on_signals(stop, hurry):
        try:
            failure = session.start_all() or (None if stop.is_set() else session.watch())
            if failure:
                session.report(failure)
        finally:
            session.stop_all()
    if failure:
        session.say(f"run failed: {failure.spec.name} {failure.why.split(' (')[0]}")
        return failure.code
    return 0


def run_program(argv: list[str], env: dict[str, str], cwd: str | None = None) -> int:
    """Run a program in the foreground and pass its exit code through (128+N when killed by
    signal N, as a shell says). Ctrl-C reaches it from the terminal directly; the runner waits
    for it rather than dying first, and forwards a SIGTERM it receives."""
    try:
        proc = subprocess.Popen(argv, env=env, cwd=cwd)
    except OSError as exc:
        raise BadInput(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    saved = {}
    if threading.current_thread() is threading.main_thread():
        saved[signal.SIGINT] = signal.signal(signal.SIGINT, lambda *_: None)
        saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, lambda *_: _forward(proc, signal.SIGTERM))
    try:
        code = proc.wait()
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)
    return code if code >= 0 else 128 - code


def _forward(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
