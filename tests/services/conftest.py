"""Fixtures of the service tests; the helpers are in servicekit.py."""

import subprocess

import pytest
from helpers import EXAMPLE
from servicekit import InThread, base_env


@pytest.fixture
def in_thread(tmp_path):
    started = []

    def start(specs, **kw):
        r = InThread(specs, tmp_path / "run", **kw)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop.set()
        r.thread.join(15)


@pytest.fixture(scope="session")
def example_bins(tmp_path_factory):
    """The runner's unit tests run real programs without a build: the example's sources compiled
    with the host cc as the recipes do, LD_LIBRARY_PATH by hand. (The runner is tested apart from
    builds on purpose; test_run_e2e.py goes through `jbuild run`, its environment and launchers.)"""
    out = tmp_path_factory.mktemp("example-bins")
    lib, inc = out / "lib", [f"-I{EXAMPLE}/libs/libc/include", f"-I{EXAMPLE}/libs/geohash/include"]
    lib.mkdir()
    steps = [
        ["-fPIC", "-shared", "-Wl,-soname,libmini.so.2", *inc, "-o", lib / "libmini.so.2", EXAMPLE / "libs/libc/src/mini.c"],
        ["-fPIC", "-shared", "-Wl,-soname,libgeohash.so.1", *inc, "-o", lib / "libgeohash.so.1",
         EXAMPLE / "libs/geohash/src/geohash.c", lib / "libmini.so.2"],
        [*inc, "-o", out / "tinydb", EXAMPLE / "db/tinydb/src/tinydb.c", lib / "libmini.so.2"],
        [*inc, "-o", out / "geotags", EXAMPLE / "services/geotags/src/main.c", lib / "libgeohash.so.1", lib / "libmini.so.2"],
    ]
    for args in steps:
        subprocess.run(["cc", "-O2", *map(str, args)], check=True)
    return {"tinydb": str(out / "tinydb"), "geotags": str(out / "geotags"),
            "env": {**base_env(), "LD_LIBRARY_PATH": str(lib)}}
