"""What an ELF file offers the dynamic linker, read with struct: its type, whether it names an
interpreter, its dynamic tags (SONAME, NEEDED, FLAGS_1) and its dynamic symbols with their
versions — what exported.py measures of a shared library.

Read by hand from the section and program headers: pyelftools, which read them before, cost
~50-100 ms to import on the critical path of a library's rebuild (a libc patch at 10,000
packages waits for it) and ~0.4 s to walk libc.so.6's symbols one by one; struct reads the
whole table in a few ms. What it reads is what pyelftools read: the first SHT_DYNAMIC section's
tags up to DT_NULL, the last SHT_DYNSYM, SHT_GNU_versym and SHT_GNU_verdef sections, each
string decoded as pyelftools decodes it. A malformed file raises ValueError or struct.error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ET_EXEC, ET_DYN = 2, 3
PT_INTERP = 3
SHT_DYNAMIC, SHT_DYNSYM = 6, 11
SHT_GNU_VERDEF, SHT_GNU_VERSYM = 0x6FFFFFFD, 0x6FFFFFFF
DT_NULL, DT_NEEDED, DT_SONAME, DT_FLAGS_1 = 0, 1, 14, 0x6FFFFFFB
VER_FLG_BASE = 1


@dataclass
class Section:
    kind: int
    offset: int
    size: int
    link: int
    info: int


@dataclass
class Dynamic:
    """The dynamic-linking face of one ELF file."""

    e_type: int
    interp: bool  # a PT_INTERP program header
    has_dynamic: bool  # an SHT_DYNAMIC section
    soname: str | None
    needed: list[str]
    flags_1: int
    little: bool
    wide: bool  # ELFCLASS64
    dynsym: bytes | None  # the raw table, its string table, and the raw SHT_GNU_versym
    dynstr: bytes
    versym: bytes | None
    version_names: dict[int, str]  # version index -> name, from SHT_GNU_verdef (the base entry left out)


def read(data) -> Dynamic:
    """The dynamic-linking face of the ELF file whose bytes are `data` (bytes, or an mmap of
    the file: only the headers and the tables read are paged in)."""
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ValueError("not an ELF file of a known class and byte order")
    wide, little = data[4] == 2, data[5] == 1
    end = "<" if little else ">"
    e_type, = struct.unpack_from(end + "H", data, 16)
    if wide:
        phoff, shoff = struct.unpack_from(end + "QQ", data, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", data, 54)
    else:
        phoff, shoff = struct.unpack_from(end + "II", data, 28)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", data, 42)
    interp = any(struct.unpack_from(end + "I", data, phoff + i * phentsize)[0] == PT_INTERP for i in range(phnum))
    sections = _sections(data, end, wide, shoff, shentsize, shnum)
    dynamic = next((s for s in sections if s.kind == SHT_DYNAMIC), None)
    last = {s.kind: s for s in sections}
    dynsym = last.get(SHT_DYNSYM)
    out = Dynamic(e_type, interp, dynamic is not None, None, [], 0, little, wide, None, b"", None, {})
    if dynamic is not None:
        _tags(out, data, end, dynamic, _at(sections, dynamic.link))
    if dynsym is not None:
        out.dynsym, out.dynstr = _bytes(data, dynsym), _bytes(data, _at(sections, dynsym.link))
        versym = last.get(SHT_GNU_VERSYM)
        out.versym = _bytes(data, versym) if versym is not None else None
        verdef = last.get(SHT_GNU_VERDEF)
        if verdef is not None:
            out.version_names = _version_names(data, end, verdef, _at(sections, verdef.link))
    return out


def _sections(data: bytes, end: str, wide: bool, shoff: int, shentsize: int, shnum: int) -> list[Section]:
    if shoff == 0:
        return []
    row = end + ("IIQQQQIIQQ" if wide else "IIIIIIIIII")
    if shentsize < struct.calcsize(row):  # rows would overlap: a corrupt header, not a table to walk
        raise ValueError(f"section header entries of {shentsize} bytes")
    if shnum == 0:  # more than 0xff00 sections: the count is in the first header's sh_size
        shnum = struct.unpack_from(row, data, shoff)[5]
    if shnum > (len(data) - shoff) // shentsize:  # checked before the loop: the count can be 2**64
        raise ValueError(f"{shnum} section headers run past the end of the file")
    out = []
    for i in range(shnum):
        _, kind, _, _, offset, size, link, info, _, _ = struct.unpack_from(row, data, shoff + i * shentsize)
        out.append(Section(kind, offset, size, link, info))
    return out


def _at(sections: list[Section], index: int) -> Section:
    if not 0 <= index < len(sections):
        raise ValueError(f"section {index} out of range")
    return sections[index]


def _bytes(data: bytes, s: Section) -> bytes:
    if s.offset + s.size > len(data):
        raise ValueError("a section runs past the end of the file")
    return data[s.offset:s.offset + s.size]


def _string(data: bytes, table: Section, at: int) -> str:
    start = table.offset + at
    stop = data.find(b"\0", start)
    if stop < 0:
        raise ValueError("a string runs past the end of the file")
    return data[start:stop].decode("utf-8", errors="replace")


def _tags(out: Dynamic, data: bytes, end: str, dynamic: Section, strings: Section) -> None:
    row = end + ("qQ" if out.wide else "iI")
    size = struct.calcsize(row)
    for at in range(dynamic.offset, dynamic.offset + dynamic.size - size + 1, size):
        tag, value = struct.unpack_from(row, data, at)
        if tag == DT_NULL:
            return
        if tag == DT_SONAME:
            out.soname = _string(data, strings, value)
        elif tag == DT_NEEDED:
            out.needed.append(_string(data, strings, value))
        elif tag == DT_FLAGS_1:
            out.flags_1 = value


def _version_names(data: bytes, end: str, verdef: Section, strings: Section) -> dict[int, str]:
    """Version index -> name, from .gnu.version_d; the base entry (the SONAME) is no version."""
    names, at = {}, verdef.offset
    # sh_info is the number of entries; a corrupt one (2**31, with vd_next 0 re-reading one entry)
    # is bounded by how many 20-byte entries the section can hold
    for number in range(min(verdef.info, verdef.size // 20)):
        _, flags, index, _, _, aux, following = struct.unpack_from(end + "HHHHIII", data, at)
        if not flags & VER_FLG_BASE:
            name_at, = struct.unpack_from(end + "I", data, at + aux)
            names[index] = _string(data, strings, name_at)
        if following == 0 and number + 1 < verdef.info:
            raise ValueError("a version definition's next entry is itself")
        at += following
    return names
