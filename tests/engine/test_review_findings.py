"""Small bugs an adversarial review found, each through the real CLI in a temporary workspace
and store: a result link that cannot be made, a store path that is not UTF-8, a Debian package
upgrade the no-op path did not see."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from helpers import pristine_example, run_jbuild

LABEL = "//services:geotags"


@pytest.fixture
def example(tmp_path):
    return pristine_example(tmp_path / "ws")


def test_an_unusable_out_link_is_a_clear_error(example, tmp_path):
    """A directory, `/` or a missing parent as --out-link: exit 2 naming it, never a traceback,
    and no `.jbuild-new-<pid>` link left behind."""
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    assert run_jbuild("build", LABEL, cwd=example, env=env).returncode == 0
    for link in (example / "libs", tmp_path / "missing" / "r", "/"):
        r = run_jbuild("build", "--out-link", str(link), LABEL, cwd=example, env=env)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        assert f"cannot make the result link {link}: " in r.stderr and "`--no-link` builds without a link" in r.stderr
    assert not list(example.glob("*.jbuild-new*"))
    assert (example / "libs" / "BUILD").is_file()


def test_a_store_path_that_is_not_utf8(example, tmp_path):
    """Linux paths are bytes: the output scan looks for the store's path as bytes."""
    store = os.fsdecode(os.fsencode(str(tmp_path)) + b"/st\xff")
    r = run_jbuild("build", LABEL, cwd=example, env={"JBUILD_STORE": store})
    assert r.returncode == 0, r.stderr
    assert os.path.isfile(os.path.join(os.path.realpath(example / "result"), "bin", "geotags"))


def _fake_upgrade(status: str, package: str) -> str | None:
    """dpkg's status with `package`'s version changed, as an upgrade would leave it."""
    text = open(status).read()
    out, n = re.subn(rf"(\nPackage: {package}\n(?:[^\n]+\n)*?Version: )([^\n]+)", r"\1\2+review1", text)
    return out if n == 1 else None


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not os.path.exists("/var/lib/dpkg/status"),
                    reason="needs root (a private mount namespace) and dpkg")
def test_the_noop_path_sees_a_debian_package_upgrade(example, tmp_path):
    """An upgrade of libc6-dev changes headers, not /usr/bin/cc: the full path rebuilds (the
    tool's fingerprint holds its packages' versions), so the no-op path must not say up to date.
    The upgrade is faked by binding an edited status file over dpkg's in a private mount
    namespace: nothing of the machine changes."""
    fake = _fake_upgrade("/var/lib/dpkg/status", "libc6-dev")
    if fake is None:
        pytest.skip("libc6-dev is not installed")
    (tmp_path / "status").write_text(fake)
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    assert run_jbuild("build", LABEL, cwd=example, env=env).returncode == 0
    assert "0 built" in run_jbuild("build", LABEL, cwd=example, env=env).stderr  # the no-op path
    script = 'mount --bind "$0" /var/lib/dpkg/status && exec "$@"'
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
                        str(tmp_path / "status"), sys.executable, "-m", "jbuild", "build", LABEL],
                       cwd=example, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "4 built" in r.stderr and "host tool changed: @std//host:cc" in r.stderr, r.stderr


CHAIN = {
    "jbuild.toml": "",
    "libs/a/a.h": "#define A_VALUE 1\n",
    "libs/b/b.h": "#include <a.h>\n#define B_VALUE (A_VALUE + 1)\n",
    "libs/BUILD": """
        package a {
            version = "1.0"
            sources = ["a/a.h"]
            interface = ["a/a.h"]
            build_requires = [@std//host:sh]
            build = \"\"\"mkdir -p $OUT/include; cp $SRC/a/a.h $OUT/include/\"\"\"
        }
        package b {
            version = "1.0"
            sources = ["b/b.h"]
            interface = ["b/b.h"]
            requires = [:a]
            build_requires = [@std//host:sh]
            build = \"\"\"mkdir -p $OUT/include; cp $SRC/b/b.h $OUT/include/\"\"\"
        }
    """,
}


def test_only_the_package_whose_export_broke_its_declaration_is_flagged(tmp_path):
    """a's build rewrites its installed header (its declared interface did not change): a is
    flagged, and b, whose own export is exactly as before, is not — it used to be warned with
    "exported interface changed ...: no change in the exported interface"."""
    from helpers import write_tree

    ws = write_tree(tmp_path / "ws", CHAIN)
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    assert run_jbuild("build", "//libs:b", cwd=ws, env=env).returncode == 0
    build = ws / "libs" / "BUILD"
    build.write_text(build.read_text().replace("cp $SRC/a/a.h $OUT/include/",
                                               "cp $SRC/a/a.h $OUT/include/; echo '#define A_EXTRA 5' >> $OUT/include/a.h"))
    r = run_jbuild("build", "//libs:b", cwd=ws, env=env)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: //libs:a: exported interface changed though its declared interface did not: "
                        "include/a.h changed; rebuilding its consumers"], r.stderr
    assert "building //libs:b@1.0" in r.stderr  # b is still rebuilt: what it exports (a's header) changed


STRICT_PROBE = {
    "jbuild.toml": "",
    "p/m.c": """
        #include <stdio.h>
        int main(void) {
        #ifdef __STRICT_ANSI__
            puts("strict");
        #else
            puts("gnu");
        #endif
            return 0;
        }
    """,
    "p/BUILD": """
        package m {
            version = "1.0"
            sources = ["m.c"]
            build_requires = [@std//host:cc, @std//host:sh]
            build = \"\"\"mkdir -p $OUT/bin; cc -o $OUT/bin/m $SRC/m.c\"\"\"
        }
    """,
}


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not os.path.exists("/usr/bin/c99-gcc")
                    or not os.path.islink("/etc/alternatives/cc"), reason="needs root, dpkg's alternatives, c99-gcc")
def test_a_changed_alternative_gets_a_new_host_tree(tmp_path):
    """`update-alternatives --set cc /usr/bin/c99-gcc` changes cc's key (its resolved binary);
    the rebuild must run the new choice, not the tree assembled under the old one (it did:
    an entry keyed for c99-gcc held gcc's output, and a clean store built another)."""
    from helpers import write_tree

    ws = write_tree(tmp_path / "ws", STRICT_PROBE)
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    assert run_jbuild("build", "//p:m", cwd=ws, env=env).returncode == 0
    assert subprocess.run([ws / "result" / "bin" / "m"], capture_output=True, text=True).stdout == "gnu\n"
    alts = tmp_path / "alternatives"
    shutil.copytree("/etc/alternatives", alts, symlinks=True)
    (alts / "cc").unlink()
    (alts / "cc").symlink_to("/usr/bin/c99-gcc")
    script = 'mount --bind "$0" /etc/alternatives && exec "$@"'
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, str(alts),
                        sys.executable, "-m", "jbuild", "build", "//p:m"],
                       cwd=ws, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "host tool changed: @std//host:cc" in r.stderr
    assert subprocess.run([ws / "result" / "bin" / "m"], capture_output=True, text=True).stdout == "strict\n"


def test_two_roots_resolving_a_shared_package_differently_build_it_twice(make_workspace, tmp_path):
    """F3: `mid` under x sees base[mode=lo], under y base[mode=hi]: two actions, and y built in
    one command with x is the same as y built alone."""
    sh = "build_requires = [@std//host:sh]"
    root = make_workspace({"BUILD": f"""
        package base {{ version = "1" flavours {{ mode = [lo, hi] default lo }} {sh}
            build = "mkdir -p $OUT/share && echo MODE $JBUILD_FLAVOUR_MODE > $OUT/share/base" }}
        package mid {{ version = "1" requires = [:base] {sh}
            build = "mkdir -p $OUT/share && cat /env/share/base > $OUT/share/mid" }}
        package x {{ version = "1" requires = [:mid, :base[mode=lo]] {sh}
            build = "mkdir -p $OUT/share && cat /deps/mid/share/mid /deps/base/share/base > $OUT/share/out" }}
        package y {{ version = "1" requires = [:mid, :base[mode=hi]] {sh}
            build = "mkdir -p $OUT/share && cat /deps/mid/share/mid /deps/base/share/base > $OUT/share/out" }}
    """})
    together = run_jbuild("build", "//...", "--sandbox", "bwrap", "--no-link", "--print-out-paths", cwd=root,
                          env={"JBUILD_STORE": str(tmp_path / "s1")})
    assert together.returncode == 0, together.stderr
    alone = run_jbuild("build", "//:y", "--sandbox", "bwrap", "--no-link", "--print-out-paths", cwd=root,
                       env={"JBUILD_STORE": str(tmp_path / "s2")})
    y_together = next(p for p in together.stdout.split() if p.endswith("-y-1"))
    assert open(y_together + "/share/out").read() == "MODE hi\nMODE hi\n"
    assert open(alone.stdout.strip() + "/share/out").read() == "MODE hi\nMODE hi\n"
    assert y_together.rsplit("/", 1)[1] == alone.stdout.strip().rsplit("/", 1)[1]


def test_a_librarys_programs_are_not_on_path_a_tools_are(make_workspace, tmp_path):
    """F2: running a build-and-run dependency's program is not the silent default (it would go
    stale: programs are outside the exported interface); a build-only tool's program is."""
    sh = "build_requires = [@std//host:sh]"
    root = make_workspace({"BUILD": f"""
        package gen {{ version = "1" {sh}
            build = "mkdir -p $OUT/bin && printf '#!/bin/sh\\\\necho generated\\\\n' > $OUT/bin/gen && chmod +x $OUT/bin/gen" }}
        package lib_user {{ version = "1" requires = [:gen] {sh} build = "mkdir -p $OUT/share && gen > $OUT/share/x" }}
        package tool_user {{ version = "1" build_requires = [:gen, @std//host:sh]
            build = "mkdir -p $OUT/share && gen > $OUT/share/x" }}
    """})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    r = run_jbuild("build", "//:lib_user", "--sandbox", "bwrap", "--no-link", cwd=root, env=env)
    assert r.returncode == 1 and "gen: not found" in r.stderr, r.stderr
    r = run_jbuild("build", "//:tool_user", "--sandbox", "bwrap", "--no-link", "--print-out-paths", cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    assert open(r.stdout.strip() + "/share/x").read() == "generated\n"


def test_a_non_utf8_file_name_in_a_glob_is_a_recipe_error(make_workspace, tmp_path):
    root = make_workspace({"BUILD": 'package p { version = "1" sources = glob(["src/**"]) build = "mkdir -p $OUT" }',
                           "src/ok.c": ""})
    (root / "src" / os.fsdecode(b"y\xff.c")).write_text("")
    r = run_jbuild("build", "//:p", "--no-link", cwd=root, env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 2 and "is not UTF-8" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_reader_that_stops_at_the_first_line_still_gets_the_new_result_link(example, tmp_path):
    """`jbuild build … 2>&1 | head -1`: the closed pipe ends jbuild at its next line (a broken
    pipe). The `result` link is made before the summary, so it already names the new environment."""
    env = {**os.environ, "JBUILD_STORE": str(tmp_path / "store")}
    assert run_jbuild("build", LABEL, cwd=example, env=env).returncode == 0
    mini = example / "libs" / "libc" / "src" / "mini.c"
    mini.write_text(mini.read_text().replace("minilibc 1", "minilibc 2"))
    proc = subprocess.Popen([sys.executable, "-m", "jbuild", "build", LABEL], cwd=example, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert "building //libs:libc" in proc.stderr.readline()
    proc.stderr.close()  # as `head -1` exits
    proc.wait(timeout=120)  # (whatever its exit: the link is what the user keeps)
    ran = subprocess.run([str(example / "result" / "bin" / "geotags"), "57.6", "10.4"], capture_output=True,
                         text=True, timeout=60)
    assert "hello from minilibc 2" in ran.stdout + ran.stderr
