"""The causes of a run's cutoff adoptions, one row per workspace rather than a reason per action.

A libc implementation patch at 10,000 packages rebuilds libc, finds its export unchanged and
adopts its 9,999 consumers "inputs unchanged (//:libc rebuilt; exported interface unchanged)";
the next leaf edit adopts them "inputs unchanged". Written into each action's decision row, that
flip cost 10,000 row writes a run. Instead an adopted action's row always says "inputs
unchanged", and this row maps each cause (what follows that reason) to the actions adopted
after it, until a later run decides them again: the reason `jbuild explain` reads is the row's
with its cause, as before (index.decisions).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Container

UNCHANGED = "inputs unchanged"
TABLE = "CREATE TABLE IF NOT EXISTS decision_causes (workspace TEXT PRIMARY KEY, causes TEXT)"


def record(db: sqlite3.Connection, workspace: str, causes: dict[str, list[str]],
           decided: Callable[[], Container[str]]) -> None:
    """This run's `causes` (cause -> node ids adopted after it), over the earlier runs' causes of
    the nodes this run did not decide (`decided()`: every node id this run decided)."""
    found = db.execute("SELECT causes FROM decision_causes WHERE workspace=?", (workspace,)).fetchone()
    merged: dict[str, list[str]] = {}
    if found is not None:
        now = decided()
        for cause, nodes in json.loads(found[0]).items():
            kept = [n for n in nodes if n not in now]
            if kept:
                merged[cause] = kept
    for cause, nodes in causes.items():
        merged.setdefault(cause, []).extend(nodes)
    if merged:
        db.execute("INSERT OR REPLACE INTO decision_causes VALUES (?,?)", (workspace, json.dumps(merged)))
    elif found is not None:
        db.execute("DELETE FROM decision_causes WHERE workspace=?", (workspace,))


def apply(db: sqlite3.Connection, workspace: str, decisions: dict) -> None:
    """Give each adopted action of `decisions` (node id -> index.Decision) its cause."""
    try:
        found = db.execute("SELECT causes FROM decision_causes WHERE workspace=?", (workspace,)).fetchone()
    except sqlite3.OperationalError:  # no such table: an index no run with causes wrote to
        return
    for cause, nodes in json.loads(found[0]).items() if found else ():
        for n in nodes:
            d = decisions.get(n)
            if d is not None and d.decision == "reused" and d.reason == UNCHANGED:
                decisions[n] = d._replace(reason=UNCHANGED + cause)


def split(reason: str) -> str | None:
    """The cause of an adoption's reason (what follows "inputs unchanged"), or None."""
    return reason[len(UNCHANGED):] if reason.startswith(UNCHANGED) and reason != UNCHANGED else None
