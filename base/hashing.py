"""One canonical encoder and one hash function for every key (DESIGN §3).

Keys are xxh3-128 over a canonical, versioned serialisation of our own: type-tagged,
length-prefixed, dict keys sorted. It never depends on a JSON library's formatting.
"""

from __future__ import annotations

import xxhash

KEY_SALT = b"jbuild-keys-v1\0"


def _encode(value, out: list[bytes]) -> None:
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


def file_digest(path: str) -> str:
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
