"""Sources from elsewhere: the download cache, mirrors, safe unpacking, git exports, patches.

The rebuilder calls `Fetcher.stage` when an action really runs (a store hit needs no network);
keys call `source_digests`, which needs no download: the hash is declared.
"""

from __future__ import annotations

from jbuild.base.errors import Failed


class FetchError(Failed):
    """A source could not be fetched, verified, unpacked or patched: the action fails (exit 1)."""


def __getattr__(name):  # the engine imports this package lazily: keys need only digest.py
    if name == "Fetcher":
        from .stage import Fetcher

        return Fetcher
    if name == "source_digests":
        from .digest import source_digests

        return source_digests
    raise AttributeError(name)
