"""The store: read-only entries, temporaries, GC roots, verification, and its SQLite index.

`from jbuild.engine.store import Store, StoreError, default_store` is the usual way in.
"""

from .entry import META, EntryMeta, stat_digest, tree_digest
from .fsops import StoreError
from .gc import GcReport, Root
from .index import Decision, Index, StoreIndexError
from .store import Store, default_store
from .temporaries import Temporary

__all__ = ["META", "Decision", "EntryMeta", "GcReport", "Index", "Root", "Store", "StoreError", "StoreIndexError",
           "Temporary", "default_store", "stat_digest", "tree_digest"]
