"""`jbuild fetch PATTERNS [--into DIR]`: download every archive and git commit the targets'
closure declares, without building, so a later `--offline` build (on this machine, or on an
air-gapped one given DIR as a mirror) finds them all."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from jbuild.dsl.model import Archive, Package

from . import FetchError
from .stage import Fetcher


@dataclass
class Fetched:
    label: str
    what: str  # the URL
    path: Path | None  # the cached archive (None for a git commit)
    error: str = ""


def prefetch(patterns: list[str], opts, cwd: str | None = None, into: Path | None = None,
             say=print) -> list[Fetched]:
    """Fetch what `patterns`' closure declares (every version of each family: a resolution may
    pick any); with `into`, also lay each archive out as a mirror directory there."""
    from jbuild.dsl.loader import Loader
    from jbuild.dsl.workspace import Workspace
    from jbuild.engine.settings import resolve

    from ..store import Store
    from . import git

    ws = Workspace.find(cwd)
    opts = resolve(ws, opts)
    loader = Loader(ws)
    loaded = loader.closure(loader.expand(patterns, cwd))
    fetcher = Fetcher(Path(opts.store) / ".downloads", opts.mirrors, bool(opts.offline), say)
    out: list[Fetched] = []
    # Shared, as a build holds it: gc (exclusive) must not sweep an archive between its download
    # (or cache hit) and its copy into the mirror.
    with Store(Path(opts.store)).shared():
        for family in loaded.targets.values():
            for target in family:
                out += _fetch_all(target, fetcher, into, git)
    return out


def _fetch_all(target, fetcher: Fetcher, into: Path | None, git) -> list[Fetched]:
    """Every fetched source of one target: an archive (and its mirror copy) or a git commit."""
    out: list[Fetched] = []
    for source in getattr(target.sources, "fetched", ()) if isinstance(target, Package) else ():
        label = target.display
        try:
            if isinstance(source, Archive):
                path = fetcher.archive(source.url, source.sha256)
                out.append(Fetched(label, source.url, path))
                if into is not None:
                    _mirror(path, source, into)
            else:
                git.ensure(fetcher.root, source.url, source.commit, fetcher.offline)
                out.append(Fetched(label, f"{source.url} {source.commit[:12]}", None))
        except FetchError as exc:
            out.append(Fetched(label, source.url, None, str(exc)))
    return out


def _mirror(path: Path, source: Archive, into: Path) -> None:
    """`into/sha256/HASH` and `into/NAME`: the layout [fetch] mirrors searches."""
    (into / "sha256").mkdir(parents=True, exist_ok=True)
    name = source.url.rstrip("/").rsplit("/", 1)[-1]
    for dest in (into / "sha256" / source.sha256, into / name):
        if dest.exists():
            continue
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(path, tmp)
        os.chmod(tmp, 0o444)
        os.replace(tmp, dest)
