"""examples/distro on real upstream software, offline from the mirror dev/fetch-mirror.sh fills
(dev/setup.sh runs it): zlib from Debian's source package, a program on it, a library wrapping
it and a program on that library. The libc-patch story: patch zlib's implementation through
`patches`, and exactly one action runs; every consumer is reused and, run through its
environment, uses the patched zlib."""

import re
import shutil
import subprocess

import pytest
from helpers import REPO, outcomes, run_jbuild

DISTRO = REPO / "examples" / "distro"
MIRROR = DISTRO / "mirror"


def listed_sources() -> dict[str, str]:
    """sha256 -> pool path, from debian-sources.txt."""
    out = {}
    for line in (DISTRO / "debian-sources.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            sha, path = line.split()
            out[sha] = path
    return out


def test_every_recipe_archive_is_listed_for_the_mirror():
    from jbuild.dsl.loader import Loader
    from jbuild.dsl.workspace import Workspace

    loader = Loader(Workspace(DISTRO))
    loaded = loader.closure(loader.expand(["//..."]))
    archives = {f.sha256: f.url for family in loaded.targets.values() for t in family
                for f in getattr(t.sources, "fetched", ())}
    assert len(archives) >= 6
    listed = listed_sources()
    for sha, url in archives.items():
        assert sha in listed, f"{url}: sha256 {sha} is not in examples/distro/debian-sources.txt"
        if url.startswith("mirror://debian/"):
            assert url.removeprefix("mirror://debian/") == listed[sha]


@pytest.fixture
def distro(tmp_path):
    missing = [p for p in listed_sources().values() if not (MIRROR / p.rsplit("/", 1)[1]).is_file()]
    assert not missing, f"the distro mirror lacks {missing}: run dev/fetch-mirror.sh (dev/setup.sh does)"
    root = tmp_path / "distro"
    shutil.copytree(DISTRO, root, ignore=shutil.ignore_patterns("mirror", "result*", ".jbuild"))
    (root / "jbuild.toml").write_text(f'[fetch]\nmirrors = ["{MIRROR}"]\n')
    return root


def build(root, store, *targets):
    events = root / "events.json"
    r = run_jbuild("build", *targets, "--offline", "--sandbox", "bwrap", "--build-events", str(events),
                   cwd=root, env={"JBUILD_STORE": str(store)}, timeout=600)
    assert r.returncode == 0, r.stderr
    return outcomes(events)


def run(program, text="hello hello hello hello\n"):
    return subprocess.run([str(program)], input=text, capture_output=True, text=True, check=True).stdout


def test_patching_zlib_rebuilds_one_action_and_every_consumer_runs_it(distro, tmp_path):
    store = tmp_path / "store"
    seen = build(distro, store, "//zpipe", "//packtool")
    assert seen == dict.fromkeys(["//zlib:zlib", "//pack:pack", "//zpipe:zpipe", "//packtool:packtool"], "built")
    packtool, zpipe = distro / "result" / "bin" / "packtool", distro / "result-2" / "bin" / "zpipe"
    assert run(packtool).startswith("libpack 1.0 on zlib 1.2.13: 24 bytes -> ")
    assert re.match(r"zlib 1\.2\.13: 24 bytes -> \d+ compressed, round trip ok", run(zpipe))

    build_file = distro / "zlib" / "BUILD"
    build_file.write_text(build_file.read_text().replace(
        '    version = "1.2.13",\n', '    version = "1.2.13",\n    patches = ["patches/mark-patched.patch"],\n'))
    seen = build(distro, store, "//zpipe", "//packtool")
    built = sorted(t for t, what in seen.items() if what == "built")
    assert built == ["//zlib:zlib"], seen
    assert {seen[t] for t in ("//pack:pack", "//zpipe:zpipe", "//packtool:packtool")} == {"reused"}
    assert run(packtool).startswith("libpack 1.0 on zlib 1.2.13+patched: ")  # through libpack
    assert run(zpipe).startswith("zlib 1.2.13+patched: ")
