"""Keys: the encoding is pinned (golden values), and what must not change a key doesn't.

A change to a golden value means every store entry ever built is orphaned: bump KEY_SALT's
version deliberately when that is intended, and update the pins in the same commit.
"""

import pytest
from jbuild.base.hashing import encode, key_of
from jbuild.engine.build import Options, plan

BASE = """
package lib {
    version = "1.0"
    summary = "a library"
    flavours { opt = [fast, small] default fast }
    sources = ["lib.c", "lib.h"]
    interface = ["lib.h"]
    build = "cp $SRC/lib.c $OUT/"
    exports = ["lib"]
    config { port: int = 1 }
    tags = ["a"]
}
package app {
    version = "2.0"
    sources = ["app.c"]
    requires = [:lib >= 1.0]
    run_requires = [:db]
    build = "cp $SRC/app.c $OUT/"
}
package db { version = "3" build = "mkdir -p $OUT" }
"""


def test_encoding_is_pinned():
    assert encode({"b": [1, "x"], "a": None}) == b"jbuild-keys-v1\0D2{S1:aNS1:bL2[I1;S1:x]}"
    assert key_of({"b": [1, "x"], "a": None}) == key_of({"a": None, "b": [1, "x"]})
    assert key_of("x") == "2c2f0e9664a34332b1ea682dcdd1c272"


@pytest.mark.parametrize("a,b", [(1, "1"), ([], {}), (True, 1), ("ab", ["a", "b"]), (None, "")])
def test_encoding_distinguishes_types(a, b):
    assert key_of(a) != key_of(b)


def keys(make_workspace, tmp_path, build_file=BASE, **files):
    root = make_workspace({"BUILD": build_file, "lib.c": "impl\n", "lib.h": "api\n", "app.c": "app\n", **files})
    p = plan(["//:app"], Options(sandbox="dry-run", store=str(tmp_path / "store")), cwd=str(root))
    by_name = {n.label.name: n for n in p.keys.build}
    return ({name: p.keys.build[n] for name, n in by_name.items()},
            {name: p.keys.interface[n] for name, n in by_name.items()})


def test_golden_keys(make_workspace, tmp_path):
    build, iface = keys(make_workspace, tmp_path)
    assert build == GOLDEN_BUILD
    assert iface["lib"] == GOLDEN_LIB_INTERFACE
    assert iface["app"] == build["app"]  # no declared interface: conservative


# Independent of the machine: no host tools, sandbox kind "bwrap", fixed source contents. app's key
# is a prediction: lib was never measured in this empty store, so lib enters app's key through a
# placeholder derived from lib's interface key (keys.PREDICTED).
GOLDEN_BUILD = {"lib": "ba2763f8addc3643e1643dd6d2da68fa", "app": "3662ec79fa2c25d742c76e7480c571f5",
                "db": "ea54c95784b6809e92187573501abc23"}
GOLDEN_LIB_INTERFACE = "3497ffc54b6851de923cc083369cb6fa"


@pytest.mark.parametrize("edit", [
    lambda s: s.replace('summary = "a library"', 'summary = "another summary"'),
    lambda s: s.replace("port: int = 1", "port: int = 2"),
    lambda s: s.replace('tags = ["a"]', 'tags = ["b", "manual"]'),
    lambda s: s.replace('exports = ["lib"]', 'exports = ["lib", "include"]'),
    lambda s: s.replace(":lib >= 1.0", ":lib >= 0.5"),                      # same resolution
    lambda s: s.replace("run_requires = [:db]", "run_requires = []"),        # run-only
    lambda s: "# a comment\n" + s.replace("    ", "  ").replace("\n\n", "\n\n\n"),
    lambda s: s[s.index("package app"):] + "\n" + s[:s.index("package app")],  # target order
])
def test_what_must_not_change_any_key(make_workspace, tmp_path, edit):
    (b1, i1), (b2, i2) = keys(make_workspace, tmp_path), keys(make_workspace, tmp_path, build_file=edit(BASE))
    for name in ("lib", "app"):  # (db leaves the closure when app no longer run-requires it)
        assert (b2[name], i2[name]) == (b1[name], i1[name]), name


def test_implementation_patch_changes_lib_but_not_app(make_workspace, tmp_path):
    b1, i1 = keys(make_workspace, tmp_path)
    b2, i2 = keys(make_workspace, tmp_path, **{"lib.c": "patched\n"})
    assert b2["lib"] != b1["lib"] and i2["lib"] == i1["lib"] and b2["app"] == b1["app"]


@pytest.mark.parametrize("edit,consumers_too", [
    (lambda s: s.replace('cp $SRC/lib.c $OUT/"', 'cp $SRC/lib.c $OUT/x"'), False),  # the build step
    (lambda s: s.replace("default fast", "default small"), True),                   # a flavour value
    (lambda s: s.replace('version = "1.0"', 'version = "1.1"'), True),              # the version
])
def test_what_must_change_a_key(make_workspace, tmp_path, edit, consumers_too):
    before, _ = keys(make_workspace, tmp_path)
    after, _ = keys(make_workspace, tmp_path, build_file=edit(BASE))
    assert after["lib"] != before["lib"]
    assert (after["app"] != before["app"]) == consumers_too


def test_a_sparse_files_digest_is_its_contents_digest(tmp_path):
    """Holes are hashed as zeros without being read: the same digest as reading everything."""
    import xxhash
    from jbuild.base.hashing import file_digest

    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        f.write(b"x" * 5000)
        f.seek(50_000_000)
        f.write(b"y" * 3000)
        f.truncate(90_000_000)
    assert file_digest(str(path)) == xxhash.xxh3_128_hexdigest(path.read_bytes())
