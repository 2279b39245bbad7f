"""`jbuild image` against the real OCI tools: skopeo reads the archive, umoci unpacks it, and
the unpacked root filesystems of geotags and tinydb run under bubblewrap and talk to each other.
The example is built once for the module; each image is written by the real CLI."""

import json
import os
import shutil
import subprocess
import tarfile

import pytest
from imagekit import ask, built_example, free_port, start, stop, unpack, wait_port

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("skopeo", "umoci", "bwrap")),
                                reason="skopeo, umoci and bwrap come from dev/setup.sh")


@pytest.fixture(scope="module")
def ex(tmp_path_factory):
    return built_example(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def images(ex):
    out = ex.root.parent
    return {"geotags": ex.image("//services:geotags", out / "geotags.tar"),
            "tinydb": ex.image("//db:tinydb@1.4.2", f"{out}/layout/", "--tag", "tinydb:1.4.2"),
            "geotags-dir": ex.image("//services:geotags", f"{out}/layout/", "--tag", "geotags:5.1")}


def skopeo(ref: str) -> dict:
    r = subprocess.run(["skopeo", "inspect", ref], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_skopeo_reads_the_archive_with_config_from_the_service(ex, images):
    info = skopeo(f"oci-archive:{ex.root.parent / 'geotags.tar'}")
    assert info["Digest"] == images["geotags"]
    labels = info["Labels"]
    assert labels["dev.jbuild.target"] == "//services:geotags"
    assert labels["org.opencontainers.image.version"] == "5.1"
    for label in ("//services:geotags", "//libs:geohash", "//libs:libc", "//db:tinydb"):
        assert labels[f"dev.jbuild.entry.{label}"] in os.listdir(ex.store)  # each entry's key, by name
    assert "libc6=" in labels["dev.jbuild.host-packages"]
    assert "TINYDB_PORT=7000" in info["Env"]
    # one layer per entry of the closure, the host C library's, the top one
    assert len(info["Layers"]) == 4 + 1 + 1


def test_the_config_says_entrypoint_ports_volumes_workdir(ex, images):
    r = subprocess.run(["skopeo", "inspect", "--config", f"oci:{ex.root.parent / 'layout'}:1.4.2"],
                       capture_output=True, text=True, check=True)
    config = json.loads(r.stdout)["config"]
    assert config["Entrypoint"] == ["/bin/tinydb"] and config["Cmd"] == ["7000"]
    assert config["ExposedPorts"] == {"7000/tcp": {}}
    assert config["Volumes"] == {"/var/lib/tinydb": {}}
    assert config["WorkingDir"] == "/var/lib/tinydb"


def test_the_same_closure_gives_the_same_bytes_and_digest(ex, images, tmp_path):
    again = ex.image("//services:geotags", tmp_path / "again.tar")
    assert again == images["geotags"] == images["geotags-dir"]
    assert (tmp_path / "again.tar").read_bytes() == (ex.root.parent / "geotags.tar").read_bytes()
    with tarfile.open(tmp_path / "again.tar") as t:
        members = t.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid) for m in members} == {(0, 0, 0)}


def test_another_store_gives_the_same_digest(ex, images, tmp_path):
    """Nothing of the store's path or of when the layers were made enters the image."""
    other = built_example(tmp_path)
    assert other.image("//services:geotags", tmp_path / "other.tar") == images["geotags"]


def test_docker_format_is_read_as_a_docker_archive(ex, images, tmp_path):
    out = tmp_path / "geotags-docker.tar"
    assert ex.image("//services:geotags", out, "--format", "docker", "--tag", "geotags:test") == images["geotags"]
    info = skopeo(f"docker-archive:{out}:geotags:test")  # found by the RepoTag of manifest.json
    assert info["Labels"]["dev.jbuild.target"] == "//services:geotags"
    assert len(info["Layers"]) == 6
    r = subprocess.run(["skopeo", "inspect", f"docker-archive:{out}:geotags:other"], capture_output=True, text=True)
    assert r.returncode != 0


def test_the_rootfs_holds_the_closure_and_the_c_library_only(ex, images, tmp_path):
    config = unpack(ex.root.parent / "layout", "5.1", tmp_path / "bundle")
    root = tmp_path / "bundle" / "rootfs"
    assert sorted(os.listdir(root)) == ["bin", "etc", "include", "lib", "lib64", "tmp", "usr", "var"]
    assert sorted(os.listdir(root / "bin")) == ["geotags", "tinydb"]  # real programs, no launchers
    assert (root / "bin" / "geotags").read_bytes()[:4] == b"\x7fELF"
    assert sorted(os.listdir(root / "usr")) == ["lib", "lib64"]  # the host's libc6 closure, libraries only
    assert (root / "etc" / "tinydb.conf").read_text().split() == ["port", "=", "7000", "data_dir", "=", "/var/lib/tinydb"]
    assert os.listdir(root / "var" / "lib" / "geotags") == []
    assert config["process"]["args"] == ["/bin/geotags", "serve", "8080"]


def test_geotags_and_tinydb_images_run_and_talk(ex, images, tmp_path):
    layout = ex.root.parent / "layout"
    db_config = unpack(layout, "1.4.2", tmp_path / "tinydb")
    app_config = unpack(layout, "5.1", tmp_path / "geotags")
    db_port, app_port = free_port(), free_port()
    db = start(tmp_path / "tinydb", db_config, [str(db_port)])
    app = None
    try:
        wait_port(db_port, db)
        app = start(tmp_path / "geotags", app_config, ["serve", str(app_port)],
                    {"TINYDB_HOST": "127.0.0.1", "TINYDB_PORT": str(db_port)})
        wait_port(app_port, app)
        assert ask(app_port, "TAG home 57.64911 10.40744") == "OK u4pruydqqvj"
        assert ask(app_port, "GET home").startswith("VALUE u4pruydqqvj")
        assert ask(db_port, "GET tag:home").startswith("VALUE u4pruydqqvj")
    finally:
        app_out = stop(app) if app else ""
        db_out = stop(db)
    assert "hello from minilibc" in db_out  # the closure's libc, found in /lib by the loader's default paths
    assert "stored tag selfcheck" in app_out, app_out
    journal = tmp_path / "tinydb" / "rootfs" / "var" / "lib" / "tinydb" / "tinydb.log"
    assert "tag:home" in journal.read_text()  # tinydb kept its data in its working directory (the volume)


@pytest.mark.parametrize("args,says", [
    (["//services:geotag", "-o", "x.tar"], "did you mean"),
    (["//services:geotags", "-o", "/nonexistent/dir/x.tar"], "does not exist"),
    (["//services:geotags", "-o", "out/", "--format", "docker"], "writes an archive"),
    (["//services:geotags", "-o", "x.tar", "--tag", "Geo Tags"], "expected NAME:TAG"),
    (["//services:geotags_test", "-o", "x.tar"], "is a test"),
])
def test_bad_input_is_a_clear_error(ex, args, says):
    r = ex.jbuild("image", *args, "--sandbox", "bwrap")
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_set_changes_the_command_ports_and_etc(ex, images, tmp_path):
    digest = ex.image("//db:tinydb@1.4.2", tmp_path / "t.tar", "--set", "//db:tinydb.port=7100")
    assert digest != images["tinydb"]
    r = subprocess.run(["skopeo", "inspect", "--config", f"oci-archive:{tmp_path / 't.tar'}"],
                       capture_output=True, text=True, check=True)
    config = json.loads(r.stdout)["config"]
    assert config["Cmd"] == ["7100"] and config["ExposedPorts"] == {"7100/tcp": {}}
    with tarfile.open(tmp_path / "t.tar") as outer:
        manifest = json.load(outer.extractfile(next(
            m for m in outer.getmembers() if m.name.endswith(digest.split(":")[1]))))
        top = outer.extractfile("blobs/sha256/" + manifest["layers"][-1]["digest"].split(":")[1])
        with tarfile.open(fileobj=top, mode="r:gz") as layer:
            assert b"port = 7100" in layer.extractfile("etc/tinydb.conf").read()
