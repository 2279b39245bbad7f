"""What a session learns from a run (`Session.settle`): each action built or reused is settled at
its actual key, measured exported digest and entry name, which become the next plan's
prediction; what the run left undecided stays settled only where that still describes it.
Apart from session.py, which plans; this settles."""

from __future__ import annotations

from .adopted import Adopted


def settle(session, rb) -> None:
    """Learn from a run: every action built or reused is settled at its actual key, measured
    digest and entry name (they become the prediction); any other is re-checked next time
    (a candidate of the next plan), and keeps what an earlier run settled where that still
    describes it (`_still_settled`). Only what the run may have changed is looked at
    (`_to_settle`): an action adopted at its settled entry, predicted so, is settled already."""
    settled, predicted, candidates = session.settled, session.computer.keys.inputs, set()
    outcomes, actual, exported, inputs = rb.outcomes, rb.actual, rb.exported, rb.inputs
    keep = _still_settled(session, rb)  # (before this run's values replace the last run's)
    for n in _to_settle(session, rb):
        o = outcomes.get(n)
        if isinstance(o, Adopted) and predicted.get(n) is settled[n][2]:
            continue  # taken at its settled entry (key, digest and inputs; after a cutoff too), and predicted so
        if o is None or o.decision not in ("built", "reused") or n not in actual:
            if n not in keep:
                settled.pop(n, None)
            candidates.add(n)
            continue
        was, now = settled.get(n), inputs[n]
        if was is not None and was[2] is now and predicted.get(n) is now and was[0] == actual[n] \
                and was[1] == exported[n] and len(was) > 3:
            continue  # adopted as settled, and predicted so: nothing to write (session_journal.py)
        value = (actual[n], exported[n], now, rb.entry_of(n))
        settled[n] = value
        session.computer.settle(n, *value[:3])
    session.candidates = candidates
    session.decisions_stamp = rb.decisions_stamp

def _still_settled(session, rb) -> set:
    """The actions this run did not build or reuse whose settled state stays (still
    candidates of the next plan, which compares their keys again): what a failed libc patch
    leaves, so that the patch that mends it adopts libc's 9,999 consumers in bulk, at the
    entries settled before it, as any libc patch does (cutoff.py) — not 9,999 lookups.

    - A skipped action (a dependency failed, or the run stopped) was not looked at: what it
      was settled with still holds unless an action it reads was built or reused at another
      value than the one settled (then it is unsettled: decided one by one next time). So
      each settled consumer keeps reading the values its dependencies are settled at (the
      invariant cutoff.Held.decide relies on); a failed dependency keeps its own too, below.
    - A failed action keeps its settled state only where its prediction differs from it: the
      next plan then decides it (affected), and compares what it comes out as with what its
      consumers were settled with. One that failed though predicted at its settled key (a
      consumer of a changed value, an entry gone) is unsettled, as its prediction may be
      wrong: affected next time, and its consumers checked one by one after it."""
    from .cutoff import _consumers, _key_readers

    settled, build = session.settled, session.computer.keys.build
    skipped, failed, done = [], [], []
    for n, o in rb.decided.items():
        if o.decision in ("built", "reused"):
            done.append(n)
        elif n in settled and o.decision in ("skipped", "failed"):
            (skipped if o.decision == "skipped" else failed).append(n)
    if not skipped and not failed:
        return set()
    keyed, measured = rb.changed_values(done)
    skipped = set(skipped)
    stale = _consumers(session.graph, measured, skipped) | _key_readers(rb, session.graph, keyed, skipped)
    return (skipped - stale) | {n for n in failed if build.get(n) != settled[n][0]}

def _to_settle(session, rb):
    """The actions whose settled state this run may change: those it decided one by one, and
    those re-keyed since the session was restored or saved (their prediction is a new object:
    the tracked `keys.inputs`, session_journal.py) — when every action has an outcome. (One
    the last run left unsettled, or new since, is affected: decided one by one.) Otherwise
    (a failure, a fresh analysis, a session not tracked): every action. A set union in C,
    not a pass over 10,000 adopted actions."""
    nodes, predicted = session.graph.nodes, session.computer.keys.inputs
    touched = getattr(predicted, "touched", None)
    if touched is None or getattr(predicted, "whole", True) or not all(map(rb.outcomes.__contains__, nodes)):
        return nodes
    return [n for n in {*rb.decided, *touched} if n in session.graph.deps]
