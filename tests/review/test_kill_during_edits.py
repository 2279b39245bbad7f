"""Review (h-buildedit, h-edit): BUILD edits in place and source edits, each built by the real
CLI and killed with SIGKILL at a random moment (or let finish), over one store and one kept
analysis; at the end a finished build must give exactly the entries, with the same contents, a
cold build in a fresh store gives, and a second build must reuse them all."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_jbuild

COUNT = 40
PAD = "# " + "padding " * 70 + "\n"  # (~16 KB a piece: the file is cut in pieces)


def _text(scripts: dict[int, str]) -> str:
    out = []
    for i in range(COUNT):
        req = f"    requires = [:p{i - 1}]\n" if i % 5 else ""
        out.append(f'{PAD}package p{i} {{\n    version = "1"\n    sources = ["src/p{i}.txt"]\n{req}'
                   f'    build = "mkdir -p $OUT && cat $SRC/src/p{i}.txt > $OUT/p{i} # {scripts.get(i, "a")}"\n}}\n')
    return "".join(out)


def _write(root: Path, scripts: dict, sources: dict) -> None:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "jbuild.toml").touch()
    for i in range(COUNT):
        p = root / "src" / f"p{i}.txt"
        want = sources.get(i, f"p{i}\n")
        if not p.exists() or p.read_text() != want:
            p.write_text(want)
    text = _text(scripts)
    if not (root / "BUILD").exists() or (root / "BUILD").read_text() != text:
        (root / "BUILD").write_text(text)


def _entries(r) -> dict:
    out = {}
    for line in (r.stdout + r.stderr).splitlines():
        if " up to date: " in line:
            label, path = line.split(" up to date: ")
            e = Path(path.strip())
            out[label.strip()] = (e.name, sorted((f.name, f.read_text()) for f in e.iterdir()
                                                  if not f.name.startswith(".jbuild")))
    return out


ARGS = ["build", *(f"//:p{i}" for i in range(COUNT)), "--sandbox", "bwrap", "--show-result", "100"]


@pytest.mark.parametrize("seed", [1, 2])
def test_killed_builds_between_edits_end_as_a_cold_build(seed, tmp_path):
    rng = random.Random(seed)
    inc, store = tmp_path / "inc", tmp_path / "store"
    env = {**os.environ, "JBUILD_STORE": str(store)}
    scripts, sources = {}, {}
    _write(inc, scripts, sources)
    r = run_jbuild(*ARGS, cwd=inc, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    log = []
    for _step in range(14):
        for _ in range(rng.randrange(1, 3)):
            i = rng.randrange(COUNT)
            if rng.random() < 0.6:
                scripts[i] = f"s{rng.randrange(10 ** 6)}"
                log.append(f"script p{i}")
            else:
                sources[i] = f"p{i} {rng.randrange(10 ** 6)}\n"
                log.append(f"source p{i}")
        time.sleep(rng.choice([0, 0.005, 0.05]))
        _write(inc, scripts, sources)
        p = subprocess.Popen([sys.executable, "-m", "jbuild", *ARGS], cwd=inc, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        delay = rng.choice([0.05, 0.15, 0.3, 0.5, 0.8, 1.2, None])
        if delay is None:
            assert p.wait(120) == 0
        else:
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            p.wait()
        log.append(f"killed after {delay}")
    r = run_jbuild(*ARGS, cwd=inc, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    got = _entries(r)
    fresh, cold_store = tmp_path / "fresh", tmp_path / "cold"
    _write(fresh, scripts, sources)
    want = _entries(run_jbuild(*ARGS, cwd=fresh, env={"JBUILD_STORE": str(cold_store)}))
    assert len(want) == COUNT
    bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    assert not bad, f"{log}\n{bad}"
    again = run_jbuild(*ARGS, cwd=inc, env={"JBUILD_STORE": str(store)})
    assert again.returncode == 0 and "0 built" in again.stderr and _entries(again) == want, again.stderr
