"""The C library an image's programs need, taken from the declared host tools' Debian packages.

A program built with the host's cc links the host's C library (libc.so.6) and names the host's
loader (/lib64/ld-linux-x86-64.so.2); no entry of the closure holds them. The image gets them
from the Debian packages of the host tools the closure's packages declared (the same packages
the build's sandbox saw as /usr, engine/hostroot.py): of those, the packages that own a
needed soname or the loader, with their own dependency closure (libc6 -> libgcc-s1). Their
library files form one layer, cached by the (package, version) closure. A soname that neither
the closure's lib/ nor those packages provide fails the image, naming the library and who needs it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

from jbuild.base.errors import BadInput
from jbuild.base.hashing import key_of

from . import elfinfo
from .layer_gc import touch
from .layers import FORMAT, LAYERS, Batch, Layer, cached
from .tarball import Item

LIBRARY_TOPS = ("/usr/lib/", "/usr/lib32/", "/usr/lib64/", "/usr/libx32/")
# Not libraries a program loads by name: gconv's iconv modules (8 MB of the 13 MB of libc6;
# a program converting other charsets than UTF-8 and ASCII must bring them in a package),
# the compiler's and linker's plugins.
SKIPPED = ("/usr/lib/python3", "/usr/lib/gcc/", "/usr/lib/bfd-plugins/", "/usr/lib/compat-ld/", "/usr/lib/gold-ld/")
SKIPPED_PARTS = ("/gconv/",)
HOST_FORMAT = 2  # bump when what the host layer takes of a package changes


class MissingLibrary(BadInput):
    pass


def loader_dirs(machine: str | None = None) -> tuple[str, ...]:
    """Where the loader looks without ld.so.cache (`ld.so --list-diagnostics`: system_dirs),
    relative to the root."""
    triplet = f"{machine or os.uname().machine}-linux-gnu"
    return (f"lib/{triplet}", f"usr/lib/{triplet}", "lib", "usr/lib")


def provided(layers: Iterable[Layer]) -> set[str]:
    """The file names the loader finds in the layers' library directories."""
    dirs = set(loader_dirs())
    return {os.path.basename(p) for layer in layers for p in layer.files if os.path.dirname(p) in dirs}


def host_layer(store_root, layers: Sequence[Layer], allowed: Sequence[str]) -> Layer | None:
    """The layer of host libraries `layers` need and do not hold (None if they need none).
    `allowed` are the declared host tools' Debian packages."""
    have = provided(layers)
    missing: dict[str, list[str]] = {}
    for layer in layers:
        for s in layer.needs:
            if s not in have:
                missing.setdefault(s, []).append(layer.source)
    held = {p for layer in layers for p in layer.files}
    interps = sorted({i for layer in layers for i in layer.interps if i.lstrip("/") not in held})
    if not missing and not interps:
        return None
    memo = _Memo(store_root, sorted(missing), interps, allowed)
    found = memo.get()
    if found is not None:
        touch(memo.path, found.blob, found.blob.removesuffix(".tar.gz") + ".json")  # used: gc keeps it (layer_gc.py)
        return found
    layer = _choose(store_root, missing, interps, allowed)
    memo.put(layer)
    return layer


def _choose(store_root, missing: dict[str, list[str]], interps: list[str], allowed: Sequence[str]) -> Layer:
    """Which packages hold what is missing; their layer, from the cache or written now."""
    from jbuild.engine import dpkg

    for i in list(interps):  # /bin/sh is dash, which names the loader
        found = elfinfo.read(_real(i))
        if found and found[1] and found[1] not in interps:
            interps = sorted([*interps, found[1]])
    if not dpkg.available() or not allowed:
        _fail(missing, interps, "a declared host tool (the closure declares none)" if dpkg.available()
              else "the host (no dpkg to find its packages)")
    db = dpkg.database()
    lib_dirs = {"/" + d for d in loader_dirs()}
    owner_of: dict[str, str] = {}  # a soname in a loader directory, or a path -> its package
    for name, _ in dpkg.package_closure(allowed):
        for p in dpkg.package_files(name, db[name].arch):
            path = dpkg.usr_path(p)
            owner_of.setdefault(path, name)
            if os.path.dirname(path) in lib_dirs:
                owner_of.setdefault(os.path.basename(path), name)
    unknown = {s: who for s, who in missing.items() if s not in owner_of}
    lost = [i for i in interps if _real(i) not in owner_of]
    if unknown or lost:
        _fail(unknown, lost, f"the declared host tools' Debian packages ({', '.join(sorted(allowed))})")
    chosen = {owner_of[s] for s in missing} | {owner_of[_real(i)] for i in interps}
    closure = dpkg.package_closure(sorted(chosen))
    name = "host-" + key_of(["host-layer", FORMAT, HOST_FORMAT, os.uname().machine, [list(p) for p in closure], interps])
    source = "host:" + " ".join(f"{n}={v}" for n, v in closure)
    found = cached(store_root, name)
    if found is not None:
        touch(found.blob, found.blob.removesuffix(".tar.gz") + ".json")
        return found
    with Batch(store_root) as batch:
        return batch.write(name, source, _items([n for n, _ in closure], interps))


class _Memo:
    """The last choice for these needs, while dpkg's database is unchanged: reading dpkg's
    file lists costs ~0.2 s, more than a warm image."""

    def __init__(self, store_root, missing: list[str], interps: list[str], allowed: Sequence[str]):
        from jbuild.engine import dpkg

        sig = list(dpkg.status_signature()) if dpkg.available() else None
        key = key_of(["host-choice", FORMAT, HOST_FORMAT, missing, interps, sorted(allowed), sig])
        self.store_root, self.path = store_root, Path(store_root) / LAYERS / f"choice-{key}.json"

    def get(self) -> Layer | None:
        try:
            return cached(self.store_root, json.loads(self.path.read_text())["layer"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, layer: Layer) -> None:
        tmp = self.path.with_name(f".tmp-{secrets.token_hex(4)}-{self.path.name}")
        tmp.write_text(json.dumps({"layer": layer.name}))
        os.replace(tmp, self.path)


def _items(packages: list[str], interps: list[str]) -> list[Item]:
    from jbuild.engine.hostroot import host_files

    items = {p[1:]: Item(p[1:], p) for p in host_files(packages)
             if p.startswith(LIBRARY_TOPS) and not p.startswith(SKIPPED) and not any(s in p + "/" for s in SKIPPED_PARTS)
             and os.path.lexists(p)}
    for interp in interps:  # /lib64/ld-linux-x86-64.so.2, /bin/sh: the real file, and a link where it is named
        real = _real(interp)
        items.setdefault(real[1:], Item(real[1:], real))
        if interp != real:
            items.setdefault(interp[1:], Item(interp[1:], link=real))
    return list(items.values())


def _real(path: str) -> str:
    """Where a host path leads (/bin/sh -> /usr/bin/dash, the loader -> /usr/lib/<triplet>/...)."""
    from jbuild.engine import dpkg

    return os.path.realpath(dpkg.usr_path(path))


def _fail(missing: dict[str, list[str]], interps: list[str], where: str) -> None:
    what = [f"{s} (needed by {', '.join(sorted(set(who)))})" for s, who in sorted(missing.items())]
    what += [f"the interpreter {i}" for i in interps]
    raise MissingLibrary(f"the image needs {'; '.join(what)}, which neither the closure's lib/ nor {where} "
                         "provide: add a package that exports it, or declare the host tool whose Debian "
                         "package holds it (e.g. build_requires = [@std//host:cc])")
