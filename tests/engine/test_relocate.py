"""engine/relocate.py: the install prefix in pkg-config and libtool files, rewritten before an
output is checked, so one file is right wherever the entry is seen."""

import os
import shutil
import stat
import tempfile
from pathlib import Path

from jbuild.engine.outputs import check_output
from jbuild.engine.relocate import relocate

NOBODY = 65534


def tree(root, files):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_pc_files_become_relative_to_where_they_are_found(tmp_path):
    out = tree(tmp_path / "out", {
        "lib/pkgconfig/z.pc": "prefix=/out\nlibdir=/out/lib\nLibs: -L/out/lib -lz\nx=/outside /usr/out /out2\n",
        "share/pkgconfig/d.pc": "datadir=/out/share\n",
        "lib/libz.la": "libdir='/out/lib'\ndependency_libs=' -L/out/lib /out/lib/liby.la'\n",
        "lib/other.txt": "prefix=/out\n",
    })
    os.chmod(out / "lib/pkgconfig/z.pc", 0o640)
    notes = relocate(out, ["/out"])
    assert (out / "lib/pkgconfig/z.pc").read_text() == (
        "prefix=${pcfiledir}/../..\nlibdir=${pcfiledir}/../../lib\nLibs: -L${pcfiledir}/../../lib -lz\n"
        "x=/outside /usr/out /out2\n")
    assert (out / "share/pkgconfig/d.pc").read_text() == "datadir=${pcfiledir}/../../share\n"
    assert (out / "lib/libz.la").read_text() == "libdir='/env/lib'\ndependency_libs=' -L/env/lib /env/lib/liby.la'\n"
    assert (out / "lib/other.txt").read_text() == "prefix=/out\n"  # not a pkg-config or libtool file
    assert stat.S_IMODE(os.stat(out / "lib/pkgconfig/z.pc").st_mode) == 0o640
    assert len(notes) == 3 and not list(out.rglob("*.jbuild-relocate"))


def test_symlinks_are_left_alone_and_an_unchanged_file_is_not_rewritten(tmp_path):
    out = tree(tmp_path / "out", {"lib/pkgconfig/a.pc": "prefix=${pcfiledir}/../..\n"})
    os.symlink("a.pc", out / "lib/pkgconfig/b.pc")
    inode = os.stat(out / "lib/pkgconfig/a.pc").st_ino
    assert relocate(out, ["/out"]) == []
    assert os.readlink(out / "lib/pkgconfig/b.pc") == "a.pc"
    assert os.stat(out / "lib/pkgconfig/a.pc").st_ino == inode


def test_without_bubblewrap_the_host_path_of_the_output_is_rewritten_before_the_host_path_scan(tmp_path):
    """The fallback sandbox builds with PREFIX = the output's host path: without the rewrite
    the scan would refuse the output (it holds a host path)."""
    out = tmp_path / "store" / ".tmp-1.out"
    tree(out, {"lib/pkgconfig/z.pc": f"prefix={out}\nincludedir={out}/include\n"})
    notes = check_output(out, [str(tmp_path / "store")])
    assert (out / "lib/pkgconfig/z.pc").read_text() == "prefix=${pcfiledir}/../..\nincludedir=${pcfiledir}/../../include\n"
    assert notes == ["lib/pkgconfig/z.pc: install prefix rewritten to ${pcfiledir}/../.."]


def test_a_read_only_file_in_a_read_only_directory_is_rewritten_and_stays_read_only():
    """As an ordinary user (root ignores modes): a forked child drops to `nobody` when the
    test runs as root, and owns the output as a builder does."""
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        out = tree(base / "out", {"lib/pkgconfig/z.pc": "prefix=/out\n"})
        os.chmod(base, 0o755)
        if os.geteuid() == 0:
            for p in [base, *base.rglob("*")]:
                os.chown(p, NOBODY, NOBODY)
        os.chmod(out / "lib/pkgconfig/z.pc", 0o444)
        os.chmod(out / "lib/pkgconfig", 0o555)
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                if os.geteuid() == 0:
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
                code = 0 if relocate(out, ["/out"]) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert (out / "lib/pkgconfig/z.pc").read_text() == "prefix=${pcfiledir}/../..\n"
        assert stat.S_IMODE(os.stat(out / "lib/pkgconfig").st_mode) == 0o555
        assert stat.S_IMODE(os.stat(out / "lib/pkgconfig/z.pc").st_mode) == 0o444
    finally:
        os.chmod(base / "out/lib/pkgconfig", 0o755)
        shutil.rmtree(base)
