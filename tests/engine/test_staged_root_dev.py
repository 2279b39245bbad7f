"""add_dev's operations are made once per process and replayed: each root gets exactly those that
binding each host device in turn would have given it (the bytes the C stager reads stay the same)."""

import os

from jbuild.engine.sandbox_root import DEV_LINKS, DEVICES, StagedRoot, add_dev


def _by_hand(root: StagedRoot) -> None:
    """add_dev as it was: each device bound in turn (a stat or two each, per action)."""
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            root.bind(f"/dev/{name}", f"/dev/{name}", writable=True)
    for target, name in DEV_LINKS:
        root.link(target, f"/dev/{name}")
    root.devpts("/dev/pts")
    root.dir("/dev/shm")


def test_each_root_gets_the_operations_of_binding_each_device():
    for before in ([], ["/dev"], ["/x/y"]):  # a fresh root, one that has /dev, one with another directory
        for _ in range(2):  # made, then replayed
            mine, want = StagedRoot(), StagedRoot()
            for r in (mine, want):
                for d in before:
                    r.dir(d)
            add_dev(mine)
            _by_hand(want)
            assert mine.ops == want.ops
            assert ("bind", b"/dev/null", b"/dev/null", 0) in mine.ops
            assert mine.ops.count(("dir", b"/dev")) == 1  # made once, whoever made it
