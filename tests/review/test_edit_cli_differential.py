"""Review of h-edit: random edits (an implementation patch of the library everyone requires, its
interface, a middle package's implementation and header, a leaf's source, an undo) each built
by the real CLI (quick exit, kept session, cutoff's bulk adoption, one store listing per run)
against one store, compared with a cold build in a fresh store: the same entries, with the same
contents, for every target; then `jbuild gc` and a no-op build."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from helpers import run_jbuild

MIDS, TOPS = 3, 5


def _workspace(rng: random.Random) -> str:
    out = ['package libc {\n version = "1"\n sources = ["libc/impl.c", "libc/api.h"]\n interface = ["libc/api.h"]\n'
           ' build = "grep -q broken $SRC/libc/impl.c && exit 3; mkdir -p $OUT/include $OUT/lib && '
           'cp $SRC/libc/api.h $OUT/include/ && cp $SRC/libc/impl.c $OUT/lib/"\n}\n']
    for i in range(MIDS):
        out.append(f'package m{i} {{\n version = "1"\n sources = ["m{i}.c", "m{i}.h"]\n interface = ["m{i}.h"]\n'
                   f' requires = [:libc]\n build = "mkdir -p $OUT/include $OUT/lib && cp $SRC/m{i}.h $OUT/include/ && '
                   f'cat $SRC/m{i}.c /deps/libc/include/api.h > $OUT/lib/m{i}"\n}}\n')
    for i in range(TOPS):
        deps = ["libc"] + rng.sample([f"m{j}" for j in range(MIDS)], rng.randrange(1, MIDS + 1))
        reads = " ".join(f"/deps/{d}/include/*" for d in deps)
        out.append(f'package t{i} {{\n version = "1"\n sources = ["t{i}.c"]\n requires = [{", ".join(":" + d for d in deps)}]\n'
                   f' build = "mkdir -p $OUT && cat $SRC/t{i}.c {reads} > $OUT/t{i}"\n}}\n')
    return "".join(out)


def _files(rng: random.Random) -> dict[str, str]:
    files = {"BUILD": _workspace(rng), "jbuild.toml": "", "libc/impl.c": "impl 0\n", "libc/api.h": "api 0\n"}
    files.update({f"m{i}.c": f"m{i} 0\n" for i in range(MIDS)})
    files.update({f"m{i}.h": f"m{i}h 0\n" for i in range(MIDS)})
    files.update({f"t{i}.c": f"t{i} 0\n" for i in range(TOPS)})
    return files


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_text() != text:
            p.write_text(text)


def _entries(r, store: Path) -> dict[str, dict[str, str]]:
    """target -> {its entry's name: {file: contents}} from the CLI's 'up to date' lines."""
    out = {}
    for line in (r.stdout + r.stderr).splitlines():
        if " up to date: " in line:
            label, path = line.split(" up to date: ")
            entry = Path(path.strip())
            files = {}
            for dirpath, _, names in os.walk(entry):
                for n in names:
                    if not n.startswith(".jbuild"):
                        p = Path(dirpath) / n
                        files[str(p.relative_to(entry))] = p.read_text()
            out[label.strip()] = {entry.name: files}
    return out


def _build(root: Path, store: Path):
    r = run_jbuild("build", "//...", "--sandbox", "bwrap", cwd=root, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.mark.parametrize("seed", [1, 2])
def test_edits_built_by_the_cli_match_a_cold_build(seed, tmp_path):
    rng = random.Random(seed)
    files = _files(rng)
    inc, store = tmp_path / "inc", tmp_path / "store"
    inc.mkdir()
    _write(inc, files)
    _build(inc, store)
    first = dict(files)
    for step in range(12):
        what = rng.choice(["libc impl", "libc impl", "libc api", "mid impl", "mid header", "top", "undo"])
        n = rng.randrange(100)
        if what == "libc impl":
            files["libc/impl.c"] = f"impl {n}\n"
        elif what == "libc api":
            files["libc/api.h"] = f"api {n}\n"
        elif what == "mid impl":
            files[f"m{rng.randrange(MIDS)}.c"] = f"mid {n}\n"
        elif what == "mid header":
            files[f"m{rng.randrange(MIDS)}.h"] = f"midh {n}\n"
        elif what == "top":
            files[f"t{rng.randrange(TOPS)}.c"] = f"top {n}\n"
        else:
            files = dict(first)
        _write(inc, files)
        got = _entries(_build(inc, store), store)
        want = _cold(tmp_path / f"fresh{step}", files)
        assert set(want) == {"//:libc@1", *(f"//:m{i}@1" for i in range(MIDS)), *(f"//:t{i}@1" for i in range(TOPS))}, want
        assert got == want, f"step {step}: {what}"
    r = run_jbuild("gc", cwd=inc, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    r = _build(inc, store)
    assert "0 built" in r.stderr and _entries(r, store) == got, r.stderr


def _cold(fresh: Path, files: dict) -> dict:
    """`files` built in a fresh workspace and store (both removed after): its entries."""
    cold_store = fresh.with_name(fresh.name + "-store")
    fresh.mkdir()
    _write(fresh, files)
    want = _entries(_build(fresh, cold_store), cold_store)
    shutil.rmtree(fresh), shutil.rmtree(cold_store)
    return want


def test_combined_edits_and_a_broken_patch_match_a_cold_build(tmp_path):
    """Several edits at once (a libc patch beside a consumer's edit), and a libc patch that fails
    (its consumers skipped, exit 1) then is mended: each finished build equals a cold one."""
    rng = random.Random(7)
    files = _files(rng)
    inc, store = tmp_path / "inc", tmp_path / "store"
    inc.mkdir()
    _write(inc, files)
    _build(inc, store)
    for step in range(8):
        broken = step % 3 == 1
        for _ in range(rng.randrange(2, 4)):
            k = rng.choice(["libc/impl.c", "libc/api.h", *(f"m{i}.c" for i in range(MIDS)),
                            *(f"m{i}.h" for i in range(MIDS)), *(f"t{i}.c" for i in range(TOPS))])
            files[k] = f"{k} {rng.randrange(100)}\n"
        files["libc/impl.c"] = f"impl {rng.randrange(100)}\n" + ("broken\n" if broken else "")
        _write(inc, files)
        if broken:
            r = run_jbuild("build", "//...", "--sandbox", "bwrap", "--keep-going", cwd=inc,
                           env={"JBUILD_STORE": str(store)})
            assert r.returncode == 1, r.stdout + r.stderr
            files["libc/impl.c"] = f"impl {rng.randrange(100)}\n"
            _write(inc, files)
        got = _entries(_build(inc, store), store)
        want = _cold(tmp_path / f"fresh{step}", files)
        assert got == want, f"step {step}"
