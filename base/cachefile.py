"""Versioned pickle files for caches: read (or start over), write atomically."""

from __future__ import annotations

import gc
import os
import pickle
from pathlib import Path


def read(path: Path, fmt: int, default, freeze: bool = True):
    """The cached value, or `default` if the file is missing, corrupt or of another format.
    `freeze`: keep every object alive now out of later collections (for the big caches read at
    start-up). Not for a read in the middle of a run: it would freeze what the run holds — a
    store's index in a reference cycle would never be closed, nor its WAL checkpointed."""
    gc.disable()  # unpickling many small objects: the cyclic GC would triple the time
    try:
        with open(path, "rb") as f:
            found_fmt, value = pickle.load(f)
        return value if found_fmt == fmt else default
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return default
    finally:
        if freeze:
            gc.freeze()  # cached data lives as long as the process: keep it out of later collections
        gc.enable()


def write(path: Path, fmt: int, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        pickle.dump((fmt, value), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
