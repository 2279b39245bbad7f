"""What a command was asked to do, resolved once: command line > environment > jbuild.toml >
defaults (DESIGN §9). Every engine entry point takes an `Options` and calls `resolve`."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from jbuild.base.errors import BadInput
from jbuild.dsl.workspace import Workspace

from .ci import ci_requested


@dataclass(frozen=True)
class Options:
    jobs: int | None = None  # None: [build] jobs, else the core count
    keep_going: bool | None = None
    strict: bool | None = None
    strict_interfaces: bool = False
    verify_inputs: bool = False  # re-hash every reused entry, not only stat it
    sandbox: str = "auto"  # auto | bwrap | landlock | fallback | dry-run (a test seam)
    store: str | None = None
    build_events: str | None = None
    out_link: str | None = "result"
    link_limit: int | None = None  # result links only for a build of at most this many roots (None: any number)
    offline: bool | None = None  # None: JBUILD_OFFLINE, else [fetch] offline
    mirrors: tuple[str, ...] = ()  # [fetch] mirrors: absolute directories or URLs
    remote_cache: str | None = None  # None: JBUILD_REMOTE_CACHE, then [cache] url; "": none (engine/remote/)
    remote_upload: bool | None = None  # None: [cache] upload, else on
    prebuilt_only: bool = False  # refuse to build: every entry must come from the store (env --channel)
    channel: str | None = None  # env create/install: take the entries from this channel (engine/remote/channels.py)
    remote_executor: str | None = None  # grpc[s]://HOST:PORT of a Remote Execution API server (engine/reapi/)
    remote_instance: str = ""
    remote_ca_cert: str | None = None  # PEM CA certificates for a grpcs:// executor (None: the system's)


def out_link(opts: Options, roots: int) -> str | None:
    """The result links' name for a build of `roots` roots, or None: none (`--no-link`, or more
    roots than `link_limit`: `jbuild build //...` at 10,000 packages makes no 10,000 links and
    environments, as Bazel makes no per-target links; `--out-link NAME` asks for them)."""
    return opts.out_link if opts.link_limit is None or roots <= opts.link_limit else None


def store_path(ws: Workspace | None, opts: Options) -> Path:
    """Command line > JBUILD_STORE > jbuild.toml [store] path > the user's cache directory;
    created if needed. A path that cannot be a store is a bad command line."""
    configured = ws.setting("store", "path", None) if ws else None
    if opts.store:
        path = Path(opts.store).absolute()
    elif os.environ.get("JBUILD_STORE"):
        path = Path(os.environ["JBUILD_STORE"]).absolute()
    elif configured:
        path = (ws.root / configured).resolve()
    else:
        from .store_location import default_store

        path = default_store()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot use {path} as the store: {exc.strerror or exc}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"cannot use {path} as the store: " +
                       ("not a directory" if not path.is_dir() else "no permission to write there"))
    return path


def resolve(ws: Workspace, opts: Options) -> Options:
    """`opts` with every unset value filled in from the environment, jbuild.toml and defaults."""
    jobs = opts.jobs
    if jobs is None and os.environ.get("JBUILD_JOBS"):
        jobs = _int(os.environ["JBUILD_JOBS"], "JBUILD_JOBS")
    if jobs is None:
        jobs = ws.setting("build", "jobs", None) or os.cpu_count() or 2
    if jobs < 1:
        raise BadInput(f"-j/--jobs must be at least 1, not {jobs}")
    keep_going = opts.keep_going if opts.keep_going is not None else ws.setting("build", "keep_going", ci_requested())
    strict = opts.strict if opts.strict is not None else ws.setting("build", "strict", False)
    if opts.sandbox == "landlock" and opts.remote_executor:
        raise BadInput("--sandbox landlock runs locally only: remote workers build in bwrap (drop one of the two)")
    if opts.build_events:
        _check_writable(Path(opts.build_events), "--build-events")
    offline = opts.offline if opts.offline is not None else (
        os.environ.get("JBUILD_OFFLINE", "") not in ("", "0") or ws.setting("fetch", "offline", False))
    mirrors = tuple(m if "://" in m else str((ws.root / m).resolve()) for m in ws.setting("fetch", "mirrors", []))
    return replace(opts, jobs=jobs, keep_going=keep_going, strict=strict, store=str(store_path(ws, opts)),
                   offline=offline, mirrors=mirrors)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadInput(f"{what} must be a number, not {text!r}") from None


def _check_writable(path: Path, what: str) -> None:
    """Create the file (as the writer will) and remove it again: os.access says yes to root on
    /proc, a read-only bind mount or a full disk."""
    if path.is_dir() or not path.parent.is_dir():
        raise BadInput(f"{what} {path}: cannot write a file there")
    existed = path.exists()
    try:
        with open(path, "a"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        raise BadInput(f"{what} {path}: cannot write a file there ({exc.strerror})") from None
