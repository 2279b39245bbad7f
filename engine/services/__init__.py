"""`jbuild run`: what to start (a RunPlan, from `prepare`) and the runner that starts it.

The CLI (jbuild/run_command.py) calls exactly three functions of this package:

    plan = prepare(target, opts, sets, cwd)          # build, and say what to run
    run_services(plan.services, plan.root, stream)   # runner.py: a service and what it requires
    run_program(plan.program + args, plan.env, cwd)  # runner.py: a program, exit code passed through

`prepare` (preparation.py) builds with jbuild.engine.build, assembles the environment of the run
closure (engine/runtime/environment.py) with etc/ rendered from config (engine/runtime/
config.py), and describes each service over that environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .runner import SERVICE_FAILED_BASE, ServiceSpec, run_program, run_services, start_order

__all__ = ["RunPlan", "ServiceSpec", "prepare", "run_services", "run_program", "start_order", "SERVICE_FAILED_BASE"]


@dataclass
class RunPlan:
    """What `jbuild run TARGET` starts. Exactly one of `services` and `program` is non-empty."""

    target: str  # the node that was asked for, e.g. //services:geotags@5.1
    services: list[ServiceSpec] = field(default_factory=list)  # [0] is the target's own; the runner orders them
    program: list[str] = field(default_factory=list)  # argv of a program (a target without a service)
    env: dict[str, str] = field(default_factory=dict)  # the program's environment
    root: str = ""  # the run's directory: discovery/, logs/, var/ (state kept across runs)


def prepare(target: str, opts, sets: list[str] | tuple[str, ...] = (), cwd: str | None = None,
            withs: list[str] | tuple[str, ...] = (), planned=None, after_run=None) -> RunPlan:
    """Build `target` (one label) and say how to run it. `sets` are `//db:tinydb.port=22333`
    overrides of config; `withs` are more targets whose packages join the environment (a tuning
    package's settings). Raises BadInput for a bad target or setting, Failed if the build fails.
    `planned` and `after_run` let watch mode plan incrementally (preparation.py)."""
    from .preparation import prepare as prepare_from_build

    return prepare_from_build(target, opts, list(sets), cwd, list(withs), planned, after_run)
