"""Where jbuild keeps things of the user's when nothing says: the store (every run without
JBUILD_STORE, the no-op's among them), dpkg's package list, compiled helpers. A module of its own,
so that finding the store does not import the store package (~20 ms).

The user's cache directory follows the XDG base directory rule (as platformdirs' on Linux, the
only system jbuild's sandbox runs on): written out, because importing platformdirs was ~5 ms of
a no-op's and an edit's start.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME/jbuild, else ~/.cache/jbuild (a relative value is ignored, as the XDG
    spec says: it would move the store with the current directory)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.expanduser("~/.cache")
    return Path(base) / "jbuild"


def default_store() -> Path:
    return user_cache_dir() / "store"
