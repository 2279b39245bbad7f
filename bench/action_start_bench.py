"""jbuild's own Python per action of a full build, timed alone (thread CPU time, so a busy
machine's other processes hardly move it): for actions of a built workspace, what the start
of each build makes (`_mounts`, the staged root, /env's plan, the stage request's bytes) and
its entry's `built_against`, nothing run. Prints the time per action and a digest of every
request and `built_against` made: the digest must not change with an optimisation.

    .venv/bin/python bench/action_start_bench.py WORKSPACE STORE [--actions 2000]

WORKSPACE must be built into STORE (e.g. a copy of a 10,000-package bench workspace, after one
`jbuild build //... --no-link` with JBUILD_STORE=STORE); a no-op build settles every action first.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workspace")
    ap.add_argument("store")
    ap.add_argument("--actions", type=int, default=2000)
    args = ap.parse_args()
    from jbuild.engine.build import run
    from jbuild.engine.sandbox import BwrapExecutor, Job, env_plan
    from jbuild.engine.session import Session
    from jbuild.engine.settings import Options
    from jbuild.engine.stage_request import encode

    s = Session(["//..."], Options(sandbox="bwrap", store=args.store, out_link=None), args.workspace)
    code, rb = run(s.plan())
    if code:
        raise SystemExit("the no-op build failed: build the workspace into the store first")
    nodes = [n for n in rb.closures if n.shape.action]
    random.Random(1).shuffle(nodes)
    sample, executor, here, digest = nodes[:args.actions], BwrapExecutor(), Path("/tmp"), hashlib.sha256()

    def start(node, record: bool = False) -> None:
        deps, tools = rb._mounts(node)
        job = Job(script="true", src=here, out=here, tmp=here, deps=deps, tools=frozenset(tools))
        job.src_files = []
        job.env_links = env_plan(job)
        argv, root = executor.staged_argv(job, here, True)
        request = encode(root.state(), b"/stage", True, argv, {})
        against = rb._built_against(node)
        rb._deps.pop(node, None)
        getattr(rb, "_by_label", {}).pop(node, None)
        if record:
            digest.update(request + against.json.encode() + repr(sorted(against.items())).encode())

    for n in sample:  # each dependency's view made once, as a full build's first builds against it do
        start(n, record=True)
    runs = []
    for _ in range(3):
        t0 = time.thread_time()
        for n in sample:
            start(n)
        runs.append((time.thread_time() - t0) / len(sample) * 1e6)
    deps = statistics.mean(len(rb._walk(n)) for n in sample[:200])
    print(f"{len(sample)} actions (~{deps:.0f} dependencies each): {min(runs):.0f} µs of CPU per action "
          f"(runs {', '.join(f'{r:.0f}' for r in runs)}); digest {digest.hexdigest()[:16]}; load {os.getloadavg()[0]:.1f}")
    os._exit(0)  # (10,000 actions' objects: no teardown)


if __name__ == "__main__":
    main()
