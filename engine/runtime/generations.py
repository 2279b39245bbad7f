"""Named environments with generations, like Nix profiles.

  <store>/envs/NAME -> NAME-<N>        the current generation: switched by one symlink rename
  <store>/envs/NAME-<N>/               a generation: a small real directory, read-only
      bin lib include share ...        -> the content-addressed environment's directories
      etc/                             its own rendered config (real files)
      var -> ../NAME.var               the name's data, kept across every switch and rollback
      .jbuild-generation.json          number, creation time, targets, environment, members
  <store>/envs/NAME.var/               created once per name; never deleted by a switch
  <store>/envs/.NAME.lock              serialises the changes of one name

A generation appears whole by one rename (it is made under `.NAME-<N>.new-*`); each is a GC
root for its environment and the member entries, registered before the switch. A kill at any
moment leaves the previous generation current and at worst a `.new-*` leftover, removed by the
next change of that name.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from jbuild.base.errors import BadInput, Failed
from jbuild.base.locks import flock

from ..store import META, Store
from ..store.fsops import force_remove, fsync_dir

INFO = ".jbuild-generation.json"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Generation:
    name: str
    number: int
    path: Path
    created: float
    targets: tuple[str, ...]
    env: str  # the environment's entry name
    members: tuple[str, ...]  # its member entries' names


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or re.search(r"-\d+$", name) or name.endswith(".var"):
        raise BadInput(f"{name!r} is not an environment name: letters, digits, '_', '.', '-', not ending "
                       "in -<digits> (generations are NAME-<N>) or .var")
    return name


class Generations:
    """The named environments of one store."""

    def __init__(self, store: Store):
        self.store = store
        self.dir = Path(os.path.abspath(store.root)) / "envs"
        self.dir.mkdir(exist_ok=True)

    def lock(self, name: str):
        return flock(self.dir / f".{check_name(name)}.lock")

    def names(self) -> list[str]:
        return sorted(p.name for p in self.dir.iterdir() if p.is_symlink() and _NAME.fullmatch(p.name))

    def current(self, name: str) -> Generation | None:
        link = self.dir / check_name(name)
        if not link.is_symlink():
            return None
        return self._read(self.dir / os.readlink(link))

    def require(self, name: str) -> Generation:
        gen = self.current(name)
        if gen is None:
            known = ", ".join(self.names()) or "none"
            raise BadInput(f"no environment named {name} (known: {known}); "
                           f"create it with `jbuild env create {name} TARGET...`")
        return gen

    def history(self, name: str) -> list[Generation]:
        pattern = re.compile(re.escape(check_name(name)) + r"-(\d+)")
        gens = [self._read(p) for p in self.dir.iterdir() if pattern.fullmatch(p.name) and (p / INFO).exists()]
        return sorted(gens, key=lambda g: g.number)

    def _read(self, path: Path) -> Generation:
        data = json.loads((path / INFO).read_text())
        return Generation(data["name"], data["number"], path, data["created"], tuple(data["targets"]),
                          data["env"], tuple(data["members"]))

    # ------------------------------------------------------------ changes (under lock(name), store.shared())

    def add(self, name: str, env: Path, targets: list[str], members: list[str]) -> Generation:
        """Make generation max+1 of `name` over the environment `env`, root it, switch to it."""
        self._clean_leftovers(name)
        env = Path(os.path.abspath(env))
        number = max((g.number for g in self.history(name)), default=0) + 1
        var = self.dir / f"{name}.var"
        var.mkdir(exist_ok=True)
        tmp = self.dir / f".{name}-{number}.new-{secrets.token_hex(4)}"
        tmp.mkdir()
        for entry in sorted(os.listdir(env)):
            if entry not in (META, "etc"):
                os.symlink(env / entry, tmp / entry)
        if (env / "etc").is_dir():
            shutil.copytree(env / "etc", tmp / "etc", symlinks=True)
        os.symlink(f"../{name}.var", tmp / "var")
        info = {"name": name, "number": number, "created": time.time(), "targets": list(targets),
                "env": env.name, "members": sorted(members)}
        (tmp / INFO).write_text(json.dumps(info, indent=1))
        _read_only(tmp)
        final = self.dir / f"{name}-{number}"
        os.rename(tmp, final)
        fsync_dir(self.dir)
        self.store.add_root(final, [env.name, *members])
        self._switch(name, number)
        return self._read(final)

    def rollback(self, name: str, to: int | None = None) -> tuple[Generation, Generation]:
        """Switch `name` to generation `to` (default: the one before the current). (old, new)."""
        cur = self.require(name)
        gens = {g.number: g for g in self.history(name)}
        if to is None:
            older = [n for n in gens if n < cur.number]
            if not older:
                raise BadInput(f"{name} has no generation before {cur.number}")
            to = max(older)
        if to not in gens:
            raise BadInput(f"{name} has no generation {to} (it has {', '.join(map(str, sorted(gens)))})")
        target = gens[to]
        missing = [e for e in (target.env, *target.members) if not self.store.lookup(e)]
        if missing:
            raise Failed(f"generation {to} of {name} cannot run: {missing[0]} is gone from the store "
                         "(was it deleted by hand, or its switch interrupted before it was rooted?)")
        self._switch(name, to)
        return cur, target

    def delete(self, name: str, purge_var: bool = False) -> list[Generation]:
        """Remove the name (first its current link: one unlink), every generation and their roots."""
        gens = self.history(name)
        (self.dir / name).unlink(missing_ok=True)
        fsync_dir(self.dir)
        for g in gens:
            self.store.drop_root(g.path)
            force_remove(g.path)
        self._clean_leftovers(name)
        if purge_var:
            force_remove(self.dir / f"{name}.var")
        return gens

    def _switch(self, name: str, number: int) -> None:
        tmp = self.dir / f".{name}.switch-{secrets.token_hex(4)}"
        os.symlink(f"{name}-{number}", tmp)
        os.replace(tmp, self.dir / name)
        fsync_dir(self.dir)

    def _clean_leftovers(self, name: str) -> None:
        for p in self.dir.glob(f".{name}-*.new-*"):
            force_remove(p)
        for p in self.dir.glob(f".{name}.switch-*"):
            p.unlink(missing_ok=True)


def _read_only(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root, topdown=False):
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, 0o444)
        os.chmod(dirpath, 0o555)
