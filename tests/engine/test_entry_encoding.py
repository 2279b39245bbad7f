"""An entry's metadata with a pre-encoded `built_against` (store/entry.Encoded): the same bytes as
encoding it whole, and the index keeps no copy of it."""

import json
import sqlite3

from jbuild.engine.store import EntryMeta, Store
from jbuild.engine.store.entry import Encoded, read_meta

AGAINST = {"//a:lib": {"entry": "k1-lib-1", "exported": "e1"},
           "//b:lib": {"entry": "k2-lib-1", "exported": "e2"},
           '//q:"odd\\é': {"exported": "e3", "entry": "k3-odd-1"}}


def encoded(d: dict) -> Encoded:
    labels = sorted(d)
    return Encoded({k: d[k] for k in labels},
                   "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(d[k], sort_keys=True)}" for k in labels) + "}")


def test_an_encoded_built_against_gives_the_same_text_as_encoding_it_whole():
    meta = EntryMeta(key="k", name="k-p-1", label="//:p", inputs={"sources": {"a": "d"}}, built_against=AGAINST)
    spliced = meta.replace(built_against=encoded(AGAINST))
    assert spliced.to_json() == meta.to_json()
    assert EntryMeta.from_json(spliced.to_json()).built_against == AGAINST
    empty = meta.replace(built_against={})
    assert empty.replace(built_against=encoded({})).to_json() == empty.to_json()


def test_a_field_holding_the_splice_mark_is_left_alone(tmp_path):
    odd = "\0built_against\0"
    meta = EntryMeta(key="k", name="k-p-1", label=odd, built_against=encoded(AGAINST))
    back = EntryMeta.from_json(meta.to_json())
    assert back.label == odd and back.built_against == AGAINST


def test_the_index_keeps_no_copy_of_built_against_but_the_entry_does(tmp_path):
    store = Store(tmp_path / "store")
    with store.temporary() as tmp:
        (tmp.out / "f").write_text("x")
        meta = EntryMeta(key="k1", name="k1-p-1", label="//:p", node="//:p@1",
                         built_against=encoded(AGAINST), inputs={"sources": {"f": "d"}})
        store.publish(tmp.out, meta)
    assert read_meta(store.path("k1-p-1")).built_against == AGAINST
    db = sqlite3.connect(store.root / "index.sqlite")
    assert db.execute("SELECT built_against, inputs FROM entries WHERE name='k1-p-1'").fetchall() == \
        [(None, json.dumps({"sources": {"f": "d"}}))]
    assert store.index.last_inputs("//:p@1") == {"sources": {"f": "d"}}
