"""The outcome of an action adopted at the entry the last run settled for it, without a key
encoded or a path made unless asked for (an edit at 10,000 packages adopts 9,999 of them)."""

from __future__ import annotations

from pathlib import Path

from .keys import entry_name
from .resolve import Node
from .store import Store


class Adopted:
    """The outcome of an action adopted at its settled entry: its path is made only if asked for
    (an edit at 10,000 packages adopts 9,999 of them)."""

    __slots__ = ("node", "key", "_store")
    decision, reason, log, exit_code, duration = "reused", "inputs unchanged", None, 0, 0.0

    def __init__(self, node: Node, key: str, store: Store):
        self.node, self.key, self._store = node, key, store

    @property
    def entry(self) -> Path:
        return self._store.path(entry_name(self.node, self.key))


class AdoptedAfter(Adopted):
    """Adopted once a dependency was rebuilt and exported what it did before (cutoff.py): the
    reason names it, as a reuse through the scheduler would."""

    __slots__ = ("reason",)

    def __init__(self, node: Node, key: str, store: Store, reason: str):
        super().__init__(node, key, store)
        self.reason = reason
