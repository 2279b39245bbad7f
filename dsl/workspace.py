"""The workspace: the directory tree under `jbuild.toml`, its settings, and where the BUILD
file of a label's package lives (`@std` is the shipped `stdlib-recipes/`)."""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RecipeError
from .globs import BUILD_FILE
from .labels import STD
from .span import NOWHERE, Span

MARKER = "jbuild.toml"


@functools.cache
def stdlib_dir() -> Path:
    """Where `@std` lives: `JBUILD_STDLIB`, else the installed package data (jbuild.stdlib_recipes)."""
    env = os.environ.get("JBUILD_STDLIB")
    if env:
        return Path(env)
    import jbuild.stdlib_recipes

    return Path(jbuild.stdlib_recipes.__file__).resolve().parent


@dataclass(frozen=True)
class Workspace:
    root: Path
    settings: dict = field(default_factory=dict, compare=False)

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> Workspace:
        here = Path(start or os.getcwd()).resolve()
        for d in (here, *here.parents):
            if (d / MARKER).is_file():
                return cls(d, _read_settings(d / MARKER))
        raise RecipeError.at(NOWHERE, f"not inside a jbuild workspace (no {MARKER} in {here} or above)",
                             f"create {MARKER} at the root of your source tree")

    def repo_root(self, repo: str) -> Path:
        if repo == "":
            return self.root
        if repo == STD:
            return stdlib_dir()
        raise KeyError(repo)

    def build_file(self, repo: str, package: str) -> Path:
        root = self.repo_root(repo)
        return root / package / BUILD_FILE if package else root / BUILD_FILE

    def display_path(self, repo: str, package: str) -> str:
        """How a BUILD file is named in messages: relative to the workspace, or absolute."""
        if repo == "":
            return f"{package}/{BUILD_FILE}" if package else BUILD_FILE
        return str(self.build_file(repo, package))

    def package_of(self, cwd: str | os.PathLike) -> str:
        """The workspace package a directory is in (for relative labels on the command line)."""
        try:
            rel = Path(cwd).resolve().relative_to(self.root)
        except ValueError:
            return ""
        return "" if str(rel) == "." else rel.as_posix()

    def packages_under(self, repo: str, package: str, walked: list[str] | None = None) -> list[str]:
        """Every package (directory with a BUILD file) at or below `package`; `walked`, if
        given, receives every directory looked at (a new BUILD file would change one)."""
        root = self.repo_root(repo)
        found = []
        for dirpath, filenames in self._walk(repo, package):
            if walked is not None:
                walked.append(dirpath)
            if BUILD_FILE in filenames:
                rel = Path(dirpath).relative_to(root).as_posix()
                found.append("" if rel == "." else rel)
        return sorted(found)

    def _walk(self, repo: str, package: str):
        root = self.repo_root(repo)
        start = root / package if package else root
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "node_modules")
            yield dirpath, filenames

    @property
    def cache_dir(self) -> Path:
        return self.root / ".jbuild" / "cache"


def _read_settings(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        line = col = 1
        import re

        m = re.search(r"line (\d+), column (\d+)", msg)
        if m:
            line, col = int(m[1]), int(m[2])
        raise RecipeError.at(Span(str(path), line, col), f"bad {MARKER}: {msg.split(' (at')[0]}") from None
