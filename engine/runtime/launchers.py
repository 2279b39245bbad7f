"""How a program in an environment finds its libraries: DESIGN §10 (a).

An ELF executable with a PT_INTERP (a dynamically linked program) becomes a small `#!/bin/sh`
launcher that execs the dynamic loader with `--library-path <env>/lib --argv0 "$0"`: every
library the process loads comes from the environment, and nothing is put in the environment
variables its children inherit (no LD_LIBRARY_PATH). Scripts, static binaries and anything
else are linked as they are. The ELF header is read by hand (a few struct reads): pyelftools
costs more to import than 500 packages' headers cost to read.
"""

from __future__ import annotations

import os
import shlex
import struct

PT_INTERP = 3


def interpreter(path: str) -> str | None:
    """The dynamic loader an ELF executable names (its PT_INTERP), or None: not ELF, static,
    a shared library without one, or unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF":
                return None
            wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
            if wide:
                phoff, = struct.unpack_from(order + "Q", head, 32)
                phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
            else:
                phoff, = struct.unpack_from(order + "I", head, 28)
                phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            for i in range(phnum):
                at = i * phentsize
                if struct.unpack_from(order + "I", table, at)[0] != PT_INTERP:
                    continue
                if wide:
                    offset, = struct.unpack_from(order + "Q", table, at + 8)
                    size, = struct.unpack_from(order + "Q", table, at + 32)
                else:
                    offset, = struct.unpack_from(order + "I", table, at + 4)
                    size, = struct.unpack_from(order + "I", table, at + 16)
                f.seek(offset)
                return f.read(size).rstrip(b"\0").decode() or None
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


def launcher(loader: str, lib_dir: str, program: str) -> str:
    """The text of a launcher running `program` through `loader` with `lib_dir` first.
    `--library-path` replaces LD_LIBRARY_PATH for this process only (a caller's
    LD_LIBRARY_PATH cannot bring in a same-named host library) and is not inherited."""
    q = shlex.quote
    return ("#!/bin/sh\n"
            "# jbuild launcher: load the environment's libraries, never the host's (DESIGN §10)\n"
            f'exec {q(loader)} --library-path {q(lib_dir)} --argv0 "$0" {q(program)} "$@"\n')


def write_launcher(dest: str, loader: str, lib_dir: str, program: str) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o555)
    with os.fdopen(fd, "wb") as f:  # a store path need not be UTF-8: write its bytes as they are
        f.write(launcher(loader, lib_dir, program).encode("utf-8", "surrogateescape"))
