"""The measured exported interface of a store entry (DESIGN §3, "Declared interfaces are checked").

A consumer's build sees a dependency only through what it compiles and links against, so the
exported digest covers exactly that, per file (its path relative to the entry is part of
each item):

- everything under include/, in full;
- pkg-config files (*.pc), CMake package files (*Config.cmake, *-config.cmake, *Targets*.cmake),
  libtool archives (.la), static archives (.a) and objects (.o), anywhere, in full: a static
  archive is copied into its consumers, so its implementation is their content;
- each ELF shared library, anywhere: its SONAME, its NEEDED list (in order) and its exported
  dynamic symbols — defined, GLOBAL/WEAK/GNU_UNIQUE, default or protected visibility — each
  with its version (name@@VER default, name@VER hidden), its type, and its size for data
  (OBJECT, TLS), since a consumer's copy relocation bakes the size in. A function body is not
  there: patching a library's implementation changes no consumer;
- a file named *.so that is not ELF (a GNU ld linker script, as libc.so is), in full;
- every symlink (path -> target);
- every other file that is not an ELF executable — data under share/, scripts in bin/,
  lib/lua/*.lua, a top-level file — in full: a consumer's build can read anything its
  sandbox shows it (/deps/NAME, /env), so whatever it can read is in its key (conservative).

ELF executables (an interpreter and no SONAME, or flagged PIE) do NOT enter: a program is
implementation, like a shared library's function bodies. A consumer that runs a dependency's
program while it builds must declare that dependency as a build-only requirement, whose build
key (implementation included) enters its own key.

The digest is of the entry alone; DESIGN §3's exported digest adds the exported digests of P's
own build-and-run requirements, which is the key module's business. Nothing here depends on
where the entry lives or on mtimes. ELF is read with pyelftools for its structure (headers,
sections, dynamic tags, version definitions) and with struct for the one bulky table,
.dynsym: pyelftools' per-symbol parsing costs ~0.4 s for libc.so.6, struct a few ms.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jbuild.base.hashing import file_digest, key_of

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

FORMAT = 2  # bump when what enters changes: every exported digest changes with it
LIB_ROOTS = ("lib", "lib64")
IN_FULL = ("*.pc", "*Config.cmake", "*-config.cmake", "*Targets*.cmake", "*.la", "*.a", "*.o")
EXPORTED_BINDINGS = {1, 2, 10}  # STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE
EXPORTED_VISIBILITY = {0, 3}  # STV_DEFAULT, STV_PROTECTED
TYPES = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON", 6: "TLS", 10: "IFUNC"}
SIZED = {"OBJECT", "TLS"}
DF_1_PIE = 0x08000000
VERSYM_HIDDEN = 0x8000


@dataclass(frozen=True)
class Exported:
    """What an entry exports to consumers: a digest, and the detail it is computed from."""

    digest: str
    detail: dict = field(compare=False, hash=False, repr=False)


def preload() -> None:
    """Import pyelftools in the background, once per process (~50-100 ms, on the critical path
    of a library's rebuild otherwise): called as an action likely to output ELF starts, so the
    import overlaps its run. A measure meanwhile waits on the import's module lock; a no-op
    never calls it."""
    global _preloading
    if _preloading is None and "elftools.elf.elffile" not in sys.modules:
        _preloading = threading.Thread(target=_import_elftools, name="jbuild-elftools", daemon=True)
        _preloading.start()


def _import_elftools() -> None:
    try:
        import elftools.common.exceptions  # noqa: F401
        import elftools.elf.elffile  # noqa: F401
    except Exception:  # noqa: BLE001 - imported again by the measure, where an error is reported
        pass


_preloading: threading.Thread | None = None


def measure(entry: Path) -> Exported:
    """The exported interface of the output tree at `entry` (see the module docstring)."""
    return measure_all([entry])


def measure_all(trees: list[Path]) -> Exported:
    """The exported interface of several trees that are parts of one output (a split package's
    dev and lib outputs, engine/split.py): as `measure` of the union of their files."""
    detail: dict[str, dict] = {}
    for tree in trees:
        for rel, st in _walk(Path(tree)):
            item = _item(Path(tree) / rel, rel, st)
            if item is not None:
                detail[rel] = item
    return Exported(key_of({"exported": FORMAT, "files": detail}), detail)


def _walk(root: Path, rel: str = "") -> Iterator[tuple[str, os.stat_result]]:
    with os.scandir(root / rel) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, path)
        else:
            yield path, st


def _item(path: Path, rel: str, st: os.stat_result) -> dict | None:
    top = rel.split("/", 1)[0]
    if stat.S_ISLNK(st.st_mode):
        return {"kind": "link", "target": os.readlink(path)}
    if not stat.S_ISREG(st.st_mode):
        return None
    name = rel.rsplit("/", 1)[-1]
    if top == "include" or any(fnmatch.fnmatchcase(name, p) for p in IN_FULL):
        return _full(path)
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return _full(path)
        f.seek(0)
        from elftools.common.exceptions import ELFError  # (~50-100 ms: preload() began it as the action started)
        from elftools.elf.elffile import ELFFile

        try:
            return _elf_item(ELFFile(f), path, top)
        except (ELFError, struct.error, ValueError, IndexError, KeyError):
            return _full(path)  # malformed: count it all rather than guess


def _full(path: Path) -> dict:
    return {"kind": "file", "digest": file_digest(str(path))}


def _elf_item(elf: ELFFile, path: Path, top: str) -> dict | None:
    dynamic = next((s for s in elf.iter_sections() if s["sh_type"] == "SHT_DYNAMIC"), None)
    interp = any(seg["p_type"] == "PT_INTERP" for seg in elf.iter_segments())
    if elf.header["e_type"] != "ET_DYN" or dynamic is None:
        if elf.header["e_type"] == "ET_EXEC" or interp:
            return None  # an executable
        return _full(path)
    soname, needed, flags_1 = None, [], 0
    for tag in dynamic.iter_tags():
        kind = tag.entry.d_tag
        if kind == "DT_SONAME":
            soname = tag.soname
        elif kind == "DT_NEEDED":
            needed.append(tag.needed)
        elif kind == "DT_FLAGS_1":
            flags_1 = tag.entry.d_val
    # libc.so.6 has an interpreter (it runs, printing its version) and is a library; a PIE says so
    if flags_1 & DF_1_PIE or (interp and soname is None):
        return None
    return {"kind": "shared-library", "soname": soname, "needed": needed, "symbols": _symbols(elf)}


def _symbols(elf: ELFFile) -> dict[str, list]:
    """name[@@VER|@VER] -> [type] or [type, size] for every exported dynamic symbol."""
    by_type = {s["sh_type"]: s for s in elf.iter_sections()
               if s["sh_type"] in ("SHT_DYNSYM", "SHT_GNU_versym", "SHT_GNU_verdef")}
    dynsym = by_type.get("SHT_DYNSYM")
    if dynsym is None:
        return {}
    strtab = elf.get_section(dynsym["sh_link"]).data()
    end = "<" if elf.little_endian else ">"
    if elf.elfclass == 64:
        rows = ((n, i, o, x, sz) for n, i, o, x, _, sz in struct.iter_unpack(end + "IBBHQQ", dynsym.data()))
    else:
        rows = ((n, i, o, x, sz) for n, _, sz, i, o, x in struct.iter_unpack(end + "IIIBBH", dynsym.data()))
    versym = by_type.get("SHT_GNU_versym")
    versions = struct.unpack(f"{end}{versym['sh_size'] // 2}H", versym.data()) if versym else ()
    names = _version_names(by_type.get("SHT_GNU_verdef"))
    out = {}
    for index, (name_at, info, other, shndx, size) in enumerate(rows):
        if shndx == 0 or info >> 4 not in EXPORTED_BINDINGS or other & 3 not in EXPORTED_VISIBILITY:
            continue
        name = strtab[name_at:strtab.index(b"\0", name_at)].decode(errors="surrogateescape")
        ver = versions[index] if index < len(versions) else 1
        if (ver & 0x7FFF) in names:
            name += ("@" if ver & VERSYM_HIDDEN else "@@") + names[ver & 0x7FFF]
        kind = TYPES.get(info & 0xF, f"TYPE{info & 0xF}")
        out[name] = [kind, size] if kind in SIZED else [kind]
    return out


def _version_names(verdef) -> dict[int, str]:
    """Version index -> name, from .gnu.version_d; the base entry (the SONAME) is no version."""
    if verdef is None:
        return {}
    names = {}
    for vd, aux in verdef.iter_versions():
        if not vd["vd_flags"] & 1:  # VER_FLG_BASE
            names[vd["vd_ndx"]] = next(iter(aux)).name
    return names


def describe(old: dict, new: dict) -> str:
    """A short sentence of what changed between two measured details (removals first)."""
    changes: list[tuple[int, str]] = []
    for path in sorted(old.keys() | new.keys()):
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        if a is None:
            changes.append((2, f"{path} added"))
        elif b is None:
            changes.append((0, f"{path} removed"))
        elif a["kind"] == b["kind"] == "shared-library":
            changes += _library_changes(path, a, b)
        elif a["kind"] == b["kind"] == "link":
            changes.append((1, f"{path} now points to {b['target']} (was {a['target']})"))
        else:
            changes.append((1, f"{path} changed"))
    if not changes:
        return "no change in the exported interface"
    said = [text for _, text in sorted(changes, key=lambda c: c[0])]
    more = f" (+{len(said) - 5} more)" if len(said) > 5 else ""
    return "; ".join(said[:5]) + more


def _library_changes(path: str, a: dict, b: dict) -> list[tuple[int, str]]:
    out = []
    if a["soname"] != b["soname"]:
        out.append((1, f"{path} SONAME {a['soname']} -> {b['soname']}"))
    if a["needed"] != b["needed"]:
        gone, extra = set(a["needed"]) - set(b["needed"]), set(b["needed"]) - set(a["needed"])
        said = [f"no longer needs {n}" for n in sorted(gone)] + [f"now needs {n}" for n in sorted(extra)]
        out.append((1, f"{path} {', '.join(said) or 'NEEDED reordered'}"))
    sa, sb = a["symbols"], b["symbols"]
    for name in sorted(sa.keys() | sb.keys()):
        x, y = sa.get(name), sb.get(name)
        if x == y:
            continue
        if y is None:
            out.append((0, f"symbol {name} removed"))
        elif x is None:
            out.append((2, f"symbol {name} added"))
        elif x[0] != y[0]:
            out.append((1, f"symbol {name} changed type {x[0]} -> {y[0]}"))
        else:
            out.append((1, f"symbol {name} changed size {x[1]} -> {y[1]}"))
    return out
