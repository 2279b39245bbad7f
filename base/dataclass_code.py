"""The functions `dataclasses` generates, compiled once and kept between processes like bytecode.

Every `@dataclass` compiles its `__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__`...
from source text with `exec` when its module is imported: a leaf edit at 10,000 packages imports
48 data classes, and compiling their functions was ~40% of jbuild's own import time (25-55 ms
of a 0.45 s edit; 12 classes, ~10 ms, of a 0.1 s no-op). The text depends on the class alone,
so its code object can be kept: `install` gives the `dataclasses` module an `exec` of its own
that finds the text's code in a marshal file beside this module's bytecode (each code object
kept as bytes, loaded when its class is made: a no-op makes a quarter of them) and compiles only
what it misses, exactly as `exec` would have (same file name, no inherited future flags). The
function made from it is the one `exec` made; nothing else changes.

The file is written at exit (to a temporary, renamed), only when something was compiled, and
only where bytecode is written (not under PYTHONDONTWRITEBYTECODE; an unwritable directory, an
installed package's for an ordinary user, is skipped as Python skips its .pyc). A file of another
interpreter (its magic number and cache tag), torn or unreadable, is ignored.
"""

from __future__ import annotations

import marshal
import os
import sys
from types import CodeType

MAGIC = b"jbuild-dc1"
LIMIT = 5000  # texts kept at most: past it, only those this process used (old versions' go)
_codes: dict = {}  # source text -> code object, or its marshalled bytes until first used
_used: set = set()  # texts this process compiled or took from the file
_state = {"path": None, "dirty": False}


def path() -> str:
    """The file beside this module's bytecode, named for this interpreter."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__",
                        f"dataclass-code.{sys.implementation.cache_tag}.marshal")


def _interpreter() -> bytes:
    import _frozen_importlib_external

    return MAGIC + _frozen_importlib_external.MAGIC_NUMBER


def _exec(source, globals=None, locals=None, /):  # noqa: A002 - exec's own parameter names
    if type(source) is str:
        code = _codes.get(source)
        if type(code) is bytes:
            code = _codes[source] = _loads(code)
        if code is None:
            code = _codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
            _changed()
        _used.add(source)
        source = code
    exec(source, globals, locals)  # noqa: S102 - dataclasses' own exec, of its own text


def install(at: str | None = None) -> None:
    """Make `dataclasses` use the kept code (once per process); `at`: another file (tests)."""
    import dataclasses

    if dataclasses.__dict__.get("exec") is _exec:
        return
    _state["path"] = at or path()
    _codes.update(_read(_state["path"]))
    dataclasses.exec = _exec  # (a module global: found before the builtin, by dataclasses only)


def _read(file: str) -> dict:
    try:
        with open(file, "rb") as f:
            head = f.read(len(_interpreter()))
            if head != _interpreter():
                return {}
            found = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if type(found) is not dict:
        return {}
    return {k: v for k, v in found.items() if type(k) is str and type(v) is bytes}


def _loads(data: bytes) -> CodeType | None:
    try:
        code = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    return code if type(code) is CodeType else None


def _changed() -> None:
    if not _state["dirty"] and not sys.dont_write_bytecode and _state["path"] is not None:
        import atexit

        _state["dirty"] = True
        atexit.register(save)


def save() -> None:
    """Write the kept code (at exit, after something was compiled); silently not if it cannot."""
    file = _state["path"]
    if file is None:
        return
    kept = {k: v if type(v) is bytes else marshal.dumps(v) for k, v in _codes.items()
            if len(_codes) <= LIMIT or k in _used}
    tmp = f"{file}.tmp{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(file), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(_interpreter())
            marshal.dump(kept, f)
        os.replace(tmp, file)
        _state["dirty"] = False
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
