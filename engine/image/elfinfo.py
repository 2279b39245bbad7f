"""What a file asks of the system to run: an ELF file's PT_INTERP (the loader) and DT_NEEDED
sonames; a script's `#!` interpreter.

An image must hold the libraries its programs load (layers.py records them per layer;
hostlibs.py supplies what the closure lacks). Read by hand from the program headers, a few
struct reads per file: pyelftools costs ~2 ms per file and ~45 ms to import, more than a
cold layer of a small package.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB = 0, 1, 5


def scan(paths: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(sonames needed, interpreters named: loaders and `#!` programs) by `paths`, each sorted."""
    needs, interps = set(), set()
    for path in paths:
        found = read(path)
        if found is not None:
            needs.update(found[0])
            if found[1]:
                interps.add(found[1])
    return tuple(sorted(needs)), tuple(sorted(interps))


def read(path: str) -> tuple[list[str], str | None] | None:
    """(DT_NEEDED sonames, PT_INTERP) of an ELF file, ([], the program) of a `#!` script with an
    absolute interpreter; None for anything else (or unreadable)."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
            if head[:2] == b"#!":
                words = head[2:].split(b"\n", 1)[0].split()
                program = words[0].decode() if words else ""
                return [], program if program.startswith("/") else None
            if len(head) < 52 or head[:4] != b"\x7fELF":
                return None
            return _read(f, head)
    except (OSError, struct.error, UnicodeDecodeError, IsADirectoryError):
        return None


def _read(f, head: bytes) -> tuple[list[str], str | None]:
    wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
    if wide:
        phoff, = struct.unpack_from(order + "Q", head, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
        ph, dyn = order + "IIQQQQQQ", order + "qQ"  # type flags offset vaddr paddr filesz memsz align
    else:
        phoff, = struct.unpack_from(order + "I", head, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
        ph, dyn = order + "IIIIIIII", order + "iI"  # type offset vaddr paddr filesz memsz flags align
    f.seek(phoff)
    table = f.read(phentsize * phnum)
    loads, dynamic, interp = [], None, None
    for i in range(phnum):
        fields = struct.unpack_from(ph, table, i * phentsize)
        kind = fields[0]
        offset, vaddr, filesz = (fields[2], fields[3], fields[5]) if wide else (fields[1], fields[2], fields[4])
        if kind == PT_LOAD:
            loads.append((vaddr, offset, filesz))
        elif kind == PT_DYNAMIC:
            dynamic = (offset, filesz)
        elif kind == PT_INTERP:
            f.seek(offset)
            interp = f.read(filesz).rstrip(b"\0").decode() or None
    return (_needed(f, dynamic, loads, dyn) if dynamic else []), interp


def _needed(f, dynamic, loads, dyn: str) -> list[str]:
    f.seek(dynamic[0])
    data = f.read(dynamic[1])
    size = struct.calcsize(dyn)
    strtab, offsets = None, []
    for at in range(0, len(data) - size + 1, size):
        tag, value = struct.unpack_from(dyn, data, at)
        if tag == DT_NULL:
            break
        if tag == DT_NEEDED:
            offsets.append(value)
        elif tag == DT_STRTAB:
            strtab = value
    base = next((off + strtab - vaddr for vaddr, off, filesz in loads if vaddr <= strtab < vaddr + filesz), None)
    if base is None:
        return []
    out = []
    for o in offsets:
        f.seek(base + o)
        raw = f.read(256)
        out.append(raw.split(b"\0", 1)[0].decode())
    return out
