"""A kept session's analysis in one file, read back in parts: an edit reads what it touches.

A source edit at 10,000 packages needs the node list, the edges, the indexes of what each file
feeds and what each node is (a package, a host tool, a test; its outputs) — not the parsed BUILD
files, the families or any target's recipe with its spans and requirements (a million objects,
most of what reading the whole analysis back cost). So the file holds, in this order:

  header    MAGIC and the format
  records   one pickle per distinct target (Package or Test): read when a node's target is first
            asked for (`Node.__getattr__`: a build or a re-keying of that node); its spans'
            lines are moved by the record's shift (in the core) as they are read, so lines added
            above a target's piece move it without writing it again (relower.py)
  heavy     one pickle: the loader, the families, the host tools as lowered, the roots, targets in
            it by record number; read when first asked for (a BUILD file edit, "nothing to build")
  core      two pickles read at once: the token, the record index and the nodes (label, version,
            flavours, resolution, shape); then the rest of the session, nodes by number (the
            closures in it a pickle of their own, `_part`: a BUILD edit that leaves the nodes and
            edges as they were copies its bytes, session_file._closures_part)
  trailer   where the core starts, its length, its xxh3 and MAGIC again

Why one file with an offset index rather than a file per part, or SQLite: it is written to a
temporary name and renamed whole, so its parts always go together; and a run reads its parts
through one descriptor kept open, so another run that replaces the file meanwhile changes nothing
this run reads (the old inode stays until closed). Targets are streamed to the file one by one
(a full build's memory does not hold a pickle of all of them), and a target read back from the
last file is copied as bytes, not pickled again (a BUILD file edit re-lowers one package).
The hot file (session_file.py) names the core's token: a kill between the two writes, or
another run's analysis, restores nothing. Each part carries its xxh3, checked as it is read.
"""

from __future__ import annotations

import copyreg
import gc
import io
import os
import pickle
import struct
import threading
from array import array
from pathlib import Path

import xxhash
from jbuild.base.errors import Failed
from jbuild.dsl.labels import Label
from jbuild.dsl.model import Package, Test
from jbuild.dsl.span import Span

from .resolve import Node

MAGIC = b"jbuild-analysis\0"
HEADER = struct.Struct("<16sI")  # MAGIC, format
TRAILER = struct.Struct("<QQQ16s")  # core offset, core length, xxh3 of the core, MAGIC
HEAVY = ("loader", "families", "hosted", "roots")  # Session attributes read back when first asked for
READ_BACK = {"targets": 0, "heavy": 0}  # what this process read back beyond the core (tests, benchmarks)


class DamagedAnalysis(Failed):
    """A part read back fails its check; the file is removed. Met while an update reads what an
    edit touches, the run analyses again (build.py); later in a run, the run fails with this."""

    def __init__(self, path: Path):
        super().__init__(f"the kept analysis {path} is damaged; it was removed: run the command again")
        self.path = path


def _node_at(i: int):
    """A node, by its number in the analysis's node list: `Unpickler` resolves this name."""
    raise RuntimeError("read by analysis_file.Unpickler")


def _target_at(i: int):
    """A target, by its record number: `Unpickler` resolves this name."""
    raise RuntimeError("read by analysis_file.Unpickler")


def _span_at(path: str, line: int, col: int, end_line: int, end_col: int, via):
    """A span of a record, its lines moved by the shift of the record being read (`_SHIFT`)."""
    span = object.__new__(Span)
    shift = _SHIFT[0]
    Span.__setstate__(span, (path, line + shift if line else 0, col, end_line + shift if end_line else 0,
                             end_col, via))
    return span


_SHIFT = [0]  # the shift of the record being read, under _SHIFTING
_SHIFTING = threading.Lock()


def load_record(data, shift: int):
    """A record's target, its spans' lines moved by `shift`."""
    with _SHIFTING:
        _SHIFT[0] = shift
        return pickle.loads(data)


def _relative(s: Span):
    return _span_at, (s.path, s.line, s.col, s.end_line, s.end_col, s.via)


class _RecordPickler:
    """Records written with their spans as `_span_at` (shift 0)."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.pickler = pickle.Pickler(self.buf, protocol=pickle.HIGHEST_PROTOCOL)
        self.pickler.dispatch_table = {**copyreg.dispatch_table, Span: _relative}

    def __call__(self, target) -> bytes:
        self.buf.seek(0)
        self.buf.truncate()
        self.pickler.clear_memo()
        self.pickler.dump(target)
        return self.buf.getvalue()


def _label_at(i: int):
    """The label of a node, by the node's number: `Unpickler` resolves this name."""
    raise RuntimeError("read by analysis_file.Unpickler")


def _inputs_at(i: int):
    """A hot file's key inputs, by number in its table (packed_inputs.py): `Unpickler` resolves this."""
    raise RuntimeError("read by analysis_file.Unpickler")


def _part(data: bytes):
    """A part pickled apart (numbering nodes and labels as the rest does), so that a later write
    may copy its bytes when it did not change (`session_file._closures_part`): `Unpickler`
    resolves this name."""
    raise RuntimeError("read by analysis_file.Unpickler")


class Unpickler(pickle.Unpickler):
    """Resolves `_node_at`, `_target_at`, `_label_at` and `_inputs_at` to the `__getitem__` of the
    lists given: one C call per object, then the pickle's memo; and `_part` to the part's value,
    read by another of these (`parts` keeps (bytes, value) of each)."""

    def __init__(self, file, nodes: list, targets: list | None = None, labels: list | None = None,
                 inputs: list | None = None):
        super().__init__(file)
        self.tables = {"_node_at": nodes, "_target_at": targets, "_label_at": labels, "_inputs_at": inputs}
        self.parts: list[tuple[bytes, object]] = []

    def find_class(self, module: str, name: str):
        if module == __name__ and self.tables.get(name) is not None:
            return self.tables[name].__getitem__
        if module == __name__ and name == "_part":
            return _part_reader(self.tables, self.parts)  # (not a bound method: the memo keeps what this
        return super().find_class(module, name)           # returns, and with it the whole pickle read)


def _part_reader(tables: dict, parts: list):
    def read(data: bytes):
        value = Unpickler(io.BytesIO(data), tables["_node_at"], tables["_target_at"], tables["_label_at"],
                          tables["_inputs_at"]).load()
        parts.append((data, value))
        return value

    return read


def by_number(items: list, name: str, equal: bool = False):
    """A pickler's reducer writing each of `items` as its number (`_node_at`, `_target_at`,
    `_label_at`); with `equal`, any object equal to one of them too (a node re-made by a
    re-resolution is the action it was: dicts keyed by either are read back keyed by one)."""
    numbers = {x: i for i, x in enumerate(items)} if equal else {id(x): i for i, x in enumerate(items)}
    at = {"_node_at": _node_at, "_target_at": _target_at, "_label_at": _label_at}[name]

    def reduce(obj):  # called once per object (the pickler memoises), unlike a persistent_id
        i = numbers.get(obj if equal else id(obj))
        return (at, (i,)) if i is not None else obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)

    return reduce


def dumps(value, dispatch: dict) -> bytes:
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, **dispatch}
    pickler.dump(value)
    return buf.getvalue()


# ---------------------------------------------------------------- writing


def write(path: Path, fmt: int, token: str, nodes: list[Node], state, heavy, previous: Analysis | None = None,
          dispatch: dict | None = None) -> None:
    """Write the analysis: `nodes` (each with its target), `state` (the core: everything else a
    restored session holds at once; `dispatch` adds reducers for it) and `heavy` (read back when
    first asked for; a callable if it was not read back: its bytes are copied from `previous`
    when every node's record keeps its number, which is what the heavy part names targets by,
    else it is called). Targets read back from `previous`, or never read, are copied from it as
    bytes."""
    rows, targets, copies = _records(nodes, previous)
    if callable(heavy):
        if previous is None or [r[7] for r in rows] != previous.node_records:
            heavy = heavy()  # (reads every target back: numbered again below)
            rows, targets, copies = _records(nodes, previous)
        else:
            heavy = None
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(HEADER.pack(MAGIC, fmt))
        offsets, checks, shifts = array("Q"), array("Q"), array("q")
        kept = previous.records() if previous is not None and any(c >= 0 for c in copies) else None
        fresh = _RecordPickler()
        for t, c in zip(targets, copies, strict=True):
            data = kept(c) if c >= 0 else fresh(t)
            shifts.append(previous.shifts[c] if c >= 0 else 0)
            offsets.append(f.tell())
            checks.append(xxhash.xxh3_64_intdigest(data))
            f.write(data)
        offsets.append(f.tell())
        by_node = by_number(nodes, "_node_at", equal=True)
        data = previous._read(*previous.heavy_at) if heavy is None else \
            dumps(heavy, {Package: by_number(targets, "_target_at"), Test: by_number(targets, "_target_at"),
                          Node: by_node})
        where = (f.tell(), len(data), xxhash.xxh3_64_intdigest(data))
        f.write(data)
        by_label = by_number([n.label for n in nodes], "_label_at")  # (a closure's index of its nodes)
        core = pickle.dumps((token, offsets, checks, where, rows, shifts), protocol=pickle.HIGHEST_PROTOCOL) + \
            dumps(state, {**(dispatch or {}), Node: by_node, Label: by_label})
        f.write(core)
        f.write(TRAILER.pack(where[0] + where[1], len(core), xxhash.xxh3_64_intdigest(core), MAGIC))
    os.replace(tmp, path)


def _records(nodes: list[Node], previous: Analysis | None) -> tuple[list, list, list]:
    """(a row per node, the distinct targets in record order, per record the number of the
    record of `previous` it copies or -1). A node's target not read back is not read now: its
    record is copied (None stands for it)."""
    targets: list = []
    copies: list[int] = []
    record_of: dict = {}
    shapes: dict = {}  # one object per distinct shape: a handful in all
    rows = []
    loaded = previous.loaded if previous is not None else {}
    for n in nodes:
        d = n.__dict__
        t, kept = d.get("target"), d.get("_kept")
        if t is None and kept is not None and kept[0] is previous:
            ident = copy = kept[1]
        else:
            t = n.target if t is None else t
            copy = loaded.get(id(t), -1)
            copy = copy if copy >= 0 and previous.targets[copy] is t else -1
            ident = copy if copy >= 0 else ("new", id(t))
        i = record_of.get(ident)
        if i is None:
            i = record_of[ident] = len(targets)
            targets.append(t)
            copies.append(copy)
        label = n.label
        rows.append((label.repo, label.package, label.name, n.version, n.flavours, n.resolution,
                     shapes.setdefault(n.shape, n.shape), i, n.id))
    return rows, targets, copies


# ---------------------------------------------------------------- reading


class Analysis:
    """A kept analysis as read back: its token, nodes and core state at once; targets and the
    heavy part from the same open file when first asked for."""

    HEAVY = HEAVY

    def __init__(self, path: Path, file, token: str, offsets: array, checks: array, heavy_at: tuple,
                 shifts: array | None = None):
        self.path, self.file, self.token = path, file, token  # (file: open for the analysis's life)
        self.offsets, self.checks, self.heavy_at = offsets, checks, heavy_at
        self.shifts = shifts if shifts is not None else array("q", bytes(8 * len(checks)))  # (relower.py moves them)
        self.targets: list = [None] * len(checks)
        self.loaded: dict[int, int] = {}  # id of a target read back -> its record (to copy it as bytes)
        self._heavy: dict | None = None
        self._lock = threading.Lock()  # (builds on worker threads ask for their targets)

    def _read(self, at: int, size: int, check: int | None) -> bytes:
        data = os.pread(self.file.fileno(), size, at)
        if len(data) != size or (check is not None and xxhash.xxh3_64_intdigest(data) != check):
            self._damaged()
        return data

    def _damaged(self):
        try:
            if os.stat(self.path).st_ino == os.fstat(self.file.fileno()).st_ino:  # (not another run's new one)
                self.path.unlink()  # the next run analyses again
        except OSError:
            pass
        raise DamagedAnalysis(self.path)

    def target(self, record: int):
        """The target of record `record`, read back once."""
        found = self.targets[record]
        if found is None:
            with self._lock:
                found = self.targets[record]
                if found is None:
                    at, end = self.offsets[record], self.offsets[record + 1]
                    found = self._loads(record, self._read(at, end - at, self.checks[record]))
                    READ_BACK["targets"] += 1
        return found

    def _loads(self, record: int, data) -> object:
        found = self.targets[record] = load_record(data, self.shifts[record])
        self.loaded[id(found)] = record
        return found

    def records(self):
        """record number -> its bytes, checked, all read at once (a new analysis copies them)."""
        first = self.offsets[0]
        region = memoryview(self._read(first, self.offsets[-1] - first, None))

        def record(i: int):
            data = region[self.offsets[i] - first:self.offsets[i + 1] - first]
            if xxhash.xxh3_64_intdigest(data) != self.checks[i]:
                self._damaged()
            return data

        return record

    def heavy(self, nodes: list[Node]) -> dict:
        """The heavy part (HEAVY's attributes); every target read back (in one read) and given
        to its node of `nodes` (the analysis's node list)."""
        if self._heavy is None:
            READ_BACK["heavy"] += 1
            gc.disable()
            try:  # (under the lock: no target is read back twice meanwhile)
                first, targets, offsets, checks = self.offsets[0], self.targets, self.offsets, self.checks
                region = memoryview(self._read(first, offsets[-1] - first, None))
                with self._lock:
                    for record, found in enumerate(targets):
                        if found is None:
                            data = region[offsets[record] - first:offsets[record + 1] - first]
                            if xxhash.xxh3_64_intdigest(data) != checks[record]:
                                self._damaged()
                            self._loads(record, data)
                for n in nodes:
                    kept = n.__dict__.get("_kept")
                    if kept is not None and kept[0] is self:
                        n.__dict__.setdefault("target", targets[kept[1]])
                self._heavy = Unpickler(io.BytesIO(self._read(*self.heavy_at)), nodes, targets).load()
            finally:
                gc.freeze()
                gc.enable()
        return self._heavy


def read(path: Path, fmt: int) -> tuple[Analysis, list[Node], dict] | None:
    """(the analysis, its nodes, its core state), or None: no file, another format, or damaged."""
    try:
        file = open(path, "rb", buffering=0)  # noqa: SIM115 (kept open: targets are read from it later)
    except OSError:
        return None
    fd = file.fileno()
    try:
        size = os.fstat(fd).st_size
        if size < HEADER.size + TRAILER.size or HEADER.unpack(os.pread(fd, HEADER.size, 0)) != (MAGIC, fmt):
            raise ValueError("another format")
        core_at, core_size, check, magic = TRAILER.unpack(os.pread(fd, TRAILER.size, size - TRAILER.size))
        if magic != MAGIC or core_at + core_size + TRAILER.size != size:
            raise ValueError("torn")
        core = os.pread(fd, core_size, core_at)
        if xxhash.xxh3_64_intdigest(core) != check:
            raise ValueError("damaged")
        f = io.BytesIO(core)
        token, offsets, checks, heavy_at, rows, shifts = pickle.load(f)
        analysis = Analysis(path, file, token, offsets, checks, heavy_at, shifts)
        analysis.node_records = [r[7] for r in rows]  # (a new analysis copies the heavy part if they hold)
        nodes = _nodes(rows, analysis)
        unpickler = Unpickler(f, nodes, labels=[n.label for n in nodes])
        state = unpickler.load()
        analysis.parts = unpickler.parts  # (what a later write may copy: session_file._closures_part)
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError, IndexError,
            struct.error):
        file.close()
        return None
    return analysis, nodes, state


def _nodes(rows: list, analysis: Analysis) -> list[Node]:
    """The nodes of `rows`, each without its target (`_kept` says where it is) and hashed anew
    (a str's hash differs from process to process). Labels are made here, not unpickled: a
    slotted data class's `__setstate__` is a Python call of its own per object. Each node's `id`
    is kept (the reporter, the decisions and the no-op snapshot name every action: 10,000
    formatted labels at 10,000 packages)."""
    new, new_node, hashed = object.__new__, frozenset.__new__, frozenset.__hash__  # (engine/node.py)
    set_repo, set_package, set_name = Label.repo.__set__, Label.package.__set__, Label.name.__set__
    out = []
    for repo, package, name, version, flavours, resolution, shape, record, ident in rows:
        label = new(Label)
        set_repo(label, repo)
        set_package(label, package)
        set_name(label, name)
        n = new_node(Node, ((repo, package, name, version, flavours, resolution),))
        n.__dict__.update(label=label, version=version, flavours=flavours, resolution=resolution, shape=shape,
                          _kept=(analysis, record), id=ident, _hash=hashed(n))
        out.append(n)
    return out
