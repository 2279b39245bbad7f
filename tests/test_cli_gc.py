"""The CLI's own process collects cycles rarely (jbuild/cli.py GC_THRESHOLDS: a leaf edit at
10,000 packages ran ~100 collections at Python's default); a caller running the CLI in-process
keeps its own thresholds."""

import gc
import subprocess
import sys

from jbuild import cli

PROBE = ("import atexit, gc, sys, runpy; atexit.register(lambda: print('GC', *gc.get_threshold()));"
         "sys.argv = ['jbuild', '--help']; runpy.run_module('jbuild', run_name='__main__')")


def test_the_cli_process_raises_the_collector_thresholds():
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("GC "))
    assert tuple(map(int, line.split()[1:])) == cli.GC_THRESHOLDS != (700, 10, 10)


def test_an_in_process_caller_keeps_its_thresholds():
    before = gc.get_threshold()
    try:
        cli.main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    assert gc.get_threshold() == before
