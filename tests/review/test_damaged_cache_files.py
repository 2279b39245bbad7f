"""Review of h-edit / h-startup / h-buildedit: every file of .jbuild/cache (the kept analysis read
back in parts, the hot file and its journal, the parse cache, the settings memo) damaged — a
byte flipped in its middle, or cut in half — then a source edited: the next build must succeed
(exit 0, no traceback) and build from the edited source, never from what the damaged file said."""

from pathlib import Path

import pytest
from helpers import run_jbuild

BUILD = """\
package a {
    version = "1"
    sources = ["a.txt"]
    build = "mkdir -p $OUT && cat $SRC/a.txt > $OUT/a"
}
package b {
    version = "1"
    requires = [:a]
    build = "mkdir -p $OUT && cat /deps/a/a > $OUT/b"
}
"""


def _b(root, store) -> str:
    r = run_jbuild("build", "//:b", "--no-link", "--print-out-paths", "--sandbox", "bwrap", cwd=root,
                   env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return (Path(r.stdout.split()[-1]) / "b").read_text()


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        del data[len(data) // 2:]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flip", "cut"])
def test_a_damaged_cache_file_then_an_edit_builds_the_edit(make_workspace, tmp_path, how):
    root = make_workspace({"BUILD": BUILD, "a.txt": "v0\n"})
    store = tmp_path / "store"
    assert _b(root, store) == "v0\n"
    (root / "a.txt").write_text("v1\n")
    assert _b(root, store) == "v1\n"  # the kept session and its hot file exist now
    cache = root / ".jbuild" / "cache"
    names = sorted(p.name for p in cache.iterdir() if p.is_file())
    assert any(n.startswith("session-") for n in names), names
    for i, name in enumerate(names):
        if not (cache / name).exists():
            continue
        _damage(cache / name, how)
        (root / "a.txt").write_text(f"v{i + 2} {name}\n")
        assert _b(root, store) == f"v{i + 2} {name}\n", name
