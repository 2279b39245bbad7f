"""Where jbuild keeps things of the user's when nothing says: the store (every run without
JBUILD_STORE, the no-op's among them), dpkg's package list, compiled helpers. A module of its own,
so that finding the store does not import the store package (~20 ms).

The user's cache directory follows the XDG base directory rule (as platformdirs' on Linux, the
only system jbuild's sandbox runs on): written out, because importing platformdirs was ~5 ms of
a no-op's and an edit's start.
"""

from __future__ import annotations

from pathlib import Path


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME/jbuild, else ~/.cache/jbuild (base/workspace_cache.py's rule)."""
    from jbuild.base.workspace_cache import user_cache_root

    return Path(user_cache_root())


def default_store() -> Path:
    return user_cache_dir() / "store"
