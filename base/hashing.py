"""One canonical encoder and one hash function for every key (DESIGN §3).

Keys are xxh3-128 over a canonical, versioned serialisation of our own: type-tagged,
length-prefixed, dict keys sorted. It never depends on a JSON library's formatting.
"""

from __future__ import annotations

import os

import xxhash

KEY_SALT = b"jbuild-keys-v1\0"


def _encode(value, out: list[bytes]) -> None:
    """The common types by exact type first (a dict lookup, not a chain of isinstance calls:
    keys encode many small values); subclasses (enums) take the general path, same bytes."""
    t = type(value)
    if t is str:
        data = value.encode()
        out.append(b"S%d:" % len(data))
        out.append(data)
    elif t is dict:
        out.append(b"D%d{" % len(value))
        for k in sorted(value):
            _encode(str(k), out)
            _encode(value[k], out)
        out.append(b"}")
    elif t is list or t is tuple:
        out.append(b"L%d[" % len(value))
        for item in value:
            _encode(item, out)
        out.append(b"]")
    else:
        _encode_other(value, out)


def _encode_other(value, out: list[bytes]) -> None:
    if value is None:
        out.append(b"N")
    elif value is True or value is False:
        out.append(b"T" if value else b"F")
    elif isinstance(value, int):
        out.append(b"I%d;" % value)
    elif isinstance(value, str):
        data = value.encode()
        out.append(b"S%d:" % len(data))
        out.append(data)
    elif isinstance(value, bytes):
        out.append(b"B%d:" % len(value))
        out.append(value)
    elif isinstance(value, (list, tuple)):
        out.append(b"L%d[" % len(value))
        for item in value:
            _encode(item, out)
        out.append(b"]")
    elif isinstance(value, dict):
        out.append(b"D%d{" % len(value))
        for k in sorted(value):
            _encode(str(k), out)
            _encode(value[k], out)
        out.append(b"}")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} in a key")


def encode(value) -> bytes:
    out: list[bytes] = [KEY_SALT]
    _encode(value, out)
    return b"".join(out)


def key_of(value) -> str:
    """The xxh3-128 hex digest of `value`'s canonical encoding."""
    return xxhash.xxh3_128_hexdigest(encode(value))


_ZEROS = bytes(1 << 20)


def file_digest(path: str) -> str:
    """xxh3-128 of a file's content, streamed. Holes of a sparse file are hashed as the zeros
    they read as, without reading them (a 64 GB sparse output costs seconds, not minutes)."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            data = _next_data(fd, pos, size)
            while pos < data:  # a hole: zeros
                n = min(len(_ZEROS), data - pos)
                h.update(_ZEROS[:n] if n < len(_ZEROS) else _ZEROS)
                pos += n
            end = _next_hole(fd, pos, size)
            while pos < end:
                chunk = os.pread(fd, min(1 << 20, end - pos), pos)
                if not chunk:
                    return h.hexdigest()
                h.update(chunk)
                pos += len(chunk)
    return h.hexdigest()


def _next_data(fd: int, pos: int, size: int) -> int:
    try:
        return os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:  # ENXIO: only a hole is left; or no SEEK_DATA here: treat all as data
        return size if _seek_supported(fd) else pos


def _next_hole(fd: int, pos: int, size: int) -> int:
    try:
        return min(os.lseek(fd, pos, os.SEEK_HOLE), size)
    except OSError:
        return size


def _seek_supported(fd: int) -> bool:
    try:
        os.lseek(fd, 0, os.SEEK_HOLE)
        return True
    except OSError:
        return False
