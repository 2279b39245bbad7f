"""A kept session's key inputs, read back from its hot file only when something looks into them.

The hot file (session_file.py) holds each action's settled entry and predicted key with the
`KeyInputs` they were computed from: 10,000 of them at 10,000 packages, a dict of source
digests, of host tools and of dependencies' exported digests each — ~45 ms of the ~130 ms a
leaf edit spent reading its session back. A leaf edit looks into one of them (the edited
package's, which it computes anew); every other is only compared by identity (`is`: the
prediction a run settled is the one it is adopted at, cutoff.py, rebuilder.py, session.py).

So the hot file writes them apart, as one pickle (`Table`), and each place that held one holds a
`PackedInputs` instead: the same object wherever the same inputs were, made by a C loop when
the file is read. The first look into any of them (an item, a field, `==`, `as_dict`, a pickle
of it) reads the whole table back, once, under a lock (builds run on worker threads): a libc
patch, which compares every consumer's dependencies' digests, pays what it paid before.

`PackedInputs` is a `KeyInputs` whose tuple holds (table, number) rather than the six fields:
every way of reading it is overridden to read the real ones. (C code that reads a tuple's items
directly, such as the json encoder given the tuple itself, would see the pair: nothing gives it
one; `as_dict()` is what is written to the store's index.)
"""

from __future__ import annotations

import pickle
import threading
from itertools import repeat

from .keys import KeyInputs

_item = tuple.__getitem__


class Table:
    """The key inputs of one hot file, as the bytes of one pickle until first needed."""

    def __init__(self, data: bytes, count: int):
        self.data, self.count = data, count
        self.real: list | None = None
        self._lock = threading.Lock()

    def packed(self) -> list[PackedInputs]:
        """One PackedInputs per entry (no Python call each)."""
        return list(map(tuple.__new__, repeat(PackedInputs), zip(repeat(self), range(self.count))))

    def get(self, i: int) -> KeyInputs:
        real = self.real
        if real is None:
            with self._lock:
                if self.real is None:
                    found = pickle.loads(self.data)
                    if type(found) is not list or len(found) != self.count:
                        raise ValueError("the kept key inputs do not match their count")
                    self.real, self.data = found, b""
                    READ_BACK["tables"] += 1
                real = self.real
        return real[i]


READ_BACK = {"tables": 0}  # tables read back by this process (tests: an edit reads none)


def real(inputs: KeyInputs) -> KeyInputs:
    """The KeyInputs itself (read back if packed)."""
    return inputs._real() if type(inputs) is PackedInputs else inputs


class PackedInputs(KeyInputs):
    """A KeyInputs of a hot file's table, read when first looked into (see the module's doc)."""

    __slots__ = ()

    def _real(self) -> KeyInputs:
        return _item(self, 0).get(_item(self, 1))

    def __getitem__(self, i):
        return self._real()[i]

    def __iter__(self):
        return iter(self._real())

    def __len__(self) -> int:
        return len(self._real())

    def __contains__(self, x) -> bool:
        return x in self._real()

    def __eq__(self, other) -> bool:
        return self._real() == real(other)

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = KeyInputs.__hash__  # (unhashable, as any KeyInputs: it holds dicts)

    def __reduce__(self):  # pickled anywhere else as the KeyInputs it stands for
        return self._real().__reduce__()

    def __repr__(self) -> str:
        return repr(self._real())

    def count(self, x) -> int:
        return self._real().count(x)

    def index(self, *args) -> int:
        return self._real().index(*args)

    recipe = property(lambda self: self._real()[0])
    sources = property(lambda self: self._real()[1])
    platform = property(lambda self: self._real()[2])
    sandbox = property(lambda self: self._real()[3])
    interfaces = property(lambda self: self._real()[4])
    tools = property(lambda self: self._real()[5])


def packing() -> tuple[list, object]:
    """(the table's entries, a pickler reducer for KeyInputs and PackedInputs): each distinct
    object becomes one entry, written as `_inputs_at(number)` (analysis_file.Unpickler)."""
    from .analysis_file import _inputs_at

    entries: list = []
    numbers: dict[int, int] = {}

    def reduce(x):
        i = numbers.get(id(x))
        if i is None:
            i = numbers[id(x)] = len(entries)
            entries.append(real(x))
        return _inputs_at, (i,)

    return entries, reduce
