"""A split package's outputs: one entry per output, completed by a set entry published last.

  <store>/<key>-<name>-<version>[-flavours]-<output>/   an output entry (`output`, `set` in its metadata)
  <store>/<key>-<name>-<version>[-flavours]/            the set entry: no files, `outputs` names them

A set is complete iff its set entry exists: the outputs are published first (each by its own
rename), the set entry last, so a kill at any moment leaves either the whole set or output
entries that no set entry names — orphans, which nobody looks up. They are removed by the next
publish of the same key (under its lock), by gc (nothing roots them) and by `store verify
--repair`. A set whose output has gone (deleted by hand, or evicted as modified) is no longer
a hit: `check` discards it, set entry first, and the key is built again. Sets live and die
whole in gc: keeping any output keeps the set entry and all its outputs (launchers in an
environment exec a program inside its output entry, and a reused set must be complete).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .entry import EntryMeta, read_meta
from .fsops import discard


def output_name(set_name: str, output: str) -> str:
    """The entry of one output: `<set name>-<output>` (as Nix names `zlib-1.3-dev`)."""
    return f"{set_name}-{output}"


def publish_set(store, parts: dict[str, Path], meta: EntryMeta) -> Path:
    """Publish each of `parts` (output name -> a temporary's output directory) as its own entry,
    then the set entry (`meta`, with `outputs` filled) that makes them visible. Call holding the
    key's lock: an entry already under an output's name is an orphan of a killed publish."""
    if store.lookup(meta.name):  # an identical build won the race: keep theirs
        return store.path(meta.name)
    names = {out: output_name(meta.name, out) for out in parts}
    for out, directory in parts.items():
        if (store.root / names[out]).exists():
            discard(store.root / names[out])
        part = EntryMeta(key=meta.key, name=names[out], label=meta.label, node=meta.node, output=out,
                         set=meta.name, sandbox=meta.sandbox, log=meta.log, built_at=meta.built_at)
        store.publish(directory, part, index=False)
    with store.temporary() as tmp:
        return store.publish(tmp.out, meta.replace(outputs=names))


def outputs_at(entry: Path) -> dict[str, Path]:
    """Output name -> entry path of the set entry at `entry`; {} for an entry that is not a set."""
    return {out: entry.with_name(name) for out, name in read_meta(entry).outputs.items()}


def complete(store, name: str) -> bool:
    """Is the entry `name` in the store, and, if it is a set, every output with it? Reads only
    (for `plan`, `explain`, `path-info`); a build's `store.check` also discards a broken set."""
    if not store.lookup(name):
        return False
    return all(store.lookup(o) for o in store.meta(name).outputs.values())


def check_outputs(store, meta: EntryMeta, full: bool) -> bool:
    """Are all the outputs of the set `meta` there and unchanged? If not, discard the set (set
    entry first, so it stops being a hit at once) and what is left of its outputs."""
    if all(store.check(name, full) for name in meta.outputs.values()):
        return True
    discard(store.root / meta.name)
    store.index.remove(meta.name)
    for name in meta.outputs.values():
        discard(store.root / name)
    return False


def whole_sets(metas: Iterable[EntryMeta], kept: dict[str, str]) -> dict[str, str]:
    """`kept` (entry -> why) grown so that a set is kept whole: a kept output keeps its set entry
    and its siblings, a kept set entry its outputs."""
    grown = dict(kept)
    for meta in metas:
        if not meta.outputs:
            continue
        names = [meta.name, *meta.outputs.values()]
        why = next((kept[n] for n in names if n in kept), None)
        if why is not None:
            for n in names:
                grown.setdefault(n, why)
    return grown


def problems(metas: list[EntryMeta], exists) -> list[tuple[str, str, list[str]]]:
    """(entry, what is wrong, the entries a repair removes) for each orphan output and each set
    missing an output (the set entry first: it stops being a hit before its outputs go)."""
    sets = {m.name: m for m in metas if m.outputs}
    out = []
    for m in metas:
        if m.set and m.name not in sets.get(m.set, EntryMeta("", "")).outputs.values():
            out.append((m.name, f"an output of {m.set}, which is not in the store (an interrupted publish)",
                        [m.name]))
        missing = [f"{o} ({name})" for o, name in m.outputs.items() if not exists(name)]
        if missing:
            out.append((m.name, f"its output {', '.join(missing)} is missing", [m.name, *m.outputs.values()]))
    return out
