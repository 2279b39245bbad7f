"""The struct ELF reader (engine/elfdynamic.py) against pyelftools, which exported.py read ELF
with before: the same measured detail — type, SONAME, NEEDED, exported symbols with versions
and sizes — of real cc-built libraries, programs and objects, of the host's own shared
libraries, and of an entry holding a static archive (whose bytes count in full)."""

import glob
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from jbuild.base.hashing import file_digest
from jbuild.engine import elfdynamic
from jbuild.engine.exported import EXPORTED_BINDINGS, EXPORTED_VISIBILITY, SIZED, measure
from test_exported import LIBZ, archive, cc, shared

BINDINGS = {"STB_GLOBAL": 1, "STB_WEAK": 2, "STB_GNU_UNIQUE": 10, "STB_LOOS": 10}
VISIBILITY = {"STV_DEFAULT": 0, "STV_INTERNAL": 1, "STV_HIDDEN": 2, "STV_PROTECTED": 3}
TYPES = {"STT_NOTYPE": "NOTYPE", "STT_OBJECT": "OBJECT", "STT_FUNC": "FUNC", "STT_SECTION": "SECTION",
         "STT_FILE": "FILE", "STT_COMMON": "COMMON", "STT_TLS": "TLS", "STT_GNU_IFUNC": "IFUNC", "STT_LOOS": "IFUNC"}


def oracle(path: Path) -> dict | None:
    """What exported.py measured of an ELF file with pyelftools alone (its symbols walked one by
    one through pyelftools too): None for a program, "full" for what counts in full."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        dynamic = next((s for s in elf.iter_sections() if s["sh_type"] == "SHT_DYNAMIC"), None)
        interp = any(seg["p_type"] == "PT_INTERP" for seg in elf.iter_segments())
        if elf.header["e_type"] != "ET_DYN" or dynamic is None:
            return None if elf.header["e_type"] == "ET_EXEC" or interp else "full"
        tags = list(dynamic.iter_tags())
        soname = next((t.soname for t in tags if t.entry.d_tag == "DT_SONAME"), None)
        needed = [t.needed for t in tags if t.entry.d_tag == "DT_NEEDED"]
        flags_1 = next((t.entry.d_val for t in tags if t.entry.d_tag == "DT_FLAGS_1"), 0)
        if flags_1 & 0x08000000 or (interp and soname is None):
            return None
        sections = {s["sh_type"]: s for s in elf.iter_sections()}
        verdef = sections.get("SHT_GNU_verdef")
        names = {vd["vd_ndx"]: next(iter(aux)).name for vd, aux in verdef.iter_versions()
                 if not vd["vd_flags"] & 1} if verdef is not None else {}
        versym = sections.get("SHT_GNU_versym")
        symbols = {}
        for i, sym in enumerate(sections["SHT_DYNSYM"].iter_symbols()):
            info = sym["st_info"]
            if sym["st_shndx"] == "SHN_UNDEF" or BINDINGS.get(info["bind"]) not in EXPORTED_BINDINGS \
                    or VISIBILITY[sym["st_other"]["visibility"]] not in EXPORTED_VISIBILITY:
                continue
            name, ver = sym.name, versym.get_symbol(i)["ndx"] if versym is not None else 1
            ver = {"VER_NDX_LOCAL": 0, "VER_NDX_GLOBAL": 1}.get(ver, ver)
            if (ver & 0x7FFF) in names:
                name += ("@" if ver & 0x8000 else "@@") + names[ver & 0x7FFF]
            kind = TYPES[info["type"]]
            symbols[name] = [kind, sym["st_size"]] if kind in SIZED else [kind]
        return {"kind": "shared-library", "soname": soname, "needed": needed, "symbols": symbols}


def mine(path: Path) -> dict | None:
    """exported.py's measure of the one file, in the oracle's terms."""
    entry = path.parent
    detail = measure(entry).detail.get(path.name)
    if detail is not None and detail["kind"] == "file":
        assert detail["digest"] == file_digest(str(path))
        return "full"
    return detail


def _built(tmp: Path) -> list[Path]:
    """Libraries and programs of several shapes, each alone in a directory of its own."""
    script = tmp / "z.map"
    script.write_text("Z_1.0 { global: compress; };\nZ_2.0 { global: compress2; local: *; } Z_1.0;\n")
    versioned = LIBZ + '__asm__(".symver old_compress, compress2@Z_1.0");\nint old_compress(int x) { return x; }\n'
    extra = ('__attribute__((weak)) int z_weak(void) { return 1; }\n'
             '__attribute__((visibility("protected"))) int z_prot(void) { return 2; }\n'
             '__thread int z_tls[3];\nint z_common_ish[7];\n')
    out = [shared(tmp / "src", tmp / "plain", LIBZ + extra),
           shared(tmp / "src", tmp / "versioned", versioned, f"-Wl,--version-script={script}"),
           shared(tmp / "src", tmp / "needs", LIBZ, "-lm", "-lpthread", name="libneeds.so"),
           shared(tmp / "src", tmp / "nosoname", LIBZ, "-Wl,-soname,", name="libbare.so"),
           cc(tmp / "src", "int main(void) { return 0; }\n", tmp / "pie" / "prog", "-fPIE", "-pie"),
           cc(tmp / "src", "int main(void) { return 0; }\n", tmp / "nopie" / "prog", "-no-pie"),
           cc(tmp / "src", LIBZ, tmp / "object" / "z.so", "-c", "-fPIC")]  # an object named .so
    return out


def test_cc_built_files_measure_as_pyelftools_read_them(tmp_path):
    files = _built(tmp_path)
    seen = {mine(f) if not isinstance(mine(f), dict) else "library" for f in files}
    assert seen == {"library", None, "full"}  # every branch exercised
    for f in files:
        assert mine(f) == oracle(f), f


def test_the_host_libraries_measure_as_pyelftools_reads_them(tmp_path):
    """Real distribution-built libraries: glibc's (versioned, IFUNC, TLS, an interpreter),
    libstdc++'s (thousands of symbols), and the rest of a sample."""
    import sysconfig

    arch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"  # (Debian's multiarch directory)
    found = sorted(p for p in glob.glob(f"/usr/lib/{arch}/*.so.*") if not Path(p).is_symlink())
    # Only a host without Debian's multiarch layout has none; in CI (Debian) conftest fails the skip.
    if not found:
        pytest.skip(f"no shared libraries in /usr/lib/{arch} (not a Debian multiarch host)")
    wanted = [p for p in found if Path(p).name.startswith(("libc.so", "libstdc++", "libm.so", "libz.so"))]
    sample = sorted(set(wanted + found[:: max(1, len(found) // 12)]))
    for at, lib in enumerate(sample):
        d = tmp_path / str(at)
        d.mkdir()
        shutil.copy(lib, d)
        copy = d / Path(lib).name
        assert mine(copy) == oracle(copy), lib


def test_a_static_archive_counts_in_full_and_its_change_shows(tmp_path):
    """The keys issue was a stale static library: its bytes are its consumers' content."""
    e = tmp_path / "entry"
    lib = archive(tmp_path / "src", e, LIBZ)
    before = measure(e)
    assert before.detail["lib/libz.a"] == {"kind": "file", "digest": file_digest(str(lib))}
    archive(tmp_path / "src", e, LIBZ.replace("x + 1", "x + 5"))  # an implementation change
    after = measure(e)
    assert after.detail["lib/libz.a"]["digest"] == file_digest(str(lib)) != before.detail["lib/libz.a"]["digest"]
    assert after.digest != before.digest


@pytest.mark.parametrize("cut", [3, 20, 64, 200, 2000])
def test_a_truncated_library_is_refused_or_counted_in_full(tmp_path, cut):
    """A malformed file raises only the errors exported.py turns into counting it in full."""
    lib = shared(tmp_path / "src", tmp_path / "whole", LIBZ)
    data = lib.read_bytes()[:cut]
    with pytest.raises((ValueError, IndexError, OverflowError, __import__("struct").error)):
        elfdynamic.read(data)
    e = tmp_path / "entry" / "lib"
    e.mkdir(parents=True)
    (e / "libz.so.1").write_bytes(data)
    assert measure(e.parent).detail["lib/libz.so.1"]["kind"] == "file"


def test_readelf_agrees_on_soname_and_needed(tmp_path):
    """A third reader for the dynamic tags."""
    lib = shared(tmp_path / "src", tmp_path / "needs", LIBZ, "-lm", name="libneeds.so")
    dyn = elfdynamic.read(lib.read_bytes())
    listing = subprocess.run(["readelf", "-d", "-W", str(lib)], capture_output=True, text=True, check=True).stdout
    assert f"Library soname: [{dyn.soname}]" in listing
    assert [line.split("[")[1].rstrip("]") for line in listing.splitlines() if "(NEEDED)" in line] == dyn.needed
