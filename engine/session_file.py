"""A session kept between CLI runs, in two files and a journal: an edit writes only what a run
changes, and reads back only what it touches.

- `session-<digest>.pickle`, the analysis: loader, families, resolution, graph, the key
  computer's fixed parts, and the list of nodes. Rewritten only when the analysis itself
  changed (a whole analysis, or a BUILD file or glob re-lowered: `Session.cold_token` is None).
  Read back in parts (analysis_file.py): the nodes, edges and indexes at once; each target when
  a build or a re-keying first asks for it; the loader and families when a BUILD file changed.
- `session-<digest>.hot.pickle`, what an update or a run changes: the settled entries, the
  predicted keys and what they were computed from, the stat cache the keys were computed with.
  Two pickles: the key inputs as one table (bytes, read back when something looks into them:
  packed_inputs.py), then the rest, each key inputs there a number into the table.
  Nodes in it are numbers into the analysis's node list (`_node_at`), so the two
  files share one set of objects, and the hot file is a fraction of the whole.
- `session-<digest>.hot.journal`: what each later run changed, appended (session_journal.py);
  the hot file is written whole again with the analysis, or when a record would take the
  journal past an eighth of its size (`JOURNAL_PART`).

The hot file names the token of the analysis it goes with; a mismatch (a run killed between the
two writes, or an analysis written by another run) restores nothing: the caller analyses again.
The journal names the hot file it follows; a record that is torn or names another is ignored.
"""

from __future__ import annotations

import copyreg
import gc
import os
import pickle
import re
import time
from pathlib import Path

from jbuild.base import file_memo
from jbuild.dsl.labels import Label

from . import analysis_file, packed_inputs, session_journal
from .analysis_file import HEAVY, Unpickler
from .keys import KeyInputs
from .resolve import Closure, Node, kept_edges

FORMAT = 14  # 4: the analysis and what a run changes in two files; 5: the hot file names
#            itself, for its journal; 6: slotted data classes (dsl); 7: KeyInputs a tuple, one readers map;
#            8: the stamp of the decisions last recorded, no key memos; 9: the analysis read back in parts;
#            10: node ids kept, node_closure made again, the stat cache's entries of this analysis only;
#            11: the loader's heavy part without inline targets, closures marked shared (a 10 of either alone
#            restored, slowly: a BUILD edit re-pickled every target); 12: records' spans moved by a shift each;
#            13: the hot file's key inputs in a table of their own, read when looked into (packed_inputs.py);
#            14: the closures pickled apart in the core (copied as bytes by a write that finds them unchanged)
HOT = ("settled", "pending", "rekeyed", "started_at", "candidates", "stats", "decisions_stamp")  # Session attributes
COMPUTER_HOT = ("keys", "readers", "stats")  # KeyComputer attributes (its memos are not kept: keys.py)
JOURNAL_AT_LEAST = 256 * 1024  # bytes of journal always kept before the hot file is written whole
JOURNAL_PART = 8  # ... or this part of the hot file's size: every run replays the journal (a leaf edit's
#                   record is ~1 KB; the first run after a new analysis settles all: a few MB, written whole)
REMADE = ("computer", "node_closure")  # made again by `load`, not read back as they were
NOT_KEPT = ("store", "cold_token", "node_list", "journal", "restored_from", "analysis",  # re-opened, or kept
            "closures_part", "env_dirty")  # in the files themselves


def paths(analysis: Path) -> tuple[Path, Path]:
    """(the analysis, the hot part), beside the no-op snapshot of the same command line."""
    cold = analysis.with_name(analysis.name.replace("analysis-", "session-", 1))
    return cold, cold.with_name(cold.stem + ".hot.pickle")


def _journal_path(hot: Path) -> Path:
    return hot.with_suffix(".journal")


def save(session, analysis: Path) -> None:
    """Write the analysis if it changed since it was last written; then what this run changed:
    appended to the journal, or the hot part whole (after a new analysis, or a long journal)."""
    cold_path, hot_path = paths(analysis)
    clean_temporaries(cold_path.parent)  # (a listing of a few files)
    if session.cold_token is None:
        token = os.urandom(8).hex()
        nodes = list(session.node_closure)
        heavy = {k: session.__dict__[k] for k in HEAVY} if all(k in session.__dict__ for k in HEAVY) else \
            (lambda: {k: getattr(session, k) for k in HEAVY})  # (not read back: copied if it holds, relower.py)
        state = {k: v for k, v in session.__dict__.items()
                 if k not in HOT and k not in NOT_KEPT and k not in HEAVY and k not in REMADE}
        state["closures"] = _Part(_closures_part(session, nodes))
        computer = {k: v for k, v in session.computer.__getstate__().items() if k not in COMPUTER_HOT}
        cold_path.parent.mkdir(parents=True, exist_ok=True)
        analysis_file.write(cold_path, FORMAT, token, nodes, (state, computer), heavy,
                            previous=session.__dict__.get("analysis"), dispatch={_Part: _Part.reduce})
        session.cold_token, session.node_list = token, nodes
    journal = session.__dict__.get("journal")
    change = session_journal.delta(session) if journal is not None and journal.token == session.cold_token else None
    if change is not None and journal.append(change, {Node: _by_number(session)}):
        session_journal.settle_touched(session)
        _remember(session, analysis)
        return
    base = os.urandom(8).hex()
    stats = _kept_stats(session)
    hot = (session.cold_token, base, {**{k: session.__dict__[k] for k in HOT}, "stats": stats},
           {**{k: session.computer.__dict__[k] for k in COMPUTER_HOT}, "stats": stats})
    inputs, by_number = packed_inputs.packing()  # (the key inputs apart: read back when looked into)
    body = analysis_file.dumps(hot, {Node: _by_number(session), KeyInputs: by_number,
                                     packed_inputs.PackedInputs: by_number})
    data = pickle.dumps((FORMAT, len(inputs), pickle.dumps(inputs, protocol=pickle.HIGHEST_PROTOCOL)),
                        protocol=pickle.HIGHEST_PROTOCOL) + body
    _write(hot_path, data)
    _journal_path(hot_path).unlink(missing_ok=True)  # (a journal left by a kill here names the old hot file)
    _follow(session, hot_path, base, len(data))
    session_journal.track(session)
    _remember(session, analysis)


def _kept_stats(session):
    """The stat cache as the hot file keeps it: the entries of this analysis's sources, its host
    tools' binaries and detections. A workspace's shared cache also holds other command lines'
    files (and a copied workspace, its original's: 30,000 entries, 30 ms of every restore, in a
    copy of the 10,000-package benchmark). A whole analysis reads the shared cache again."""
    sources, structural = session.sources, session.structural
    return session.stats.kept(lambda p: p in sources or p in structural or not isinstance(p, str))


def _by_number(session, nodes: list | None = None):
    return analysis_file.by_number(session.node_list if nodes is None else nodes, "_node_at", equal=True)


class _Part:
    """Bytes pickled apart, written as `analysis_file._part` of them (read back by its Unpickler)."""

    def __init__(self, data: bytes):
        self.data = data

    def reduce(self):
        return analysis_file._part, (self.data,)


def _closures_part(session, nodes: list) -> bytes:
    """The closures pickled apart: the bytes the analysis last written or read holds when they
    are the same — the same nodes numbered alike, and closures sharing one index of nodes and one
    set of edges, equal as kept (`kept_edges`) — else pickled anew. A BUILD edit that changes a
    build script re-makes a node and its edges equal to the last ones: ~0.2 s of pickling 40,000
    edges at 10,000 packages, a third of the edit's run (issue 12). Kept with the session as
    (bytes, closures, their edges as kept, the node list they number nodes by)."""
    closures, kept = session.closures, session.__dict__.get("closures_part")
    if kept is not None and _shared(closures):
        data, was, was_edges, was_nodes = kept
        first = closures[0]
        if (was_nodes is nodes or was_nodes == nodes) and len(closures) == len(was) and \
                [c.root for c in closures] == [c.root for c in was] and \
                (first.nodes is was[0].nodes or list(first.nodes.items()) == list(was[0].nodes.items())):
            edges = was_edges if first.deps is was[0].deps else kept_edges(first.deps)
            if edges is was_edges or list(edges.items()) == list(was_edges.items()):
                session.closures_part = (data, closures, edges, nodes)
                return data
    edges: dict[int, tuple] = {}
    data = analysis_file.dumps(closures, {Closure: _closure_reducer(edges), Node: _by_number(session, nodes),
                                          Label: analysis_file.by_number([n.label for n in nodes], "_label_at")})
    session.closures_part = (data, closures, next(iter(edges.values()))[1], nodes) if _shared(closures) else None
    return data


def _shared(closures: list) -> bool:
    """Do all `closures` share one index of nodes and one set of edges, all marked shared?"""
    return bool(closures) and all(c.shared and c.nodes is closures[0].nodes and c.deps is closures[0].deps
                                  for c in closures)


def _closure_reducer(edges: dict[int, tuple] | None = None):
    """Closures as the analysis keeps them: edges by kind and position (`kept_edges`), each set
    of edges once however many closures share it (in `edges`: id -> (edges, as kept)); read back
    without a Python call each."""
    edges = {} if edges is None else edges

    def reduce(c: Closure):
        got = edges.get(id(c.deps))
        if got is None:
            got = edges[id(c.deps)] = (c.deps, kept_edges(c.deps))
        return copyreg.__newobj__, (Closure,), {"root": c.root, "nodes": c.nodes, "deps": got[1],
                                              "shared": c.shared}

    return reduce


def _follow(session, hot_path: Path, base: str, size: int, seq: int = 0, end: int = 0) -> session_journal.Journal:
    journal = session_journal.Journal(_journal_path(hot_path), session.cold_token, base, seq, end,
                                       limit=max(size // JOURNAL_PART, JOURNAL_AT_LEAST))
    session.__dict__["journal"] = journal
    return journal


TEMPORARY = re.compile(r"\.tmp(\d+)$")  # `<name>.tmp<pid>`: written, then renamed over <name>
LEFT_FOR = 60  # seconds a temporary of a dead writer stays (a writer in another PID namespace may live)
ABANDONED = 24 * 3600  # seconds after which any temporary is abandoned: no write takes a day


def clean_temporaries(cache_dir: Path, now: float | None = None) -> None:
    """Remove the temporaries that runs killed mid-write left in the cache directory (a 24 MB
    analysis each, at 10,000 packages): those whose writer is dead (its PID gone) and untouched
    for a minute, and any a day old."""
    now = time.time() if now is None else now
    try:
        names = os.listdir(cache_dir)
    except OSError:
        return
    for name in names:
        found = TEMPORARY.search(name)
        if found is None:
            continue
        path = os.path.join(cache_dir, name)
        try:
            age = now - os.stat(path).st_mtime
            if age > ABANDONED or (age > LEFT_FOR and not _alive(int(found[1]))):
                os.unlink(path)
        except OSError:
            continue  # (renamed by its writer, or removed by another run, meanwhile)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # (another user's process; or not a PID at all: left for the day rule)
    return True


def _write(path: Path, data) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load(analysis: Path):
    """The saved session for this command line, or None (none, another format, or the two
    files do not go together)."""
    from .keys import KeyComputer
    from .session import Session, node_closures

    cold_path, hot_path = paths(analysis)
    gc.disable()  # as cachefile.read: many small objects, kept for the process's life
    try:
        cold = analysis_file.read(cold_path, FORMAT)
        if cold is None:
            return None
        kept, nodes, (state, computer_state) = cold
        with open(hot_path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            found, count, inputs = pickle.Unpickler(f).load()
            if found != FORMAT:
                return None
            table = packed_inputs.Table(inputs, count)
            hot_token, base, hot, computer_hot = Unpickler(f, nodes, inputs=table.packed()).load()
        if hot_token != kept.token:
            return None
        session = Session.__new__(Session)
        session.__dict__.update(state, **hot, store=None, cold_token=kept.token, node_list=nodes, analysis=kept,
                                node_closure=node_closures(state["closures"]))
        part = next((data for data, value in kept.parts if value is state["closures"]), None)
        if part is not None and _shared(state["closures"]):  # (its bytes, for a write that finds them unchanged)
            session.closures_part = (part, state["closures"], state["closures"][0].deps, nodes)
        computer = KeyComputer.__new__(KeyComputer)
        computer.__setstate__({**computer_state, **computer_hot})
        session.computer = computer
        _follow(session, hot_path, base, size).replay(session, lambda f: Unpickler(f, nodes))
        session.restored_from = session_journal.state_of(session)
        session.env_dirty = set()  # (Session.env_dirty: nothing re-lowered since)
        session.stats.journaled = True
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError, IndexError):
        return None
    finally:
        gc.freeze()
        gc.enable()
    session_journal.track(session)
    return session


def _files(analysis: Path) -> tuple:
    cold, hot = paths(analysis)
    return cold, hot, _journal_path(hot)


def _remember(session, analysis: Path) -> None:
    """Keep the session just saved, for a process that builds again (base/file_memo.py) — unless
    it holds its heavy part (a whole analysis, a BUILD edit re-lowered the loader's way, or the
    loader asked for): restored from the files instead, the next build reads back only what it
    touches (~0.1 s at 10,000 packages), where the loader kept would have every later BUILD edit
    re-lowered through it (relower.py takes in an edit only without it) and the server's memory
    hold every target (~130 MB at 10,000)."""
    if any(k in session.__dict__ for k in HEAVY):
        return
    file_memo.keep("session", str(analysis), _files(analysis), session)


def _recall(analysis: Path):
    """The session this process saved for `analysis`, if its files are still as it left them."""
    session = file_memo.recall("session", str(analysis), _files(analysis))
    if session is not None:
        old = session.__dict__.get("store")
        if old is not None:  # (`restore` opens the store again, as for a session read from disk)
            old.index.close()
        session.restored_from = session_journal.state_of(session)
        session.env_dirty = set()  # (Session.env_dirty: nothing re-lowered since)
        session.stats.journaled = True  # (as `load` leaves it)
    return session


def restore(analysis: Path, opts):
    """The saved session under this invocation's options, with its store opened, or None."""
    from .build import _known_exported
    from .store import Store

    session = _recall(analysis) or load(analysis)
    if session is None:
        return None
    session.with_options(opts)
    session.store = Store(Path(session.opts.store))
    session.computer.known_exported = _known_exported(session.store)
    return session
