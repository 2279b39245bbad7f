"""`jbuild run` end to end, as a user runs it: the real CLI in a subprocess builds the example in
the bubblewrap sandbox, starts tinydb then geotags, geotags stores and reads back tags through
tinydb, and Ctrl-C stops both in reverse order."""

import os
import signal
import subprocess
import sys
import threading

from helpers import pristine_example, write_tree
from jbuild.engine.services.readiness import port_open
from servicekit import Lines, free_port, talk


def jbuild_run(cwd, store, *args) -> subprocess.Popen:
    env = {**os.environ, "JBUILD_STORE": str(store), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "jbuild", "run", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def pump(proc) -> Lines:
    out = Lines()
    threading.Thread(target=lambda: [out.write(line) for line in proc.stdout], daemon=True).start()
    return out


def test_jbuild_run_starts_tinydb_then_geotags_which_tags_through_it(tmp_path):
    root, db, tags = pristine_example(tmp_path / "geotags"), free_port(), free_port()
    # tinydb moved off its default port: geotags follows it (the recipe's fixed TINYDB_PORT=7000 loses)
    proc = jbuild_run(root, tmp_path / "store", "//services:geotags", "--sandbox", "bwrap",
                      "--set", f"//db:tinydb.port={db}", "--set", f"//services:geotags.port={tags}")
    out = pump(proc)
    try:
        out.wait_for("service\\(s\\) ready: tinydb, geotags", timeout=120)
        out.wait_for("geotags serving on")
        lines = out.lines
        assert lines.index("jbuild: tinydb is ready") < next(i for i, ln in enumerate(lines) if "starting geotags" in ln)
        assert any(ln.startswith(f"tinydb | tinydb listening on 127.0.0.1:{db},") for ln in lines)
        assert ("geotags | geotags: stored tag selfcheck=u4pruydqqvj in tinydb and read it back: "
                "u4pruydqqvj 57.64911 10.40744") in lines
        assert talk(tags, "TAG home 57.64911 10.40744", "GET home", "GET nobody") == [
            "OK u4pruydqqvj", "VALUE u4pruydqqvj 57.64911 10.40744", "MISSING"]
        assert talk(db, "GET tag:home") == ["VALUE u4pruydqqvj 57.64911 10.40744"]
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at a terminal: to jbuild's whole process group
        assert proc.wait(timeout=20) == 0, out.text
    finally:
        proc.kill()
    stops = [ln for ln in out.lines if ln.startswith("jbuild: stopping")]
    assert stops == ["jbuild: stopping geotags", "jbuild: stopping tinydb"], out.text
    assert "geotags | geotags stopping" in out.lines and "tinydb | tinydb stopping" in out.lines
    assert not port_open(db) and not port_open(tags)
    journal = root / ".jbuild/run/services_geotags/var/tinydb/tinydb.log"
    assert "SET tag:home u4pruydqqvj 57.64911 10.40744" in journal.read_text()


def test_a_bad_setting_is_bad_input_before_anything_builds(tmp_path):
    root = pristine_example(tmp_path / "geotags")
    proc = jbuild_run(root, tmp_path / "store", "//services:geotags", "--set", "//db:tinydb.prot=1")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "//db:tinydb has no config key 'prot'" in out and "did you mean 'port'?" in out
    assert "Traceback" not in out and "building" not in out


PROGRAM = {
    "jbuild.toml": "",
    "BUILD": """
        package greet {
            version = "1.0"
            sources = ["greet.c"]
            build_requires = [@std//host:cc, @std//host:sh]
            build = \"\"\"
                mkdir -p $OUT/lib
                cc -O2 -fPIC -shared -Wl,-soname,libgreet.so.1 -o $OUT/lib/libgreet.so.1 $SRC/greet.c
                ln -s libgreet.so.1 $OUT/lib/libgreet.so
            \"\"\"
            exports = ["lib"]
        }
        package hello {
            version = "1.0"
            sources = ["hello.c"]
            requires = [:greet]
            build_requires = [@std//host:cc, @std//host:sh]
            build = "mkdir -p $OUT/bin && cc -O2 -o $OUT/bin/hello $SRC/hello.c -L/env/lib -lgreet"
            exports = ["bin"]
        }
    """,
    "greet.c": 'const char *greet(void) { return "hello from libgreet"; }\n',
    "hello.c": """
        #include <stdio.h>
        const char *greet(void);
        int main(int argc, char **argv) {
            printf("%s\\n", greet());
            for (int i = 1; i < argc; i++) printf("arg %d: %s\\n", i, argv[i]);
            return 5;
        }
    """,
}


def test_jbuild_run_of_a_program_passes_args_and_exit_code(tmp_path):
    root = write_tree(tmp_path / "ws", PROGRAM)
    proc = jbuild_run(root, tmp_path / "store", "//:hello", "--", "one", "two words")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 5, out
    assert "hello from libgreet\narg 1: one\narg 2: two words\n" in out


def test_a_tuning_package_moves_tinydbs_port_and_geotags_follows(tmp_path):
    """The talk's mongodb_tuning: //db:tinydb_tuning sets tinydb's port; with it in the
    environment, tinydb listens there, its etc/ says so, and geotags finds it by discovery."""
    root, tags = pristine_example(tmp_path / "geotags"), free_port()
    if port_open(22333):
        import pytest

        pytest.fail("port 22333 (the tuning package's) is busy on this machine")
    proc = jbuild_run(root, tmp_path / "store", "//services:geotags", "--sandbox", "bwrap",
                      "--with", "//db:tinydb_tuning", "--set", f"//services:geotags.port={tags}")
    out = pump(proc)
    try:
        out.wait_for("service\\(s\\) ready: tinydb, geotags", timeout=120)
        assert any(ln.startswith("tinydb | tinydb listening on 127.0.0.1:22333,") for ln in out.lines), out.text
        assert talk(tags, "TAG here 57.64911 10.40744") == ["OK u4pruydqqvj"]
        conf = (root / ".jbuild/run/services_geotags/env").resolve() / "etc" / "tinydb.conf"
        assert "22333" in conf.read_text()
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=20) == 0, out.text
    finally:
        proc.kill()
