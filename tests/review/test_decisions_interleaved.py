"""What `jbuild explain` reads (the store index's decisions) stays true when an edit's run writes
only the rows that differ (h-hot: a stamp per workspace) and builds of two targets, no-ops and
edits interleave: after every run, each action that run built says "built" with the key it was
built at, and every other action it covered says "reused" at the key of its entry."""

import json

from jbuild.engine.store import Store

GEOTAGS, TINYDB = "//services:geotags", "//db:tinydb"


def _built(example, target):
    """(the actions this run built, every action it covered), by node id as events name them."""
    r, _ = example.build(target=target)
    assert r.returncode == 0, r.stderr
    seen = {}
    for line in (example.root / f"events-{example.runs}.json").read_text().splitlines():
        e = json.loads(line)
        if e["event"] == "target_complete":
            seen[e["target"]] = e["outcome"]
    return {t for t, how in seen.items() if how == "built"}, set(seen)


def _entry_keys(example) -> dict[str, set[str]]:
    """label -> the keys of its entries in the store."""
    out: dict[str, set[str]] = {}
    for p in example.store.iterdir():
        meta = p / ".jbuild-entry.json"
        if meta.exists() and "-env-" not in p.name:
            m = json.loads(meta.read_text())
            out.setdefault(m.get("label", p.name.split("-", 1)[1]), set()).add(p.name.split("-", 1)[0])
    return out


def _check(example, built: set[str], covered: set[str]):
    rows = Store(example.store).index.decisions(str(example.root))
    keys = _entry_keys(example)
    for node in covered:
        d = rows[node]
        assert d.decision == ("built" if node in built else "reused"), (node, d)
        assert any(d.key in ks for ks in keys.values()), (node, d)  # a key an entry has


def test_decisions_follow_interleaved_builds_edits_and_noops(example):
    steps = [
        (GEOTAGS, None),
        (TINYDB, None),
        (GEOTAGS, ("services/geotags/src/main.c", "int main", "/* e1 */\nint main")),
        (GEOTAGS, None),  # a no-op
        (TINYDB, ("libs/libc/src/mini.c", "#include", "/* e2 */\n#include")),
        (GEOTAGS, None),
        (TINYDB, None),
        (GEOTAGS, ("libs/libc/src/mini.c", "/* e2 */", "/* e4 */")),
        (GEOTAGS, None),
    ]
    for target, edit in steps:
        if edit:
            example.edit(*edit)
        built, covered = _built(example, target)
        _check(example, built, covered)
