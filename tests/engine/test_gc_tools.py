"""`jbuild gc` deletes the compiled helpers (Landlock, the stager's child) of other sources from
the user's tool cache (engine/tools_gc.py): the current ones stay, and so does one built or run within a day,
whatever --unused-for says (another jbuild on the machine may be running it). The real
helper, compiled with the host's cc into a cache of the test's own (XDG_CACHE_HOME)."""

import os
import time

from helpers import run_jbuild
from jbuild.engine import sandbox_landlock

OLD = time.time() - 30 * 86400
HOURS_AGO = time.time() - 2 * 3600


def test_gc_deletes_old_helpers_of_other_sources_and_keeps_the_current_one(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sandbox_landlock.reset()
    try:
        current = sandbox_landlock.helper()  # built here, now
    finally:
        sandbox_landlock.reset()
    stager, why = sandbox_landlock.build_helper(sandbox_landlock.HELPERS[1], "stager's child")
    tools = current.parent
    assert tools == tmp_path / "cache" / "jbuild" / "tools" and current.is_file() and stager.parent == tools, why
    for path in (current, stager):
        os.utime(path, (OLD, OLD))  # built long ago and not run since: still the current one
    files = {
        "landlock_exec-" + "0" * 20: (OLD, OLD),  # an older jbuild's: goes
        ".landlock_exec-" + "1" * 20 + ".k3x9q1": (OLD, OLD),  # a killed compile's temporary: goes
        "stage_exec-" + "4" * 20: (OLD, OLD),  # an older jbuild's stager child: goes
        "landlock_exec-" + "2" * 20: (HOURS_AGO, HOURS_AGO),  # built today: stays
        "landlock_exec-" + "3" * 20: (HOURS_AGO, OLD),  # run today (its access time): stays
        "notes.txt": (OLD, OLD),  # not a helper
    }
    for name, (atime, mtime) in files.items():
        (tools / name).write_bytes(b"\x7fELF" + b"x" * 96)
        os.utime(tools / name, (atime, mtime))
    gone = sorted(str(tools / name) for name in list(files)[:3])

    def gc(*args):
        r = run_jbuild("gc", "--unused-for", "0", *args, cwd=tmp_path,
                       env={"JBUILD_STORE": str(tmp_path / "store"), "XDG_CACHE_HOME": str(tmp_path / "cache")})
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    out = gc("--dry-run")
    assert sorted(line.removeprefix("would delete ") for line in out.splitlines() if "tools" in line) == gone
    assert "300 bytes would be freed" in out and all((tools / name).exists() for name in files)
    out = gc()
    assert sorted(line.removeprefix("deleting ") for line in out.splitlines() if "tools" in line) == gone
    assert "300 bytes freed" in out
    assert sorted(p.name for p in tools.iterdir()) == sorted([current.name, stager.name, *list(files)[3:]])
