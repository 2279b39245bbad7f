"""Where the store is when nothing says (the user's cache directory): a module of its own, so
that finding it (every run without JBUILD_STORE, the no-op's among them) does not import the
store package (~20 ms)."""

from __future__ import annotations

from pathlib import Path


def default_store() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("jbuild")) / "store"
