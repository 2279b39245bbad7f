"""Generations at the API level, on a real store with entries published through it: each
generation's own etc/, var/ shared, leftovers of a killed switch, roots dropped on delete."""

import os

from jbuild.engine.runtime.environment import Member, assemble
from jbuild.engine.runtime.generations import Generations
from jbuild.engine.store import EntryMeta, Store


def entry(store, name):
    with store.temporary() as tmp:
        (tmp.out / "share").mkdir()
        (tmp.out / "share" / name).write_text(name)
        return store.publish(tmp.out, EntryMeta(key=name, name=f"{name}-x-1")).name


def test_each_generation_has_its_own_etc_and_shares_var(tmp_path):
    store = Store(tmp_path / "store")
    gens = Generations(store)
    m = Member("//t:a", entry(store, "a"), ("share",))
    with store.shared():
        one = gens.add("svc", assemble(store, [m], {"svc.conf": "port = 1\n"}, title="svc"), ["//t:a"], [m.entry])
        svc = gens.dir / "svc"
        (svc / "var" / "state").write_text("kept")
        (gens.dir / ".svc-3.new-deadbeef").mkdir()  # a switch killed half-way
        two = gens.add("svc", assemble(store, [m], {"svc.conf": "port = 2\n"}, title="svc"), ["//t:a"], [m.entry])
    assert (one.number, two.number) == (1, 2)
    assert not (gens.dir / ".svc-3.new-deadbeef").exists()
    conf = svc / "etc" / "svc.conf"
    assert conf.read_text() == "port = 2\n" and not os.path.islink(conf)
    assert (one.path / "etc/svc.conf").read_text() == "port = 1\n"  # a generation never changes
    assert os.readlink(svc / "var") == "../svc.var" and (svc / "var/state").read_text() == "kept"
    assert os.path.samefile(svc / "share", store.path(two.env) / "share")
    old, new = gens.rollback("svc")
    assert (old.number, new.number) == (2, 1) and conf.read_text() == "port = 1\n"
    assert (svc / "var/state").read_text() == "kept"
    assert store.verify() == []  # envs/ is no stray directory; environments re-hash as sealed
    assert store.gc().dead == []  # both generations hold their environments and the member
    gens.delete("svc")
    dead = sorted(store.gc().dead)
    assert dead == sorted([one.env, two.env, m.entry])
    assert (gens.dir / "svc.var/state").read_text() == "kept"  # data outlives the name unless purged
    assert [r for r in store.roots() if "envs" in r.link] == []
