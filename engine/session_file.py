"""A session kept between CLI runs, in two files and a journal: an edit writes only what a run
changes, and reads back only what it touches.

- `session-<digest>.pickle`, the analysis: loader, families, resolution, graph, the key
  computer's fixed parts, and the list of nodes. Rewritten only when the analysis itself
  changed (a whole analysis, or a BUILD file or glob re-lowered: `Session.cold_token` is None).
  Read back in parts (analysis_file.py): the nodes, edges and indexes at once; each target when
  a build or a re-keying first asks for it; the loader and families when a BUILD file changed.
- `session-<digest>.hot.pickle`, what an update or a run changes: the settled entries, the
  predicted keys and what they were computed from, the stat cache the keys were computed with.
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
import io
import os
import pickle
from pathlib import Path

from . import analysis_file, session_journal
from .analysis_file import HEAVY, Unpickler
from .resolve import Closure, Node, kept_edges

FORMAT = 9  # 4: the analysis and what a run changes in two files; 5: the hot file names
#            itself, for its journal; 6: slotted data classes (dsl); 7: KeyInputs a tuple, one readers map;
#            8: the stamp of the decisions last recorded, no key memos; 9: the analysis read back in parts
HOT = ("settled", "pending", "rekeyed", "started_at", "candidates", "stats", "decisions_stamp")  # Session attributes
COMPUTER_HOT = ("keys", "readers", "stats")  # KeyComputer attributes (its memos are not kept: keys.py)
JOURNAL_AT_LEAST = 256 * 1024  # bytes of journal always kept before the hot file is written whole
JOURNAL_PART = 8  # ... or this part of the hot file's size: every run replays the journal (a leaf edit's
#                   record is ~1 KB; the first run after a new analysis settles all: a few MB, written whole)
NOT_KEPT = ("store", "cold_token", "node_list", "journal", "restored_from", "analysis")  # re-opened, or kept in
#                                                                                        the files themselves


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
    if session.cold_token is None:
        token = os.urandom(8).hex()
        nodes = list(session.node_closure)
        heavy = {k: getattr(session, k) for k in HEAVY}
        state = {k: v for k, v in session.__dict__.items()
                 if k not in HOT and k not in NOT_KEPT and k not in HEAVY and k != "computer"}
        computer = {k: v for k, v in session.computer.__getstate__().items() if k not in COMPUTER_HOT}
        cold_path.parent.mkdir(parents=True, exist_ok=True)
        analysis_file.write(cold_path, FORMAT, token, nodes, (state, computer), heavy,
                            previous=session.__dict__.get("analysis"), dispatch={Closure: _closure_reducer()})
        session.cold_token, session.node_list = token, nodes
    journal = session.__dict__.get("journal")
    change = session_journal.delta(session) if journal is not None and journal.token == session.cold_token else None
    if change is not None and journal.append(change, {Node: _by_number(session)}):
        session_journal.settle_touched(session)
        return
    base = os.urandom(8).hex()
    hot = (session.cold_token, base, {k: session.__dict__[k] for k in HOT},
           {k: session.computer.__dict__[k] for k in COMPUTER_HOT})
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, Node: _by_number(session)}
    pickler.dump((FORMAT, hot))
    _write(hot_path, buf.getbuffer())
    _journal_path(hot_path).unlink(missing_ok=True)  # (a journal left by a kill here names the old hot file)
    _follow(session, hot_path, base, len(buf.getbuffer()))
    session_journal.track(session)


def _by_number(session):
    return analysis_file.by_number(session.node_list, "_node_at", equal=True)


def _closure_reducer():
    """Closures as the analysis keeps them: edges by kind and position (`kept_edges`), each set
    of edges once however many closures share it; read back without a Python call each."""
    edges: dict[int, tuple] = {}

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


def _write(path: Path, data) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load(analysis: Path):
    """The saved session for this command line, or None (none, another format, or the two
    files do not go together)."""
    from .keys import KeyComputer
    from .session import Session

    cold_path, hot_path = paths(analysis)
    gc.disable()  # as cachefile.read: many small objects, kept for the process's life
    try:
        cold = analysis_file.read(cold_path, FORMAT)
        if cold is None:
            return None
        kept, nodes, (state, computer_state) = cold
        with open(hot_path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            found, (hot_token, base, hot, computer_hot) = Unpickler(f, nodes).load()
        if found != FORMAT or hot_token != kept.token:
            return None
        session = Session.__new__(Session)
        session.__dict__.update(state, **hot, store=None, cold_token=kept.token, node_list=nodes, analysis=kept)
        computer = KeyComputer.__new__(KeyComputer)
        computer.__setstate__({**computer_state, **computer_hot})
        session.computer = computer
        _follow(session, hot_path, base, size).replay(session, lambda f: Unpickler(f, nodes))
        session.restored_from = session_journal.state_of(session)
        session.stats.journaled = True
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError, IndexError):
        return None
    finally:
        gc.freeze()
        gc.enable()
    session_journal.track(session)
    return session


def restore(analysis: Path, opts):
    """The saved session under this invocation's options, with its store opened, or None."""
    from .build import _known_exported
    from .store import Store

    session = load(analysis)
    if session is None:
        return None
    session.with_options(opts)
    session.store = Store(Path(session.opts.store))
    session.computer.known_exported = _known_exported(session.store)
    return session
