"""`jbuild build` with fetched sources, end to end: the real CLI, bubblewrap, a local HTTP server
serving archives and a git repository. What a user sees: the hash (never the URL) in the key,
a store hit without network, mirrors and --offline, and the errors of each."""

import os
import signal
import subprocess
import sys
import time

from fetchkit import make_git_repo, make_tar, serving, sha256
from helpers import outcomes, run_jbuild, write_tree

HELLO = {"hello.c": '#include <stdio.h>\nint main(void) { puts("hello 1.0"); return 0; }\n'}


def recipe(source: str, extra: str = "") -> str:
    return f"""
        package hello {{
            version = "1.0"
            sources = {source}
            {extra}
            build_requires = [@std//host:cc]
            build = \"\"\"
                mkdir -p $OUT/bin
                cc -o $OUT/bin/hello $SRC/hello.c
            \"\"\"
        }}
    """


class Ws:
    def __init__(self, tmp_path):
        self.root, self.store = tmp_path / "ws", tmp_path / "store"
        self.root.mkdir()
        (self.root / "jbuild.toml").write_text("")
        self.runs = 0

    def write(self, files):
        write_tree(self.root, files)

    def build(self, *args):
        self.runs += 1
        events = self.root / f"events-{self.runs}.json"
        r = run_jbuild("build", "//:hello", "--sandbox", "bwrap", "--build-events", str(events), *args,
                       cwd=self.root, env={"JBUILD_STORE": str(self.store)})
        seen = set(outcomes(events).values())
        return r, ("built" if "built" in seen else "reused" if seen == {"reused"} else "failed")

    def run_hello(self) -> str:
        return os.popen(str(self.root / "result" / "bin" / "hello")).read()


def archive_of(tmp_path, text=HELLO, name="hello-1.0.tar.gz"):
    path = make_tar(tmp_path / "srv" / name, text, top="hello-1.0")
    return path, sha256(path)


def test_the_hash_not_the_url_enters_the_key_and_a_store_hit_needs_no_network(tmp_path):
    ws = Ws(tmp_path)
    path, digest = archive_of(tmp_path)
    with serving(path.parent) as srv:
        ws.write({"BUILD": recipe(f'archive(url = "{srv.url}/hello-1.0.tar.gz", sha256 = "{digest}", strip = 1)')})
        r, what = ws.build()
        assert r.returncode == 0 and what == "built", r.stderr
        assert "fetched hello-1.0.tar.gz" in r.stderr and ws.run_hello() == "hello 1.0\n"
    # The server is gone; the URL moves; --offline: the key is the same, the entry is reused.
    ws.write({"BUILD": recipe(f'archive(url = "https://elsewhere.example/h.tgz", sha256 = "{digest}", strip = 1)')})
    r, what = ws.build("--offline")
    assert r.returncode == 0 and what == "reused", r.stderr
    # A new tarball (a new hash) rebuilds, from the download cache's point of view a new file.
    path2, digest2 = archive_of(tmp_path, {"hello.c": HELLO["hello.c"].replace("1.0", "1.1")}, "hello-1.1.tar.gz")
    with serving(path2.parent) as srv:
        ws.write({"BUILD": recipe(f'archive(url = "{srv.url}/hello-1.1.tar.gz", sha256 = "{digest2}", strip = 1)')})
        r, what = ws.build()
    assert what == "built" and ws.run_hello() == "hello 1.1\n"
    explain = run_jbuild("explain", "//:hello", cwd=ws.root, env={"JBUILD_STORE": str(ws.store)})
    assert "(archive 1)" in explain.stdout


def test_a_wrong_hash_fails_the_package_naming_both(tmp_path):
    ws = Ws(tmp_path)
    path, digest = archive_of(tmp_path)
    wrong = digest[::-1]
    with serving(path.parent) as srv:
        ws.write({"BUILD": recipe(f'archive(url = "{srv.url}/hello-1.0.tar.gz", sha256 = "{wrong}", strip = 1)')})
        r, what = ws.build()
    assert r.returncode == 1 and what == "failed"
    assert f"the recipe says {wrong}, the download has {digest}" in r.stderr and "Traceback" not in r.stderr
    assert os.listdir(ws.store / ".downloads" / "sha256") == []


def test_offline_uses_a_mirror_directory_and_says_what_it_tried(tmp_path):
    ws = Ws(tmp_path)
    path, digest = archive_of(tmp_path)
    url = "https://upstream.example/hello-1.0.tar.gz"
    ws.write({"BUILD": recipe(f'archive(url = "{url}", sha256 = "{digest}", strip = 1)'),
              "jbuild.toml": '[fetch]\nmirrors = ["mirror"]\n'})
    (ws.root / "mirror").mkdir()
    r, what = ws.build("--offline")
    assert r.returncode == 1 and what == "failed"
    assert url in r.stderr and str(ws.root / "mirror") in r.stderr and "--offline" in r.stderr, r.stderr
    (ws.root / "mirror" / "hello-1.0.tar.gz").write_bytes(path.read_bytes())
    r, what = ws.build("--offline")
    assert r.returncode == 0 and what == "built", r.stderr
    assert ws.run_hello() == "hello 1.0\n"


def test_patches_apply_and_a_failing_one_names_the_patch_and_hunk(tmp_path):
    ws = Ws(tmp_path)
    path, digest = archive_of(tmp_path)
    good = ("--- a/hello.c\n+++ b/hello.c\n@@ -1,2 +1,2 @@\n #include <stdio.h>\n"
            '-int main(void) { puts("hello 1.0"); return 0; }\n+int main(void) { puts("patched"); return 0; }\n')
    with serving(path.parent) as srv:
        source = f'archive(url = "{srv.url}/hello-1.0.tar.gz", sha256 = "{digest}", strip = 1)'
        ws.write({"BUILD": recipe(source, 'patches = ["patches/greet.patch"]'), "patches/greet.patch": good})
        r, what = ws.build()
        assert r.returncode == 0 and what == "built" and ws.run_hello() == "patched\n", r.stderr
        ws.write({"patches/greet.patch": good.replace("hello 1.0", "hello 0.9")})
        r, what = ws.build()
    assert r.returncode == 1 and what == "failed"
    assert "patch patches/greet.patch does not apply: hello.c: hunk #1 (@@ -1,2 +1,2 @@) FAILED" in r.stderr


def test_a_git_source_over_dumb_http(tmp_path):
    ws = Ws(tmp_path)
    commit = make_git_repo(tmp_path / "srv" / "hello", HELLO)
    with serving(tmp_path / "srv") as srv:
        ws.write({"BUILD": recipe(f'[git(url = "{srv.url}/hello/.git", commit = "{commit}")]')})
        r, what = ws.build()
    assert r.returncode == 0 and what == "built", r.stderr
    assert ws.run_hello() == "hello 1.0\n"


def test_a_malformed_hash_is_a_recipe_error(tmp_path):
    ws = Ws(tmp_path)
    ws.write({"BUILD": recipe('archive(url = "https://x.example/a.tgz", sha256 = "abc")')})
    r, _ = ws.build()
    assert r.returncode == 2
    assert "BUILD:4:" in r.stderr and "'sha256' must be 64 hexadecimal digits" in r.stderr and "^^^" in r.stderr


def test_an_interrupt_during_a_download_exits_8_and_keeps_nothing(tmp_path):
    ws = Ws(tmp_path)
    big = tmp_path / "srv" / "big-1.0.tar"
    big.parent.mkdir()
    big.write_bytes(os.urandom(2 << 20))
    with serving(big.parent, slow=0.01) as srv:  # 4 kB every 10 ms: about 5 s in all
        ws.write({"BUILD": recipe(f'archive(url = "{srv.url}/big-1.0.tar", sha256 = "{sha256(big)}")')})
        proc = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:hello", "--sandbox", "bwrap"],
                                cwd=ws.root, env={**os.environ, "JBUILD_STORE": str(ws.store)},
                                stderr=subprocess.PIPE, text=True)
        partial = ws.store / ".downloads" / "partial"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (partial.is_dir() and any(p.stat().st_size for p in partial.iterdir())):
            time.sleep(0.05)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 8, proc.stderr.read()
        assert time.monotonic() - started < 3  # the download stopped, it did not run to its end
    assert os.listdir(ws.store / ".downloads" / "sha256") == [] and os.listdir(partial) == []
    assert "Traceback" not in proc.stderr.read()


def test_jbuild_fetch_prepares_an_offline_build_and_a_mirror(tmp_path):
    ws = Ws(tmp_path)
    path, digest = archive_of(tmp_path)
    commit = make_git_repo(tmp_path / "srv" / "other", HELLO)
    mirror = tmp_path / "carried"
    with serving(tmp_path / "srv") as srv:
        ws.write({"BUILD": recipe(f'archive(url = "{srv.url}/hello-1.0.tar.gz", sha256 = "{digest}", strip = 1)')
                  + recipe(f'[git(url = "{srv.url}/other/.git", commit = "{commit}")]').replace("hello {", "other {")})
        r = run_jbuild("fetch", "//...", "--into", str(mirror), cwd=ws.root, env={"JBUILD_STORE": str(ws.store)})
        assert r.returncode == 0 and "2 sources ready, 0 failed" in r.stderr, r.stderr
    assert (mirror / "hello-1.0.tar.gz").read_bytes() == path.read_bytes() and (mirror / "sha256" / digest).exists()
    r, what = ws.build("--offline")  # the server is gone: the download cache has it all
    assert what == "built", r.stderr
    r = run_jbuild("build", "//:other", "--offline", "--sandbox", "bwrap", cwd=ws.root, env={"JBUILD_STORE": str(ws.store)})
    assert r.returncode == 0, r.stderr
    # Another machine: an empty store, the carried directory as its mirror.
    (ws.root / "jbuild.toml").write_text(f'[fetch]\nmirrors = ["{mirror}"]\n')
    r = run_jbuild("build", "//:hello", "--offline", "--sandbox", "bwrap", cwd=ws.root,
                   env={"JBUILD_STORE": str(tmp_path / "store2")})
    assert r.returncode == 0 and "fetched hello-1.0.tar.gz" in r.stderr and str(mirror) in r.stderr, r.stderr
    r = run_jbuild("fetch", "//:other", "--offline", cwd=ws.root, env={"JBUILD_STORE": str(tmp_path / "store2")})
    assert r.returncode == 1 and "0 sources ready, 1 failed" in r.stderr and "--offline" in r.stderr


def test_jbuild_fetch_waits_for_a_gc_holding_the_store(tmp_path):
    """gc holds the store exclusively while it sweeps .downloads: a fetch (which copies archives
    into its --into mirror) must not run meanwhile, as a build does not."""
    import fcntl

    ws = Ws(tmp_path)
    path, digest = archive_of(tmp_path)
    with serving(tmp_path / "srv") as srv:
        ws.write({"BUILD": recipe(f'archive(url = "{srv.url}/hello-1.0.tar.gz", sha256 = "{digest}", strip = 1)')})
        (ws.store).mkdir()
        lock = os.open(ws.store / ".store.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(lock, fcntl.LOCK_EX)  # what `jbuild gc` holds
        proc = subprocess.Popen([sys.executable, "-m", "jbuild", "fetch", "//...", "--into", str(tmp_path / "m")],
                                cwd=ws.root, env={**os.environ, "JBUILD_STORE": str(ws.store)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(3)
            assert proc.poll() is None, proc.stderr.read()  # waiting for the lock
            assert not (tmp_path / "m" / "hello-1.0.tar.gz").exists()
        finally:
            os.close(lock)  # gc is done
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "1 sources ready, 0 failed" in err, err
    assert (tmp_path / "m" / "hello-1.0.tar.gz").read_bytes() == path.read_bytes()
