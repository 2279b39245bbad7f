"""The sandbox's /usr holds only the declared host tools' Debian packages and their closure,
for real: real dpkg database, real bubblewrap, a real cc-built program. zlib1g-dev is installed
on this host and is in no @std tool's closure, so a probe for zlib.h is the library "only the
host has"."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from jbuild.dsl.lowering import lower_file
from jbuild.dsl.model import HostTool
from jbuild.dsl.parser import parse
from jbuild.dsl.workspace import stdlib_dir
from jbuild.engine import dpkg, hostroot, platform
from jbuild.engine.sandbox import BwrapExecutor, Job
from jbuild.engine.statcache import StatCache

STD = {str(t.label.name): t.host_tool for t in lower_file(
    parse((stdlib_dir() / "host" / "BUILD").read_text(), "host/BUILD"), "host", "std")}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("store")


def run(tmp_path, script, host, sources=None):
    """Run a script in the real bubblewrap sandbox; (exit code, log text, $OUT)."""
    tmp_path = Path(tmp_path)
    for d in ("src", "out", "tmp"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    for rel, text in (sources or {}).items():
        (tmp_path / "src" / rel).write_text(text)
    job = Job(script=script, src=tmp_path / "src", out=tmp_path / "out", tmp=tmp_path / "tmp",
              log=tmp_path / "log", host=host)
    code = BwrapExecutor().run(job)
    return code, job.log.read_text(), job.out


def test_cc_closure_holds_the_compiler_not_the_hosts_other_libraries():
    names = {n for n, _ in dpkg.package_closure(STD["cc"].debian_packages)}
    assert {"gcc-12", "binutils", "libc6-dev", "libc6", "linux-libc-dev"} <= names
    assert "zlib1g-dev" in dpkg.database()  # the host has it ...
    assert "zlib1g-dev" not in names  # ... the compiler does not need it


def test_undeclared_host_library_is_not_visible(store, tmp_path):
    assert os.path.exists("/usr/include/zlib.h")
    probe = "test -e /usr/include/zlib.h && exit 11; echo '#include <zlib.h>' | cc -E - >/dev/null && exit 12; exit 0"
    host = hostroot.host_root(store, STD["cc"].debian_packages)
    code, log, _ = run(tmp_path / "a", probe, host)
    assert code == 0, log
    assert "zlib.h: No such file" in log  # the compiler ran and looked
    code, _, _ = run(tmp_path / "b", probe, None)  # the host's whole /usr: the hole this closes
    assert code == 11


def test_declared_cc_compiles_links_and_runs(store, tmp_path):
    host = hostroot.host_root(store, STD["cc"].debian_packages + STD["sh"].debian_packages)
    main = '#include <stdio.h>\n#include <math.h>\nint main(void){printf("%d\\n", (int)sqrt(49.0));return 0;}\n'
    script = """
        mkdir -p "$OUT/bin"
        cc -O2 -o "$OUT/bin/m" "$SRC/m.c" -lm
        test "$("$OUT/bin/m")" = 7
        readlink /usr/bin/cc
    """
    code, log, out = run(tmp_path, script, host, {"m.c": main})
    assert code == 0, log
    assert "/etc/alternatives/cc" in log
    assert subprocess.run([out / "bin" / "m"], capture_output=True, text=True).stdout == "7\n"
    assert not os.path.exists(str(host.usr) + "/lib/x86_64-linux-gnu/libz.so")  # dev link not there


@pytest.mark.parametrize("tool", sorted(STD))
def test_every_std_tool_works_in_its_own_host_root(store, tmp_path, tool):
    spec = STD[tool]
    fp = platform.detect(f"@std//host:{tool}", spec, StatCache(tmp_path / "stat"))
    host = hostroot.host_root(store, fp.debian_packages)
    found = " && ".join(f"command -v {b} >/dev/null" for b in spec.binaries)
    code, log, _ = run(tmp_path, f"{found}\n{spec.version_command}", host)
    assert code == 0, log
    assert fp.version in log


def test_sh_runs_what_the_example_recipes_use(store, tmp_path):
    host = hostroot.host_root(store, STD["sh"].debian_packages)
    script = r"""
        mkdir -p "$OUT/lib" "$OUT/include"
        echo 'int x;' > "$OUT/include/a.h"
        ln -s a.h "$OUT/include/b.h"
        cp "$OUT/include/a.h" "$OUT/lib/"; mv "$OUT/lib/a.h" "$OUT/lib/c.h"; rm "$OUT/lib/c.h"
        chmod 644 "$OUT/include/a.h"
        echo hello | tr a-z A-Z | sed s/HE/he/ | grep -q heLLO
        find "$OUT" -name '*.h' | xargs basename -a | sort | tr '\n' ' ' > "$OUT/names"
        command -v cc && exit 13 || true
    """
    code, log, out = run(tmp_path, script, host)
    assert code == 0, log
    assert (out / "names").read_text() == "a.h b.h "
    assert os.readlink(out / "include" / "b.h") == "a.h"


def test_tree_is_reused_and_a_new_version_set_gives_a_new_tree(store, monkeypatch):
    first = hostroot.host_root(store, ["make"])
    hostroot._MEMO.clear()
    monkeypatch.setattr(hostroot, "_assemble", lambda *a: pytest.fail("assembled again"))
    assert hostroot.host_root(store, ["make"]) == first
    monkeypatch.undo()
    real = dpkg.package_closure
    monkeypatch.setattr(dpkg, "package_closure",  # as after `apt upgrade make`
                        lambda names: [(n, v + "+upgraded" if n == "make" else v) for n, v in real(names)])
    hostroot._MEMO.clear()
    upgraded = hostroot.host_root(store, ["make"])
    assert upgraded.key != first.key and upgraded.usr.is_dir() and first.usr.is_dir()
    assert (upgraded.usr / "bin" / "make").is_file()


def test_hard_links_on_one_filesystem_copies_across(store):
    linked = hostroot.host_root(store, ["make"])
    libc = "lib/x86_64-linux-gnu/libc.so.6"
    assert os.stat(linked.usr / libc).st_ino == os.stat(f"/usr/{libc}").st_ino
    # programs are copied: a link would change the host binary's ctime, which the stat cache trusts
    assert os.stat(linked.usr / "bin" / "make").st_ino != os.stat("/usr/bin/make").st_ino
    shm = Path("/dev/shm") / f"jbuild-test-{os.getpid()}"
    try:
        copied = hostroot.host_root(shm, ["make"])
        st = os.stat(copied.usr / "bin" / "make")
        assert st.st_ino != os.stat("/usr/bin/make").st_ino and st.st_mode & 0o111
        assert (copied.usr / "bin" / "make").read_bytes() == Path("/usr/bin/make").read_bytes()
        assert os.readlink(copied.usr / "bin" / "sh") == "dash"  # symlinks stay symlinks
    finally:
        subprocess.run(["rm", "-rf", str(shm)], check=True)


def test_a_crash_while_assembling_leaves_nothing(tmp_path, monkeypatch):
    def crash(root):
        raise KeyboardInterrupt
    monkeypatch.setattr(hostroot, "_link_alternatives", crash)
    hostroot._MEMO.clear()
    with pytest.raises(KeyboardInterrupt):
        hostroot.host_root(tmp_path, ["make"])
    assert sorted(p.name for p in (tmp_path / ".host").iterdir() if not p.name.endswith(".lock")) == []
    monkeypatch.undo()
    key = hostroot.tree_key(dpkg.package_closure(["make", *hostroot.SANDBOX_PACKAGES]), hostroot.chosen_alternatives())
    (tmp_path / ".host" / f".tmp-{key}-dead").mkdir()  # a builder killed mid-way, long ago
    assert (hostroot.host_root(tmp_path, ["make"]).usr / "bin" / "make").exists()
    assert not (tmp_path / ".host" / f".tmp-{key}-dead").exists()


def test_two_processes_assemble_one_tree(tmp_path):
    code = "import sys; from pathlib import Path; from jbuild.engine.hostroot import host_root; " \
           "print(host_root(Path(sys.argv[1]), ['make', 'coreutils']).usr)"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = {p.communicate()[0].strip() for p in procs}
    assert len(outs) == 1 and all(p.returncode == 0 for p in procs)
    assert [p.name for p in (tmp_path / ".host").iterdir() if p.name.startswith(".tmp")] == []
    assert (Path(outs.pop()) / "bin" / "ls").is_file()


def test_fingerprint_covers_the_closure_and_is_cached(tmp_path, monkeypatch):
    stats = StatCache(tmp_path / "stat")
    fp = platform.detect("@std//host:cc", STD["cc"], stats)
    assert fp.debian_packages == ("gcc", "binutils", "libc6-dev")
    assert dict(fp.packages)["libc6-dev"] == dpkg.database()["libc6-dev"].version

    def no_subprocess(*a, **kw):
        raise AssertionError("a no-op must not run the version command or dpkg")
    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert platform.detect("@std//host:cc", STD["cc"], stats) == fp
    monkeypatch.undo()
    narrower = HostTool(STD["cc"].binaries, STD["cc"].version_command, debian_packages=("gcc",))
    assert platform.detect("@std//host:cc", narrower, stats).fingerprint != fp.fingerprint


def test_default_packages_are_the_binaries_owners(tmp_path):
    fp = platform.detect("//t:tools", HostTool(("dash", "make"), "make --version"), StatCache(tmp_path / "s"))
    assert fp.debian_packages == ("dash", "make")  # /usr/bin/dash is dpkg's /bin/dash
    assert "libc6" in dict(fp.packages)


def test_a_package_not_installed_is_a_clear_error(tmp_path):
    tool = HostTool(("make",), "make --version", debian_packages=("no-such-package-jbuild",))
    with pytest.raises(platform.HostToolError, match="'no-such-package-jbuild' is not installed") as e:
        platform.detect("//t:tools", tool, StatCache(tmp_path / "s"))
    assert e.value.kind == "bad_input"  # exit 2
