"""The workspace: the directory tree under `jbuild.toml`, its settings, and where the BUILD
file of a label's package lives (`@std` is the shipped `stdlib-recipes/`)."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import settings_schema
from .globs import BUILD_FILE

STD = "std"  # labels.STD (a no-op imports neither labels nor the error types: ~5 ms of its start)

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
            if (d / MARKER).exists():
                _check_encoding(d)
                return cls(d, _settings(d))
        from .errors import RecipeError
        from .span import NOWHERE

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
        for dirpath, names in self._walk(repo, package):
            if walked is not None:
                walked.append(dirpath)
            if BUILD_FILE in names:  # a directory named BUILD too: loading it reports the mistake
                rel = Path(dirpath).relative_to(root).as_posix()
                found.append("" if rel == "." else rel)
        return sorted(found)

    def _walk(self, repo: str, package: str):
        root = self.repo_root(repo)
        start = root / package if package else root
        for dirpath, dirnames, filenames in os.walk(start):
            names = filenames + dirnames
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "node_modules")
            yield dirpath, names

    def setting(self, section: str, key: str, default=None):
        """A `jbuild.toml` value, already checked against settings_schema (so of the declared
        type), or `default`. `section` is `build`, `store`, ... or `profiles.NAME`."""
        table = settings_schema.spec_for(section)
        if table is None or key not in table:
            raise KeyError(f"[{section}] {key} is not in settings_schema")
        body = self.settings
        for part in section.split("."):
            body = body.get(part, {}) if isinstance(body, dict) else {}
        return body.get(key, default) if isinstance(body, dict) else default

    @property
    def cache_dir(self) -> Path:
        """`.jbuild/cache`, or the user's directory for this workspace where that cannot be
        written (base/workspace_cache.py)."""
        from jbuild.base import workspace_cache

        found = workspace_cache.cache_dir(self.root)
        if found is None:
            from jbuild.base.errors import BadInput

            raise BadInput(f"cannot keep jbuild's caches: neither {workspace_cache.inside(self.root)} nor "
                           f"{workspace_cache.elsewhere(self.root)} can be written (make one of them writable, "
                           "or set XDG_CACHE_HOME to a directory that is)")
        return Path(found)


def _check_encoding(root: Path) -> None:
    """A workspace's path must be UTF-8 (as Bazel refuses some paths): jbuild writes it, and the
    paths under it, into its store's index, its GC roots and its build events as text."""
    text = str(root)
    if text.isascii():
        return
    try:
        text.encode()
    except UnicodeEncodeError:
        from jbuild.base.errors import BadInput

        shown = os.fsencode(text).decode(errors="backslashreplace")
        raise BadInput(f"the workspace's path is not UTF-8: {shown} (jbuild keeps paths as UTF-8 text in "
                       "its store's index and build records; rename the directory)") from None


def _settings(root: Path) -> dict:
    """jbuild.toml's checked settings, kept by its stat in the workspace's cache (parsing it
    imports TOML's parser and the error types: ~7 ms of every command's start)."""
    from jbuild.base import __version__
    from jbuild.base.stat_memo import parsed

    salt = f"{__version__} {settings_schema.SCHEMA_KEY}"  # (a schema changed in place checks again)
    from jbuild.base import workspace_cache

    cache = workspace_cache.cache_dir(root) or workspace_cache.inside(root)  # (none: kept nowhere)
    return parsed(root / MARKER, Path(cache, "settings.pickle"), salt,
                  lambda: _read_settings(root / MARKER))


def _read_settings(path: Path) -> dict:
    """Parse and check jbuild.toml; every problem is a RecipeError placed in the file. (An empty
    file, the usual one, needs neither TOML's parser nor the error types: ~7 ms of a no-op.)"""
    if path.is_dir():
        raise _error(path, 0, 0, f"'{path}' is a directory; {MARKER} must be a file",
                     "remove the directory and write the settings file (it may be empty)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _error(path, 0, 0, f"cannot read '{path}': {exc.strerror}", "check the file's permissions") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _error(path, line, col, f"{MARKER} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}",
                     "TOML files are UTF-8") from None
    if not text.strip(" \t\r\n"):  # TOML's whitespace only: a no-break space or form feed is an error
        return {}
    import tomllib

    try:
        settings = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"line (\d+), column (\d+)", msg)
        line, col = (int(m[1]), int(m[2])) if m else (1, 1)
        raise _error(path, line, col, f"bad {MARKER}: {msg.split(' (at')[0]}") from None
    problems = settings_schema.validate(settings, text, str(path))
    if problems:
        from .errors import RecipeError

        raise RecipeError(problems)
    return settings


def _error(path: Path, line: int, col: int, message: str, hint: str | None = None) -> Exception:
    from .errors import RecipeError
    from .span import Span

    return RecipeError.at(Span(str(path), line, col), message, hint)
