"""The layer cache through the engine API, on entries published into a real store: a layer
is computed once per entry, a changed entry costs one new layer, a damaged cache file is
recomputed, gc takes an entry's layers with it, and a missing C library is named."""

import os
import shutil
import subprocess

import pytest
from jbuild.engine.image.compose import Runtime, compose
from jbuild.engine.image.hostlibs import MissingLibrary
from jbuild.engine.image.layers import LAYERS
from jbuild.engine.runtime.environment import Member
from jbuild.engine.store import EntryMeta, Store


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    work = tmp_path_factory.mktemp("prog")
    (work / "p.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["cc", "-O2", "-o", str(work / "p"), str(work / "p.c")], check=True)
    return work / "p"


def publish(store: Store, i: int, program, flavour: str = "") -> Member:
    with store.temporary() as tmp:
        (tmp.out / "lib").mkdir()
        (tmp.out / "bin").mkdir()
        (tmp.out / f"lib/libpkg{i}.so.1").write_text(f"library {i}{flavour}\n")
        os.symlink(f"libpkg{i}.so.1", tmp.out / f"lib/libpkg{i}.so")
        shutil.copy(program, tmp.out / f"bin/tool{i}")
        name = f"{i:032x}{flavour}-pkg{i}-1"
        store.publish(tmp.out, EntryMeta(key=name.split("-")[0], name=name, label=f"//gen:pkg{i}"))
    return Member(f"//gen:pkg{i}", name, ("lib", "bin"))


def blobs(store: Store) -> set[str]:
    return {p for p in os.listdir(store.root / LAYERS) if p.endswith(".tar.gz")}


def image(store, members, host=("libc6",)):
    with store.shared():
        return compose(store, members, {"app.conf": "x\n"}, Runtime(entrypoint=("/bin/tool0",)), list(host), "t:1")


def test_a_layer_per_entry_computed_once(tmp_path, program):
    store = Store(tmp_path / "store")
    members = [publish(store, i, program) for i in range(5)]
    first = image(store, members)
    assert first.new_layers == 5
    assert len(blobs(store)) == 5 + 1  # and the host C library's
    patched = [*members[:-1], publish(store, 4, program, "b")]
    second = image(store, patched)
    assert second.new_layers == 1
    assert len(blobs(store)) == 5 + 1 + 1
    a, b = first.image.layers, second.image.layers
    assert [x.digest for x in a[:-1]] == [x.digest for x in b[:-1]] and a[-1].digest != b[-1].digest
    assert image(store, members).image.digest == first.image.digest


def test_a_damaged_cache_file_is_computed_again(tmp_path, program):
    store = Store(tmp_path / "store")
    members = [publish(store, i, program) for i in range(2)]
    digest = image(store, members).image.digest
    victim = next(p for p in sorted(blobs(store)) if not p.startswith("host-"))
    path = store.root / LAYERS / victim
    os.chmod(path, 0o644)
    path.write_bytes(b"torn")  # another size than its json says
    stale = store.root / LAYERS / ".tmp-dead-x.tar.gz"
    stale.write_bytes(b"left by a crash")
    os.utime(stale, (1, 1))
    again = image(store, members)
    assert again.new_layers == 1 and again.image.digest == digest
    assert not stale.exists() and not [n for n in os.listdir(store.root / LAYERS) if n.startswith(".tmp-")]


def test_gc_takes_an_entrys_layers_with_it(tmp_path, program):
    store = Store(tmp_path / "store")
    image(store, [publish(store, i, program) for i in range(3)])
    assert len(blobs(store)) == 4
    store.gc()
    assert blobs(store) == {b for b in blobs(store) if b.startswith("host-")}
    assert not any(n.endswith(".json") and not n.startswith(("host-", "choice-")) for n in os.listdir(store.root / LAYERS))


def test_a_library_nobody_provides_is_named(tmp_path, program):
    store = Store(tmp_path / "store")
    members = [publish(store, 0, program)]
    with pytest.raises(MissingLibrary) as e:
        image(store, members, host=())
    assert "libc.so.6 (needed by 00000000000000000000000000000000-pkg0-1)" in str(e.value)
    assert "the interpreter /lib64/ld-linux-x86-64.so.2" in str(e.value) or os.uname().machine != "x86_64"


def test_two_entries_holding_one_path_conflict(tmp_path, program):
    store = Store(tmp_path / "store")
    a = publish(store, 0, program)
    b = publish(store, 0, program, "b")  # another entry exporting the same lib/libpkg0.so.1
    with pytest.raises(Exception, match="both hold"):
        image(store, [a, Member("//gen:other", b.entry, b.exports)])


def test_a_scripts_interpreter_comes_from_the_declared_host_packages(tmp_path):
    store = Store(tmp_path / "store")
    with store.temporary() as tmp:
        (tmp.out / "bin").mkdir()
        (tmp.out / "bin/hello").write_text("#!/bin/sh\necho hello from a script in $(pwd)\n")
        os.chmod(tmp.out / "bin/hello", 0o755)
        store.publish(tmp.out, EntryMeta(key="f" * 32, name="f" * 32 + "-hello-1", label="//gen:hello"))
    members = [Member("//gen:hello", "f" * 32 + "-hello-1", ("bin",))]
    with pytest.raises(MissingLibrary, match="the interpreter /bin/sh"):
        image(store, members, host=("libc6",))
    composed = image(store, members, host=("dash",))
    assert "bin/sh" in composed.image.layers[0].files and "dash=" in composed.image.layers[0].source
    if not (shutil.which("umoci") and shutil.which("bwrap")):
        pytest.skip("umoci and bwrap come from dev/setup.sh")
    from jbuild.engine.image.oci import write_directory

    write_directory(composed.image, tmp_path / "oci")
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{tmp_path / 'oci'}:1", str(tmp_path / "b")], check=True,
                   capture_output=True)
    r = subprocess.run(["bwrap", "--bind", str(tmp_path / "b" / "rootfs"), "/", "--proc", "/proc", "--dev", "/dev",
                        "--chdir", "/var", "/bin/hello"], capture_output=True, text=True)
    assert r.stdout == "hello from a script in /var\n", r.stderr
