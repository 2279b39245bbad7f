"""With dependencies cloned and attached inside the
sandbox's mount namespace, an undeclared sibling entry of the store stays unreadable by every
route a build could try (its store path, /deps/NAME/.., /proc/*/root, the mount table's roots, a
search of the whole tree), and a declared one is not writable even by its owner's uid."""

from __future__ import annotations

import pytest
from jbuild.engine import sandbox_zygote
from jbuild.engine.sandbox import BwrapExecutor, Job

SECRET = "undeclared-secret-7f3a"


@pytest.mark.parametrize("n", [1, 3, 120])
def test_an_undeclared_entry_stays_unreadable(tmp_path, n):
    assert sandbox_zygote.child_program() is not None
    store = tmp_path / "store"
    deps = {}
    for i in range(n):
        e = store / f"{i:032x}-d{i}-1"
        (e / "sub").mkdir(parents=True)
        (e / "f").write_text(f"entry {i}\n")
        deps[f"d{i}"] = e
    hidden = store / f"{'f' * 32}-secret-1"
    hidden.mkdir()
    (hidden / "f").write_text(SECRET + "\n")
    dirs = [tmp_path / "job" / d for d in ("src", "out", "tmp")]
    for d in dirs:
        d.mkdir(parents=True)
    script = f"""set +x +e; {{
cat {hidden}/f; cat /deps/d0/../*/f; ls -a /deps/d0/..
for p in /proc/[0-9]*; do cat $p/root{hidden}/f; done
cat /proc/self/mountinfo
S=undeclared; grep -rl "$S-secret-7f3a" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=out 2>/dev/null
touch /deps/d0/w && echo WROTE-DEP; touch /deps/d0/sub/w && echo WROTE-SUB
mount -o remount,rw /deps/d0 && echo REMOUNTED
}} > $OUT/seen 2>&1; true
"""
    job = Job(script=script, src=dirs[0], out=dirs[1], tmp=dirs[2], deps=deps, log=tmp_path / "job.log")
    assert BwrapExecutor().run(job) == 0, job.log.read_text()
    seen = (dirs[1] / "seen").read_text()
    assert "entry 0" in seen, seen
    assert SECRET not in seen and "WROTE" not in seen and "REMOUNTED" not in seen, seen
    assert not (deps["d0"] / "w").exists() and not (deps["d0"] / "sub" / "w").exists()
