"""The shared HTTP cache against a real nginx: upload, a cold store that downloads everything,
poisoned and truncated objects, a cache that dies mid-build or never answers, credentials."""

import hashlib
import json
import os
import socket
import subprocess
import threading
import time

import pytest
from helpers import Example, pristine_example, run_jbuild, write_tree
from nginx_server import Nginx, nginx_fixture  # noqa: F401 (the `nginx` fixture)

TINY = """
package tiny {
    version = "1.0"
    build = "mkdir -p $OUT && echo hi > $OUT/hi"
}
"""


def entries(store):
    return sorted(p.name for p in store.iterdir() if (p / ".jbuild-entry.json").exists() and "-env-" not in p.name)


def meta(store, name):
    data = json.loads((store / name / ".jbuild-entry.json").read_text())
    data.pop("stat_digest")  # stats are the local copy's own
    return data


def ac_record(server, name):
    path = server.root / "ac" / hashlib.sha256(f"jbuild-entry:{name}".encode()).hexdigest()
    return json.loads(path.read_text())


def file_blob(server, name):
    """The CAS path of the largest file of entry `name`, as the cache lists it."""
    tree = json.loads((server.root / "cas" / ac_record(server, name)["tree"]).read_text())
    files = [(server.root / "cas" / d) for _, kind, d in tree["items"] if kind in "fx"]
    return max(files, key=lambda p: p.stat().st_size)


@pytest.fixture
def two(tmp_path, nginx):
    """Two workspaces (a CI machine that built, a cold one), each with its own store."""
    a = Example(pristine_example(tmp_path / "a"), tmp_path / "store-a")
    b = Example(pristine_example(tmp_path / "b"), tmp_path / "store-b")
    return a, b


def test_a_cold_store_downloads_everything_and_builds_nothing(two, nginx):
    a, b = two
    r, seen = a.build("--remote-cache", nginx.url)
    assert r.returncode == 0, r.stderr
    assert set(seen.values()) == {"built"}
    assert len(nginx.objects("ac")) == len(seen)  # one action record per entry, uploaded
    assert "from the remote cache" not in r.stderr

    r, seen = b.build("--remote-cache", nginx.url)
    assert r.returncode == 0, r.stderr
    assert set(seen.values()) == {"reused"} and len(seen) == 4
    assert f"0 built, 0 reused from the store, {len(seen)} from the remote cache" in r.stderr
    events = [json.loads(x) for x in (b.root / f"events-{b.runs}.json").read_text().splitlines()]
    assert {e["cache"]["source"] for e in events if e["event"] == "target_complete"} == {"remote"}
    assert entries(a.store) == entries(b.store)
    for name in entries(a.store):
        assert meta(a.store, name) == meta(b.store, name)
    assert (b.store / "logs").iterdir()  # the build logs came along
    assert b.jbuild("store", "verify").returncode == 0
    # the downloaded program runs
    out = subprocess.run([b.root / "result" / "bin" / "geotags", "57.64911", "10.40744"], capture_output=True,
                         text=True, check=False)
    assert "u4pruydqqvj" in out.stdout, out


@pytest.mark.parametrize("damage", ["poisoned", "truncated"])
def test_a_damaged_object_is_rejected_and_built_locally(two, nginx, damage):
    a, b = two
    assert a.build("--remote-cache", nginx.url)[0].returncode == 0
    geotags = next(n for n in entries(a.store) if "-geotags-" in n)
    blob = file_blob(nginx, geotags)
    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:-4] + b"EVIL")

    r, seen = b.build("--remote-cache", nginx.url)
    assert r.returncode == 0, r.stderr
    assert seen["//services:geotags"] == "built"
    assert [v for k, v in seen.items() if k != "//services:geotags"] == ["reused"] * 3
    assert f"rejected {geotags}" in r.stderr and "poisoned or truncated" in r.stderr
    assert meta(b.store, geotags)["output_hash"] == meta(a.store, geotags)["output_hash"]  # reproducible
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name  # the rebuild re-uploaded it whole


def test_nginx_stopped_mid_build_costs_one_warning(tmp_path, nginx):
    ex = Example(pristine_example(tmp_path / "ws"), tmp_path / "store")
    ex.edit("services/BUILD", 'mkdir -p "$OUT/bin"', 'sleep 2; mkdir -p "$OUT/bin"')
    events = ex.root / "events-1.json"

    def stop_when_geotags_starts():  # after three builds and their uploads
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = events.read_text().splitlines() if events.exists() else []
            if any('"action_started"' in x and "//services:geotags" in x for x in lines):
                nginx.stop()
                return
            time.sleep(0.05)

    stopper = threading.Thread(target=stop_when_geotags_starts)
    stopper.start()
    r, seen = ex.build("--remote-cache", nginx.url)
    stopper.join()
    assert r.returncode == 0, r.stderr
    assert set(seen.values()) == {"built"}
    assert r.stderr.count("warning: remote cache") == 1, r.stderr
    assert "building locally without it" in r.stderr
    assert 1 <= len(nginx.objects("ac")) < 4  # alive for the first builds, gone before geotags's upload


def test_a_cache_that_never_answers_costs_seconds_and_one_warning(tmp_path):
    ex = Example(pristine_example(tmp_path / "ws"), tmp_path / "store")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections (the kernel does), never answers
    try:
        start = time.monotonic()
        r, seen = ex.build("--remote-cache", f"http://127.0.0.1:{silent.getsockname()[1]}")
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    assert r.returncode == 0, r.stderr
    assert set(seen.values()) == {"built"}
    assert r.stderr.count("warning: remote cache") == 1 and "timed out" in r.stderr
    assert elapsed < 30


def test_credentials_are_used_and_never_shown(tmp_path):
    server = Nginx(tmp_path / "nginx", credentials=("ci", "s3cret-pw")).start()
    try:
        ex = Example(pristine_example(tmp_path / "ws"), tmp_path / "store")
        url = server.url.replace("http://", "http://ci:wrong-pw@")
        r, _ = ex.build("--remote-cache", url)
        assert r.returncode == 0
        assert "401" in r.stderr and r.stderr.count("warning: remote cache") == 1
        assert "wrong-pw" not in r.stdout + r.stderr and server.url in r.stderr
        assert server.objects("ac") == []

        netrc = tmp_path / "netrc"
        netrc.write_text("machine 127.0.0.1 login ci password s3cret-pw\n")
        ex2 = Example(pristine_example(tmp_path / "ws2"), tmp_path / "store2")
        r = run_jbuild("build", "//services:geotags", "--remote-cache", server.url, cwd=ex2.root,
                       env={"NETRC": str(netrc), "JBUILD_STORE": str(ex2.store)})
        assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
        assert len(server.objects("ac")) == 4
        ex3 = Example(pristine_example(tmp_path / "ws3"), tmp_path / "store3")
        r = run_jbuild("build", "//services:geotags", "--remote-cache", server.url, cwd=ex3.root,
                       env={"JBUILD_CACHE_TOKEN": "ci:s3cret-pw", "JBUILD_STORE": str(ex3.store)})
        assert "4 from the remote cache" in r.stderr, r.stderr
        assert "s3cret" not in r.stdout + r.stderr
    finally:
        server.stop()


def test_settings_from_jbuild_toml_and_no_upload(two, nginx):
    a, _ = two
    (a.root / "jbuild.toml").write_text(f'[build]\njobs = 2\n[cache]\nurl = "{nginx.url}"\nupload = false\n')
    r, seen = a.build()
    assert r.returncode == 0, r.stderr
    assert nginx.objects("ac") == []  # read-only (a pull-request job)
    r = a.jbuild("build", "//services:geotags", "--remote-upload")
    assert r.returncode == 0 and nginx.objects("ac") == []  # nothing was built: nothing to upload
    tiny = write_tree(a.root.parent / "tiny", {"jbuild.toml": "", "BUILD": TINY})
    r = run_jbuild("build", "//:tiny", "--sandbox", "fallback", "--remote-cache", nginx.url, cwd=tiny,
                   env={"JBUILD_STORE": str(a.store) + "-fallback"})
    assert r.returncode == 0 and "1 built" in r.stderr, r.stderr
    assert nginx.objects("ac") == [] and nginx.objects("cas") == []  # fallback entries never leave the machine
    (a.root / "jbuild.toml").write_text(f'[cache]\nurl = "{nginx.url}"\nupload = "yes"\n')
    r = a.jbuild("build", "//services:geotags")
    assert r.returncode == 2 and "[cache] upload must be true or false" in r.stderr


def test_a_self_consistent_record_with_an_escaping_link_is_rejected(two, nginx, tmp_path):
    """An attacker who can write the cache makes every digest agree: the output checks a local
    build passes still stop a link out of the entry."""
    from jbuild.engine.remote.tree import encode, listing
    from jbuild.engine.store.entry import tree_digest

    a, b = two
    assert a.build("--remote-cache", nginx.url)[0].returncode == 0
    geotags = next(n for n in entries(a.store) if "-geotags-" in n)
    evil = tmp_path / "evil"
    (evil / "bin").mkdir(parents=True)
    os.symlink("../../../../../../etc/shadow", evil / "bin" / "geotags")
    tree = encode(listing(evil))
    tree_sha = hashlib.sha256(tree).hexdigest()
    (nginx.root / "cas" / tree_sha).write_bytes(tree)
    rec = ac_record(nginx, geotags)
    rec["tree"], rec["meta"]["output_hash"] = tree_sha, tree_digest(evil)[0]
    (nginx.root / "ac" / hashlib.sha256(f"jbuild-entry:{geotags}".encode()).hexdigest()).write_text(json.dumps(rec))

    r, seen = b.build("--remote-cache", nginx.url)
    assert r.returncode == 0, r.stderr
    assert f"rejected {geotags}: its output fails the checks a local build passes" in r.stderr
    assert seen["//services:geotags"] == "built"
    assert not (b.store / geotags / "bin" / "geotags").is_symlink()
