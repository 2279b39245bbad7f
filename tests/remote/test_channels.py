"""Channels against a real nginx: publish, promote, list/show, an environment installed from a
channel on a machine that builds nothing, a tampered record, a target that is not prebuilt."""

import hashlib
import json

import pytest
from helpers import Example, pristine_example, run_jbuild
from nginx_server import nginx_fixture  # noqa: F401 (the `nginx` fixture)

TARGET = "//services:geotags"


def channel_file(server, name):
    return server.root / "ac" / hashlib.sha256(f"jbuild-channel:{name}".encode()).hexdigest()


def jb(ex, *args, **env):
    return run_jbuild(*args, cwd=ex.root, env={"JBUILD_STORE": str(ex.store), **env})


@pytest.fixture
def published(tmp_path, nginx):
    """The CI machine built geotags, published it to testing and promoted it to staging."""
    ci = Example(pristine_example(tmp_path / "ci"), tmp_path / "store-ci")
    r = jb(ci, "publish", TARGET, "--channel", "testing", "--remote-cache", nginx.url)
    assert r.returncode == 0, r.stderr
    assert "published //services:geotags to testing: 4 entries" in r.stderr
    r = jb(ci, "promote", "testing", "staging", TARGET, "--remote-cache", nginx.url)
    assert r.returncode == 0 and "promoted //services:geotags from testing to staging" in r.stderr, r.stderr
    return ci


def test_publish_promote_list_show(published, nginx):
    r = jb(published, "channel", "list", "--remote-cache", nginx.url)
    assert r.stdout.splitlines() == ["staging  //services:geotags", "testing  //services:geotags"]
    r = jb(published, "channel", "show", "staging", "--remote-cache", nginx.url)
    lines = r.stdout.splitlines()
    assert lines[0].startswith("//services:geotags  published by ") and "(promoted from testing)" in lines[0]
    names = sorted(p.name for p in published.store.iterdir() if (p / ".jbuild-entry.json").exists()
                   and "-env-" not in p.name)
    assert [x.split()[0] for x in lines[1:]] == names
    for line in lines[1:]:
        entry, digest = line.split()
        assert json.loads((published.store / entry / ".jbuild-entry.json").read_text())["output_hash"] == digest
    r = jb(published, "channel", "show", "prod", "--remote-cache", nginx.url)
    assert r.returncode == 2 and "no channel named prod" in r.stderr


def test_env_from_a_channel_downloads_and_builds_nothing(published, nginx, tmp_path):
    prod = Example(pristine_example(tmp_path / "prod"), tmp_path / "store-prod")
    r = jb(prod, "env", "create", "prod", "--channel", "staging", TARGET, "--remote-cache", nginx.url)
    assert r.returncode == 0, r.stderr
    assert "0 built" in r.stderr and "created prod, generation 1" in r.stderr
    env = prod.store / "envs" / "prod"
    assert (env / "bin" / "geotags").exists()

    # a changed source: its key is not in the channel, and env --channel never builds
    prod.edit("services/geotags/src/main.c", "int main", "/* local change */\nint main")
    r = jb(prod, "env", "create", "prod2", "--channel", "staging", TARGET, "--remote-cache", nginx.url)
    assert r.returncode == 1
    assert "not prebuilt" in r.stderr and "0 built" in r.stderr
    assert not (prod.store / "envs" / "prod2").exists()


def test_a_tampered_channel_record_is_refused(published, nginx, tmp_path):
    path = channel_file(nginx, "staging")
    rec = json.loads(path.read_text())
    target = rec["targets"][TARGET]
    entry = next(e for e in target["entries"] if "-geotags-" in e)
    target["entries"][entry] = "0" * 32  # another tree, without fixing the record's digest
    path.write_text(json.dumps(rec))
    prod = Example(pristine_example(tmp_path / "prod"), tmp_path / "store-prod")
    r = jb(prod, "env", "create", "prod", "--channel", "staging", TARGET, "--remote-cache", nginx.url)
    assert r.returncode == 1
    assert "channel staging: its record fails verification" in r.stderr and "Traceback" not in r.stderr

    # the same lie with the record's digest recomputed: the cache's own record of the entry disagrees
    rec.pop("digest")
    rec["digest"] = hashlib.sha256(json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    path.write_text(json.dumps(rec))
    r = jb(prod, "env", "create", "prod", "--channel", "staging", TARGET, "--remote-cache", nginx.url)
    assert r.returncode == 1 and f"{entry} has tree digest" in r.stderr and "refusing it" in r.stderr
    r = jb(prod, "promote", "staging", "prod", TARGET, "--remote-cache", nginx.url)
    assert r.returncode == 1 and "refusing it" in r.stderr
    assert not channel_file(nginx, "prod").exists()


def test_bad_channel_names_and_no_cache(published, nginx):
    r = jb(published, "publish", TARGET, "--channel", "../x", "--remote-cache", nginx.url)
    assert r.returncode == 2 and "is not a channel name" in r.stderr
    r = jb(published, "channel", "list", JBUILD_REMOTE_CACHE="")
    assert r.returncode == 2 and "no remote cache" in r.stderr


def test_signed_channels_refuse_a_rewritten_record(published, nginx):
    key = {"JBUILD_CHANNEL_KEY": "team-secret"}
    r = jb(published, "promote", "testing", "signed", TARGET, "--remote-cache", nginx.url, **key)
    assert r.returncode == 1 and "channel testing: its record is not signed" in r.stderr  # holders read signed only
    r = jb(published, "publish", TARGET, "--channel", "signed", "--remote-cache", nginx.url, **key)
    assert r.returncode == 0, r.stderr
    assert jb(published, "channel", "show", "signed", "--remote-cache", nginx.url, **key).returncode == 0
    r = jb(published, "channel", "show", "signed", "--remote-cache", nginx.url, JBUILD_CHANNEL_KEY="other")
    assert r.returncode == 1 and "not signed with the key in JBUILD_CHANNEL_KEY" in r.stderr
    r = jb(published, "channel", "show", "staging", "--remote-cache", nginx.url, **key)  # written without the key
    assert r.returncode == 1 and "unsigned" in r.stderr

    # whoever rewrites the record and fixes its digest still cannot sign it
    path = channel_file(nginx, "signed")
    rec = json.loads(path.read_text())
    rec["targets"][TARGET]["published_by"] = "mallory@elsewhere"
    sig = rec.pop("signature")
    rec.pop("digest")
    rec["digest"] = hashlib.sha256(json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    rec["signature"] = sig
    path.write_text(json.dumps(rec))
    r = jb(published, "channel", "show", "signed", "--remote-cache", nginx.url, **key)
    assert r.returncode == 1 and "refusing it" in r.stderr
    assert jb(published, "channel", "show", "signed", "--remote-cache", nginx.url).returncode == 0  # no key: digest only
