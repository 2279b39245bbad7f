"""A session kept between CLI runs, in two files and a journal: an edit writes only what a run
changes.

- `session-<digest>.pickle`, the analysis: loader, families, resolution, graph, the key
  computer's fixed parts, and the list of nodes. Rewritten only when the analysis itself
  changed (a whole analysis, or a BUILD file or glob re-lowered: `Session.cold_token` is None).
- `session-<digest>.hot.pickle`, what an update or a run changes: the settled entries, the
  predicted keys and what they were computed from, the stat cache the keys were computed with.
  Nodes in it are numbers into the analysis's node list (`_node_at`), so the two
  files share one set of objects, and the hot file is a fraction of the whole.
- `session-<digest>.hot.journal`: what each later run changed, appended (session_journal.py);
  the hot file is written whole again with the analysis, or once the journal passes half its
  size.

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

from jbuild.base import cachefile

from . import session_journal
from .resolve import Node

FORMAT = 8  # 4: the analysis and what a run changes in two files; 5: the hot file names
#            itself, for its journal; 6: slotted data classes (dsl); 7: KeyInputs a tuple, one readers map;
#            8: the stamp of the decisions last recorded, no key memos
HOT = ("settled", "pending", "rekeyed", "started_at", "candidates", "stats", "decisions_stamp")  # Session attributes
COMPUTER_HOT = ("keys", "readers", "stats")  # KeyComputer attributes (its memos are not kept: keys.py)
JOURNAL_AT_LEAST = 256 * 1024  # bytes of journal always kept before the hot file is written whole
NOT_KEPT = ("store", "cold_token", "node_list", "journal", "restored_from")  # re-opened, or kept in the files themselves


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
        state = {k: v for k, v in session.__dict__.items() if k not in HOT and k not in NOT_KEPT and k != "computer"}
        computer = {k: v for k, v in session.computer.__getstate__().items() if k not in COMPUTER_HOT}
        cachefile.write(cold_path, FORMAT, (token, nodes, state, computer))
        session.cold_token, session.node_list = token, nodes
    journal = session.__dict__.get("journal")
    change = session_journal.delta(session) if journal is not None and journal.token == session.cold_token else None
    if change is not None and not journal.full():
        journal.append(change, {Node: _by_number(session)})
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
    ids = {id(n): i for i, n in enumerate(session.node_list)}

    def by_number(node):  # called once per node (the pickler memoises), unlike a persistent_id
        i = ids.get(id(node))
        return (_node_at, (i,)) if i is not None else node.__reduce_ex__(pickle.HIGHEST_PROTOCOL)

    return by_number


def _follow(session, hot_path: Path, base: str, size: int, seq: int = 0, end: int = 0) -> session_journal.Journal:
    journal = session_journal.Journal(_journal_path(hot_path), session.cold_token, base, seq, end,
                                       limit=max(size // 2, JOURNAL_AT_LEAST))
    session.__dict__["journal"] = journal
    return journal


def _node_at(i: int):
    """A node of the hot part, by its number in the analysis: `_Unpickler` resolves this name."""
    raise RuntimeError("a session's hot part is read by session_file.load")


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, nodes: list):
        super().__init__(file)
        self.nodes = nodes

    def find_class(self, module: str, name: str):
        if module == __name__ and name == "_node_at":
            return self.nodes.__getitem__
        return super().find_class(module, name)


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
    cold = cachefile.read(cold_path, FORMAT, None)
    if cold is None:
        return None
    token, nodes, state, computer_state = cold
    gc.disable()  # as cachefile.read: many small objects, kept for the process's life
    try:
        with open(hot_path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            found, (hot_token, base, hot, computer_hot) = _Unpickler(f, nodes).load()
        if found != FORMAT or hot_token != token:
            return None
        session = Session.__new__(Session)
        session.__dict__.update(state, **hot, store=None, cold_token=token, node_list=nodes)
        computer = KeyComputer.__new__(KeyComputer)
        computer.__setstate__({**computer_state, **computer_hot})
        session.computer = computer
        _follow(session, hot_path, base, size).replay(session, lambda f: _Unpickler(f, nodes))
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
