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
where the entry lives or on mtimes. ELF is read with struct (elfdynamic.py: no pyelftools
import on the critical path of a library's rebuild, a few ms for libc.so.6's symbols).
"""

from __future__ import annotations

import fnmatch
import mmap
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.base.hashing import file_digest, key_of

from . import elfdynamic

FORMAT = 3  # bump when what enters changes: every exported digest changes with it (3: read by
#            elfdynamic.py, no longer pyelftools: measured the same, but an older digest is not trusted)
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
        try:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _elf_item(elfdynamic.read(data), path)
        except (struct.error, ValueError, IndexError, OverflowError):
            return _full(path)  # malformed: count it all rather than guess


def _full(path: Path) -> dict:
    return {"kind": "file", "digest": file_digest(str(path))}


def _elf_item(elf: elfdynamic.Dynamic, path: Path) -> dict | None:
    if elf.e_type != elfdynamic.ET_DYN or not elf.has_dynamic:
        if elf.e_type == elfdynamic.ET_EXEC or elf.interp:
            return None  # an executable
        return _full(path)
    # libc.so.6 has an interpreter (it runs, printing its version) and is a library; a PIE says so
    if elf.flags_1 & DF_1_PIE or (elf.interp and elf.soname is None):
        return None
    return {"kind": "shared-library", "soname": elf.soname, "needed": elf.needed, "symbols": _symbols(elf)}


def _symbols(elf: elfdynamic.Dynamic) -> dict[str, list]:
    """name[@@VER|@VER] -> [type] or [type, size] for every exported dynamic symbol."""
    if elf.dynsym is None:
        return {}
    strtab, end = elf.dynstr, "<" if elf.little else ">"
    if elf.wide:
        rows = ((n, i, o, x, sz) for n, i, o, x, _, sz in struct.iter_unpack(end + "IBBHQQ", elf.dynsym))
    else:
        rows = ((n, i, o, x, sz) for n, _, sz, i, o, x in struct.iter_unpack(end + "IIIBBH", elf.dynsym))
    versions = struct.unpack(f"{end}{len(elf.versym) // 2}H", elf.versym) if elf.versym is not None else ()
    names = elf.version_names
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
