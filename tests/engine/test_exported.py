"""measure() on real libraries, archives and programs built here by the host cc and ar."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jbuild.engine.exported import Exported, describe, measure

LIBZ = """
#include <stdlib.h>
void z_fail(void) { abort(); }
int z_tab[2] = {1, 2};
int compress(int x) { return x + 1; }
int compress2(int x) { return x + 2; }
static int helper(int x) { return x * 3; }
__attribute__((visibility("hidden"))) int z_internal(int x) { return helper(x); }
"""


def cc(tmp: Path, source: str, output: Path, *flags: str) -> Path:
    """Compile `source` with the host cc into `output` (a real ELF file)."""
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / f"{output.name}.c"
    src.write_text(source)
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cc", "-O1", *flags, str(src), "-o", str(output)], check=True, cwd=tmp)
    return output


def shared(tmp: Path, entry: Path, source: str, *flags: str, name="libz.so.1") -> Path:
    return cc(tmp, source, entry / "lib" / name, "-shared", "-fPIC", f"-Wl,-soname,{name}", *flags)


def archive(tmp: Path, entry: Path, source: str) -> Path:
    obj = cc(tmp, source, tmp / "z.o", "-c", "-fPIC")
    lib = entry / "lib" / "libz.a"
    lib.parent.mkdir(parents=True, exist_ok=True)
    lib.unlink(missing_ok=True)
    subprocess.run(["ar", "rcs", str(lib), str(obj)], check=True)
    return lib


@pytest.fixture
def entry(tmp_path):
    """A zlib-like entry: header, shared library with its links, archive, .pc, a program, docs."""
    e = tmp_path / "entry"
    (e / "include").mkdir(parents=True)
    (e / "include" / "z.h").write_text("int compress(int);\nint compress2(int);\n")
    shared(tmp_path / "src", e, LIBZ)
    os.symlink("libz.so.1", e / "lib" / "libz.so")
    archive(tmp_path / "src", e, LIBZ)
    (e / "share" / "pkgconfig").mkdir(parents=True)
    (e / "share" / "pkgconfig" / "z.pc").write_text("Name: z\nLibs: -lz\n")
    (e / "share" / "doc").mkdir()
    (e / "share" / "doc" / "README").write_text("zlib\n")
    cc(tmp_path / "src", 'int main(void) { return 0; }\n', e / "bin" / "zpipe", "-fPIE", "-pie")
    return e


def test_the_detail_holds_what_consumers_see_and_nothing_else(entry):
    detail = measure(entry).detail
    assert "bin/zpipe" not in detail  # an ELF program is implementation
    assert {"include/z.h", "lib/libz.a", "lib/libz.so", "lib/libz.so.1", "share/pkgconfig/z.pc"} <= set(detail)
    lib = detail["lib/libz.so.1"]
    assert lib["kind"] == "shared-library" and lib["soname"] == "libz.so.1"
    assert lib["needed"] == ["libc.so.6"]
    assert lib["symbols"]["compress"] == ["FUNC"]
    assert lib["symbols"]["z_tab"] == ["OBJECT", 8]
    assert "z_internal" not in lib["symbols"] and "helper" not in lib["symbols"]
    assert detail["lib/libz.so"] == {"kind": "link", "target": "libz.so.1"}


def test_an_implementation_change_of_a_shared_library_keeps_the_digest(tmp_path, entry):
    before = measure(entry)
    old = (entry / "lib" / "libz.so.1").read_bytes()
    shared(tmp_path / "src2", entry, LIBZ.replace("return x + 1;", "return x * 7 - 3;"))
    assert (entry / "lib" / "libz.so.1").read_bytes() != old  # the library really changed
    assert measure(entry) == before


def test_a_removed_function_changes_the_digest_and_is_named(tmp_path, entry):
    before = measure(entry)
    shared(tmp_path / "src2", entry, LIBZ.replace("int compress2(int x) { return x + 2; }", ""))
    after = measure(entry)
    assert after.digest != before.digest
    assert describe(before.detail, after.detail) == "symbol compress2 removed"


def test_a_data_object_whose_size_changes_changes_the_digest(tmp_path, entry):
    before = measure(entry)
    shared(tmp_path / "src2", entry, LIBZ.replace("z_tab[2] = {1, 2}", "z_tab[4] = {1, 2, 3, 4}"))
    after = measure(entry)
    assert after.digest != before.digest
    assert describe(before.detail, after.detail) == "symbol z_tab changed size 8 -> 16"


def test_a_static_archive_implementation_change_changes_the_digest(tmp_path, entry):
    before = measure(entry)
    archive(tmp_path / "src2", entry, LIBZ.replace("return x + 1;", "return x * 7 - 3;"))
    after = measure(entry)
    assert after.digest != before.digest
    assert describe(before.detail, after.detail) == "lib/libz.a changed"


def test_a_header_change_changes_the_digest(entry):
    before = measure(entry)
    (entry / "include" / "z.h").write_text("int compress(int, int);\nint compress2(int);\n")
    after = measure(entry)
    assert after.digest != before.digest
    assert describe(before.detail, after.detail) == "include/z.h changed"


def test_symbol_versions_from_a_version_script_are_recorded(tmp_path):
    e = tmp_path / "entry"
    script = tmp_path / "z.map"
    script.write_text("Z_1.0 { global: compress; };\nZ_2.0 { global: compress2; local: *; } Z_1.0;\n")
    source = LIBZ + '__asm__(".symver old_compress, compress2@Z_1.0");\nint old_compress(int x) { return x; }\n'
    shared(tmp_path / "src", e, source, f"-Wl,--version-script={script}")
    symbols = measure(e).detail["lib/libz.so.1"]["symbols"]
    assert symbols == {"compress@@Z_1.0": ["FUNC"], "compress2@@Z_2.0": ["FUNC"], "compress2@Z_1.0": ["FUNC"],
                       "Z_1.0@@Z_1.0": ["OBJECT", 0], "Z_2.0@@Z_2.0": ["OBJECT", 0]}


def test_a_version_change_alone_changes_the_digest(tmp_path):
    digests = []
    for version in ("Z_1.0", "Z_1.1"):
        e = tmp_path / version
        (tmp_path / f"{version}.map").write_text(f"{version} {{ global: *; }};\n")
        shared(tmp_path / "src", e, LIBZ, f"-Wl,--version-script={tmp_path / f'{version}.map'}")
        digests.append(measure(e))
    assert digests[0] != digests[1]
    assert "symbol compress@@Z_1.0 removed" in describe(digests[0].detail, digests[1].detail)


def test_a_pie_program_change_in_bin_keeps_the_digest(tmp_path, entry):
    before = measure(entry)
    old = (entry / "bin" / "zpipe").read_bytes()
    cc(tmp_path / "src2", 'int main(void) { return 42; }\nint extra(void) { return 1; }\n',
       entry / "bin" / "zpipe", "-fPIE", "-pie", "-rdynamic")
    assert (entry / "bin" / "zpipe").read_bytes() != old
    assert measure(entry) == before


def test_data_and_scripts_a_consumer_can_read_enter(entry):
    """Whatever a consumer's build can read (share/, a script in bin/) is in its key."""
    before = measure(entry)
    (entry / "share" / "doc").mkdir(parents=True, exist_ok=True)
    (entry / "share" / "doc" / "README").write_text("zlib, now documented\n")
    after_doc = measure(entry)
    assert after_doc != before
    (entry / "bin" / "zcat").write_text("#!/bin/sh\nexec zpipe -d\n")
    assert measure(entry) != after_doc


def test_a_program_installed_under_lib_is_not_interface(tmp_path, entry):
    before = measure(entry)
    cc(tmp_path / "src2", "int main(void) { return 0; }\n", entry / "lib" / "z" / "helper", "-fPIE", "-pie")
    cc(tmp_path / "src3", "int main(void) { return 0; }\n", entry / "lib" / "z" / "helper-nopie", "-no-pie")
    assert measure(entry) == before


def test_a_shared_library_with_an_interpreter_is_still_a_library(tmp_path):
    """glibc's libc.so.6 carries PT_INTERP (it runs and prints its version) and has a SONAME."""
    e = tmp_path / "entry"
    interp = 'const char z_interp[] __attribute__((section(".interp"))) = "/lib64/ld-linux-x86-64.so.2";\n'
    shared(tmp_path / "src", e, LIBZ + interp, "-Wl,-e,compress")
    assert "INTERP" in subprocess.run(["readelf", "-lW", str(e / "lib" / "libz.so.1")], capture_output=True, text=True).stdout
    assert measure(e).detail["lib/libz.so.1"]["soname"] == "libz.so.1"


def test_a_linker_script_so_counts_in_full(entry):
    script = entry / "lib" / "libc.so"
    script.write_text("OUTPUT_FORMAT(elf64-x86-64)\nGROUP ( /lib/libc.so.6 AS_NEEDED ( /lib/ld.so ) )\n")
    before = measure(entry)
    assert before.detail["lib/libc.so"]["kind"] == "file"
    script.write_text("OUTPUT_FORMAT(elf64-x86-64)\nGROUP ( /lib/libc.so.6 )\n")
    assert measure(entry).digest != before.digest


def test_hidden_symbols_do_not_count(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shared(tmp_path / "src", a, LIBZ)
    shared(tmp_path / "src", b, LIBZ + '__attribute__((visibility("hidden"))) int z_more(int x) { return x; }\n'
           '__attribute__((visibility("internal"))) int z_inner = 4;\n')
    assert (a / "lib" / "libz.so.1").read_bytes() != (b / "lib" / "libz.so.1").read_bytes()
    assert measure(a) == measure(b)


def test_protected_and_weak_symbols_count(tmp_path, entry):
    before = measure(entry)
    shared(tmp_path / "src2", entry, LIBZ + '__attribute__((visibility("protected"))) int z_prot(int x) { return x; }\n'
           "__attribute__((weak)) int z_weak(int x) { return x; }\n")
    after = measure(entry)
    assert describe(before.detail, after.detail) == "symbol z_prot added; symbol z_weak added"


def test_soname_and_needed_enter(tmp_path, entry):
    before = measure(entry)
    shared(tmp_path / "src2", entry, LIBZ, "-Wl,--no-as-needed", "-lm")
    assert describe(before.detail, measure(entry).detail) == "lib/libz.so.1 now needs libm.so.6"
    shared(tmp_path / "src3", entry, LIBZ, "-Wl,-soname,libz.so.2")
    assert describe(before.detail, measure(entry).detail) == "lib/libz.so.1 SONAME libz.so.1 -> libz.so.2"


def test_links_enter(entry):
    before = measure(entry)
    os.symlink("zpipe", entry / "bin" / "zcat")
    assert measure(entry) != before
    before = measure(entry)
    (entry / "lib" / "libz.so").unlink()
    os.symlink("libz.so.2", entry / "lib" / "libz.so")
    after = measure(entry)
    assert describe(before.detail, after.detail) == "lib/libz.so now points to libz.so.2 (was libz.so.1)"


def test_non_elf_files_under_lib_and_package_files_anywhere_enter(entry):
    before = measure(entry)
    for rel in ("lib/lua/5.4/z.lua", "share/cmake/ZConfig.cmake", "lib/cmake/z/z-config.cmake",
                "share/z/ZTargets-release.cmake", "lib/libz.la", "lib/crt1.o"):
        (entry / rel).parent.mkdir(parents=True, exist_ok=True)
        (entry / rel).write_text(f"{rel}\n")
    after = measure(entry)
    assert describe(before.detail, after.detail) == ("lib/cmake/z/z-config.cmake added; lib/crt1.o added; lib/libz.la added; "
                                                     "lib/lua/5.4/z.lua added; share/cmake/ZConfig.cmake added (+1 more)")


def test_the_digest_ignores_location_and_mtimes(tmp_path, entry):
    before = measure(entry)
    moved = tmp_path / "elsewhere" / "deeper" / "entry"
    shutil.copytree(entry, moved, symlinks=True)
    for dirpath, _, files in os.walk(moved):
        for f in files:
            os.utime(os.path.join(dirpath, f), (1, 1), follow_symlinks=False)
    assert measure(moved) == before
    assert measure(moved).detail == before.detail


def test_the_host_libc_is_read_like_readelf_reads_it(tmp_path):
    """An independent oracle: readelf's own view of the exported dynamic symbols."""
    libc = Path("/usr/lib/x86_64-linux-gnu/libc.so.6")
    if not libc.exists():
        pytest.skip("no x86_64 glibc here")
    e = tmp_path / "entry"
    (e / "lib").mkdir(parents=True)
    shutil.copy(libc, e / "lib")
    mine = measure(e).detail["lib/libc.so.6"]
    assert mine["soname"] == "libc.so.6"
    listing = subprocess.run(["readelf", "--dyn-syms", "-W", str(e / "lib" / "libc.so.6")],
                             capture_output=True, text=True, check=True).stdout
    theirs = set()
    for line in listing.splitlines():
        f = line.split()
        if len(f) >= 8 and f[0].endswith(":") and f[6] != "UND" and f[4] in ("GLOBAL", "WEAK", "UNIQUE") \
                and f[5] in ("DEFAULT", "PROTECTED"):
            theirs.add(f[7] if "@" in f[7] else f"{f[7]}@@{f[7]}")  # readelf shows version nodes bare
    assert set(mine["symbols"]) == theirs
    assert mine["symbols"]["memcpy@@GLIBC_2.14"] == ["IFUNC"] and mine["symbols"]["errno@@GLIBC_PRIVATE"] == ["TLS", 4]


def test_a_malformed_elf_counts_in_full(entry):
    (entry / "lib" / "libbad.so.1").write_bytes(b"\x7fELF" + b"\x02\x01\x01" + b"\0" * 9 + b"garbage")
    before = measure(entry)
    assert before.detail["lib/libbad.so.1"]["kind"] == "file"


def test_describe_says_when_nothing_changed_and_exported_compares_by_digest(entry):
    m = measure(entry)
    assert describe(m.detail, m.detail) == "no change in the exported interface"
    assert m == Exported(m.digest, {}) and hash(m) == hash(Exported(m.digest, {}))
    assert len(m.digest) == 32
    with pytest.raises(AttributeError):
        m.digest = "x"


def test_a_measure_imports_no_elf_library(entry):
    """The measure reads ELF with struct (engine/elfdynamic.py): pyelftools' import (~50-100 ms)
    is not on the critical path of a library's rebuild (a fresh interpreter: here it may be
    imported by another test)."""
    code = ("import sys; from pathlib import Path; from jbuild.engine import exported\n"
            f"print(exported.measure(Path({str(entry)!r})).digest)\n"
            "assert not any(m.startswith('elftools') for m in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == measure(entry).digest
