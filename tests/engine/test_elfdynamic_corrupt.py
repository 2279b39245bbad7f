"""Corrupt ELF headers whose counts would make the struct reader (engine/elfdynamic.py) loop for
ever or fill memory are answered at once: the file counts in full, as pyelftools had it. Each
measure runs in a child with an address-space limit and a time limit, so a regression fails
the test instead of taking the machine down. (Found by the review of the struct reader.)"""

import struct
import subprocess
import sys
import textwrap
from pathlib import Path

from test_exported import LIBZ, shared

SHT_GNU_VERDEF = 0x6FFFFFFD


def _measured_kind(entry: Path, name: str) -> str:
    code = textwrap.dedent(f"""
        import pathlib, resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from jbuild.engine.exported import measure
        print(measure(pathlib.Path({str(entry)!r})).detail["lib/{name}"]["kind"])
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-800:]
    return run.stdout.strip()


def _corrupt(tmp: Path, source: str, damage, *flags: str) -> Path:
    """An entry holding a cc-built libz.so.1 whose bytes `damage(data, shoff)` edited."""
    lib = shared(tmp / "src", tmp / "whole", source, *flags)
    data = bytearray(lib.read_bytes())
    damage(data, struct.unpack_from("<Q", data, 40)[0])
    entry = tmp / "entry"
    (entry / "lib").mkdir(parents=True)
    (entry / "lib" / "libz.so.1").write_bytes(data)
    return entry


def test_an_escaped_section_count_with_zero_sized_rows_counts_in_full(tmp_path):
    """e_shnum 0 sends the reader to section 0's sh_size for the count (2**40 here), with
    e_shentsize 0: every row at the same offset, so nothing ran past the end of the file."""
    def damage(data, shoff):
        struct.pack_into("<HH", data, 58, 0, 0)  # e_shentsize, e_shnum
        struct.pack_into("<Q", data, shoff + 32, 1 << 40)  # section 0's sh_size
    assert _measured_kind(_corrupt(tmp_path, LIBZ, damage), "libz.so.1") == "file"


def test_rows_smaller_than_a_section_header_count_in_full(tmp_path):
    def damage(data, shoff):
        struct.pack_into("<H", data, 58, 1)  # e_shentsize 1: ~file-size rows, each overlapping
    assert _measured_kind(_corrupt(tmp_path, LIBZ, damage), "libz.so.1") == "file"


def test_a_version_definition_pointing_at_itself_counts_in_full(tmp_path):
    """sh_info 2**31 entries, the first one's vd_next 0: the walk would re-read one entry for ever
    (pyelftools did too)."""
    script = tmp_path / "z.map"
    script.write_text("Z_1.0 { global: compress; };\nZ_2.0 { global: compress2; local: *; } Z_1.0;\n")

    def damage(data, shoff):
        entsize, count = struct.unpack_from("<HH", data, 58)
        for i in range(count):
            at = shoff + i * entsize
            if struct.unpack_from("<I", data, at + 4)[0] == SHT_GNU_VERDEF:
                struct.pack_into("<I", data, at + 44, 0x7FFFFFFF)  # sh_info
                offset = struct.unpack_from("<Q", data, at + 24)[0]
                struct.pack_into("<I", data, offset + 16, 0)  # the first entry's vd_next
                return
        raise AssertionError("the library has no version definitions to damage")
    entry = _corrupt(tmp_path, LIBZ, damage, f"-Wl,--version-script={script}")
    assert _measured_kind(entry, "libz.so.1") == "file"
