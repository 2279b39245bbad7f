"""The adversarial campaign, kept (bounded to a few minutes): hostile recipes through the real
CLI and the real sandbox, kill -9 during gc, concurrent builds with gc looping. Each hostile
recipe must end in a clear failure (exit 1, the file named) or a harmless entry — never a hang,
an internal error (37), a secret leaked, or a store entry that could hurt its users."""

import os
import random
import signal
import stat
import subprocess
import sys
import time

import pytest
from helpers import run_jbuild

SH = "build_requires = [@std//host:sh]"


def ws_with(make_workspace, build, tools=SH):
    return make_workspace({"BUILD": f'package x {{\n version = "1"\n {tools}\n build = """{build}"""\n}}\n'})


def jb(root, *args, timeout=120, env=None):
    return run_jbuild(*args, cwd=root, env={"JBUILD_STORE": str(root.parent / "store"), **(env or {})},
                      timeout=timeout)


HOSTILE_FAILS = [
    ("fifo", "mkdir -p $OUT && mkfifo $OUT/pipe", "pipe"),
    ("socket", "mkdir -p $OUT && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/out/s\")'", "s"),
    ("link-to-root", "mkdir -p $OUT && ln -s / $OUT/share", "share"),
    ("link-to-etc", "mkdir -p $OUT && ln -s /etc $OUT/lib", "lib"),
    ("link-escapes", "mkdir -p $OUT/a && ln -s ../../etc/passwd $OUT/a/p", "a/p"),
]


@pytest.mark.parametrize("name,build,named", HOSTILE_FAILS, ids=[h[0] for h in HOSTILE_FAILS])
def test_hostile_outputs_fail_clearly(make_workspace, name, build, named):
    root = ws_with(make_workspace, build, "build_requires = [@std//host:sh, @std//host:python3]")
    r = jb(root, "build", "//:x", "--sandbox", "bwrap", timeout=60)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert named in r.stderr and "Traceback" not in r.stderr


def test_a_huge_sparse_file_is_scanned_without_reading_it(make_workspace):
    root = ws_with(make_workspace, "mkdir -p $OUT/share && truncate -s 64G $OUT/share/sparse")
    start = time.monotonic()
    r = jb(root, "build", "//:x", "--sandbox", "bwrap", "--no-link", timeout=120)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert time.monotonic() - start < 60


def test_absolute_links_into_out_are_made_relative(make_workspace):
    root = ws_with(make_workspace, "mkdir -p $OUT/bin && echo hi > $OUT/bin/real && ln -s /out/bin/real $OUT/bin/alias")
    r = jb(root, "build", "//:x", "--sandbox", "bwrap", "--print-out-paths", "--no-link")
    assert r.returncode == 0, r.stderr
    entry = r.stdout.strip()
    assert os.readlink(f"{entry}/bin/alias") == "real" and open(f"{entry}/bin/alias").read() == "hi\n"


def test_setuid_bits_never_enter_the_store(make_workspace):
    root = ws_with(make_workspace, "mkdir -p $OUT/bin && cp /bin/ls $OUT/bin/x && chmod 6755 $OUT/bin/x && "
                                   "mkdir $OUT/t && chmod 1777 $OUT/t")
    r = jb(root, "build", "//:x", "--sandbox", "bwrap", "--print-out-paths", "--no-link")
    assert r.returncode in (0, 1), r.stderr
    if r.returncode == 0:
        entry = r.stdout.strip()
        for path in (f"{entry}/bin/x", f"{entry}/t"):
            mode = os.lstat(path).st_mode
            assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | 0o022), oct(mode)
            assert os.lstat(path).st_uid == os.getuid()
    else:
        assert "bin/x" in r.stderr


def test_the_build_cannot_read_jbuilds_environment(make_workspace):
    root = ws_with(make_workspace, "mkdir -p $OUT/share && (cat /proc/1/environ; env) | tr '\\\\0' '\\\\n' "
                                   "> $OUT/share/seen || true")
    r = jb(root, "build", "//:x", "--sandbox", "bwrap", "--print-out-paths", "--no-link",
           env={"CI_SECRET_TOKEN": "hunter2-secret"})
    assert r.returncode == 0, r.stderr
    seen = open(r.stdout.strip() + "/share/seen").read()
    assert "hunter2-secret" not in seen and "CI_SECRET_TOKEN" not in seen


def test_kill_9_during_gc_never_leaves_a_half_entry_that_is_reused(make_workspace, tmp_path):
    blocks = "\n".join(f'package p{i} {{ version = "1" {SH} build = "mkdir -p $OUT/share && '
                       f'for n in $(seq 200); do echo $n > $OUT/share/f$n; done" }}' for i in range(12))
    root = make_workspace({"BUILD": blocks})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    rng = random.Random(3)
    for trial in range(6):
        assert run_jbuild("build", "//...", "--sandbox", "bwrap", "--no-link", cwd=root, env=env).returncode == 0
        proc = subprocess.Popen([sys.executable, "-m", "jbuild", "gc"], cwd=root, env={**os.environ, **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        r = run_jbuild("build", "//...", "--sandbox", "bwrap", "--no-link", "--print-out-paths", cwd=root, env=env)
        assert r.returncode == 0, (trial, r.stderr)
        for entry in r.stdout.split():  # every entry the build says it has is whole
            assert len(os.listdir(f"{entry}/share")) == 200, (trial, entry)
        assert run_jbuild("store", "verify", cwd=root, env=env).returncode == 0


def test_concurrent_builds_with_gc_looping(make_workspace, tmp_path):
    blocks = "\n".join(f'package p{i} {{ version = "1" {SH} build = "mkdir -p $OUT/share && echo {i} > '
                       f'$OUT/share/p && sleep 0.05" }}' for i in range(16))
    root = make_workspace({"BUILD": blocks})
    env = {**os.environ, "JBUILD_STORE": str(tmp_path / "store")}
    stop = time.monotonic() + 20
    gc_loop = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\n"
         f"while time.time() < {time.time() + 20}:\n"
         "    subprocess.run([sys.executable, '-m', 'jbuild', 'gc'], capture_output=True)\n"],
        cwd=root, env=env)
    builders = [subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//...", "--sandbox", "bwrap",
                                  "--out-link", f"result-{i}"], cwd=root, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(4)]
    for b in builders:
        assert b.wait(timeout=max(5, stop - time.monotonic() + 120)) == 0, b.stderr.read()
    gc_loop.wait(timeout=60)
    for i in range(4):  # every result a build left is whole after any number of gcs
        for link in root.glob(f"result-{i}*"):
            assert os.path.exists(os.path.realpath(link) + "/share/p"), link
    assert run_jbuild("store", "verify", cwd=root, env=env).returncode == 0


def test_a_tampered_entry_is_set_aside_and_rebuilt(make_workspace):
    root = make_workspace({"BUILD": f"""
        package lib {{ version = "1" {SH} build = "mkdir -p $OUT/share && echo original > $OUT/share/data" }}
        package app {{
            version = "1" requires = [:lib] {SH}
            build = "mkdir -p $OUT/share && cat /env/share/data > $OUT/share/copy"
        }}
    """})
    r = jb(root, "build", "//:lib", "--sandbox", "bwrap", "--print-out-paths", "--no-link")
    data = r.stdout.strip() + "/share/data"
    stamp = os.stat(data)
    os.chmod(data, 0o644)
    with open(data, "w") as f:
        f.write("tampered!\n")  # another size: the stat check sees it
    r = jb(root, "build", "//:app", "--sandbox", "bwrap", "--no-link", "--print-out-paths")
    assert r.returncode == 0 and "was modified after it was built" in r.stderr, r.stderr
    assert open(r.stdout.strip() + "/share/copy").read() == "original\n"
    r = jb(root, "build", "//:lib", "--sandbox", "bwrap", "--print-out-paths", "--no-link")
    data = r.stdout.strip() + "/share/data"
    stamp = os.stat(data)
    os.chmod(data, 0o644)
    with open(data, "w") as f:
        f.write("TAMPERED\n")  # the same size and mtime: only a re-hash sees it
    os.utime(data, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    os.chmod(data, 0o444)
    r = jb(root, "build", "//:lib", "--sandbox", "bwrap", "--no-link", "--verify-inputs")
    assert r.returncode == 0 and "was modified after it was built" in r.stderr and "1 built" in r.stderr, r.stderr
