"""Channels: a named record, in the shared cache, of the closures of some targets.

  /ac/<sha256("jbuild-channel:" + NAME)>   {"format", "channel", "targets": {TARGET: {"entries":
                                            {entry name: tree digest}, "published_by",
                                            "published_at", "promoted_from"}}, "digest"}
  /ac/<sha256("jbuild-channels")>          the names of every channel (for `channel list`)

nginx serves only the ac/cas paths, so names are hashed into keys. A record is verified on
every read: its own digest (sha256 of the rest, canonically encoded), its name, every entry
name's form, and — before anything is promoted or installed — that the cache holds each entry
with the recorded tree digest. A record that fails is refused, naming what failed; downloads
are then checked byte by byte (entries.py), so a lying cache can only make a command fail.
With a shared secret in JBUILD_CHANNEL_KEY, records are also signed (HMAC-SHA256 of their
digest) and a reader holding the key refuses an unsigned or wrongly signed one: then only a
holder of the key can publish or promote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import re
import time

from jbuild.base.errors import BadInput, Failed, RemoteUnavailable

from ..settings import Options
from .entries import RemoteCache, _meta_of, sha256_text, who
from .http import CacheDown
from .tree import Rejected

FORMAT = 1
KEY_VAR = "JBUILD_CHANNEL_KEY"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ENTRY = re.compile(r"[0-9a-f]{32}-[^/\s]+$")  # a store entry's name: never a path


class ChannelRefused(Failed):
    """A channel record that fails verification: never used."""


def channel_path(name: str) -> str:
    return f"/ac/{sha256_text('jbuild-channel:' + name)}"


INDEX = f"/ac/{sha256_text('jbuild-channels')}"


def _remote(opts: Options, cwd=None) -> RemoteCache:
    from jbuild.dsl.workspace import Workspace

    from .config import open_remote

    try:
        ws = Workspace.find(cwd)
    except Exception:  # noqa: BLE001 — channel commands work outside a workspace too
        ws = None
    remote = open_remote(ws, opts)
    if remote is None:
        raise BadInput("no remote cache: give --remote-cache URL or set [cache] url in jbuild.toml")
    remote.http.quiet = True  # (not "building locally without it": these commands need it, and say so)
    return remote


def _unusable(remote: RemoteCache, doing: str) -> RemoteUnavailable:
    """A channel command's one line for a cache that cannot be used (exit 34, as the remote executor's)."""
    why = remote.http.why or "it did not answer"
    return RemoteUnavailable(f"cannot {doing}: the remote cache {remote.http.display} is unusable ({why})")


def _check_name(name: str) -> str:
    if not NAME.match(name):
        raise BadInput(f"{name!r} is not a channel name (letters, digits, '.', '_', '-'; at most 64)")
    return name


def _signature(digest: str) -> str | None:
    key = os.environ.get(KEY_VAR)
    return hmac.new(key.encode(), digest.encode(), hashlib.sha256).hexdigest() if key else None


def _digest(rec: dict) -> str:
    body = {k: v for k, v in rec.items() if k not in ("digest", "signature")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read(remote: RemoteCache, name: str, missing_ok: bool = False) -> dict:
    """The verified record of channel `name`."""
    try:
        data = remote.http.get(channel_path(_check_name(name)))
    except CacheDown:
        raise _unusable(remote, f"read channel {name}") from None
    if data is None:
        if missing_ok:
            return {"format": FORMAT, "channel": name, "targets": {}}
        raise BadInput(f"no channel named {name} in {remote.http.display}; `jbuild publish TARGET --channel {name}`")
    try:
        rec = json.loads(data)
        ok = (isinstance(rec, dict) and rec.get("format") == FORMAT and isinstance(rec.get("targets"), dict))
    except ValueError:
        ok = False
    if not ok:
        raise ChannelRefused(f"channel {name}: its record is not a jbuild channel record; refusing it")
    if rec.get("digest") != _digest(rec) or rec.get("channel") != name:
        raise ChannelRefused(f"channel {name}: its record fails verification (its digest does not match its "
                             "contents: damaged or tampered with); refusing it")
    expected = _signature(rec["digest"])
    if expected is not None and not hmac.compare_digest(str(rec.get("signature")), expected):
        raise ChannelRefused(f"channel {name}: its record is not signed with the key in {KEY_VAR} "
                             "(unsigned, or signed by someone else); refusing it")
    for target, t in rec["targets"].items():
        entries = t.get("entries") if isinstance(t, dict) else None
        if not isinstance(entries, dict) or not all(ENTRY.match(e) and isinstance(d, str) for e, d in entries.items()):
            raise ChannelRefused(f"channel {name}: the record of {target} is malformed; refusing it")
    return rec


def write(remote: RemoteCache, rec: dict) -> None:
    rec = {**rec, "digest": ""}
    rec.pop("signature", None)
    rec["digest"] = _digest(rec)
    if (signature := _signature(rec["digest"])) is not None:
        rec["signature"] = signature
    body = json.dumps(rec, sort_keys=True, indent=1).encode()
    try:
        remote.http.put(channel_path(rec["channel"]), body, len(body))
        names = _index(remote)
        if rec["channel"] not in names:
            index = json.dumps(sorted([*names, rec["channel"]])).encode()
            remote.http.put(INDEX, index, len(index))
    except CacheDown:
        raise _unusable(remote, f"write channel {rec['channel']}") from None


def _index(remote: RemoteCache) -> list[str]:
    data = remote.http.get(INDEX)
    try:
        names = json.loads(data) if data else []
    except ValueError:
        names = []
    return [n for n in names if isinstance(n, str) and NAME.match(n)] if isinstance(names, list) else []


def verify_entries(remote: RemoteCache, channel: str, target: str, entries: dict[str, str]) -> None:
    """Every entry is in the cache, as the channel recorded it (its tree digest)."""
    for entry, digest in sorted(entries.items()):
        rec = remote.record(entry)
        if remote.http.down:
            raise _unusable(remote, f"verify channel {channel}")
        try:
            meta = _meta_of(rec or {}, entry) if rec is not None else None
        except Rejected as exc:
            raise ChannelRefused(f"channel {channel}: {target} needs {entry}, whose record is refused: {exc}") from None
        if meta is None:
            raise ChannelRefused(f"channel {channel}: {target} needs {entry}, which the cache does not hold")
        if meta.output_hash != digest:
            raise ChannelRefused(f"channel {channel}: {entry} has tree digest {meta.output_hash} in the cache, "
                                 f"the channel records {digest}; refusing it")


# ------------------------------------------------------------------ commands


def publish(targets: list[str], channel: str, opts: Options, cwd=None) -> list[tuple[str, int]]:
    """Build `targets`, upload every entry of their closures, record them under `channel`."""
    from ..build import plan, run
    from ..results import closure_entries

    remote = _remote(opts, cwd)
    try:
        read(remote, channel, missing_ok=True)  # an unusable cache (or a refused record) stops us before building
    except RemoteUnavailable:
        raise _unusable(remote, f"publish to channel {channel}") from None
    p = plan(targets, dataclasses.replace(opts, out_link=None), cwd)
    code, rb = run(p)
    if code != 0:
        raise Failed(f"the build failed; nothing was published to {channel}")
    rec = read(remote, channel, missing_ok=True)
    done = []
    for root in p.roots:
        names = closure_entries(p, rb, root)
        for name in names:
            if p.store.meta(name).sandbox == "fallback":
                raise BadInput(f"{name} was built in the fallback sandbox: such entries never leave the machine; "
                               "rebuild with --sandbox bwrap to publish")
            if not remote.upload(p.store, name, force=True):
                if remote.http.down:
                    raise _unusable(remote, f"publish to channel {channel}")
                raise Failed(f"cannot publish to {channel}: uploading {name} failed")
        target = str(root.label)
        rec["targets"][target] = {"entries": {n: p.store.meta(n).output_hash for n in names},
                                  "published_by": who(), "published_at": time.time(), "promoted_from": None}
        done.append((target, len(names)))
    write(remote, rec)
    return done


def promote(source: str, dest: str, targets: list[str], opts: Options, cwd=None) -> list[str]:
    remote = _remote(opts, cwd)
    src = read(remote, source)
    dst = read(remote, _check_name(dest), missing_ok=True)
    for target in targets:
        held = src["targets"].get(target)
        if held is None:
            raise BadInput(f"channel {source} does not hold {target} (it holds: {', '.join(src['targets']) or 'nothing'})")
        verify_entries(remote, source, target, held["entries"])
        dst["targets"][target] = {"entries": held["entries"], "published_by": who(), "published_at": time.time(),
                                  "promoted_from": source}
    write(remote, dst)
    return targets


def channels(opts: Options, cwd=None) -> list[tuple[str, list[str]]]:
    remote = _remote(opts, cwd)
    try:
        names = _index(remote)
    except CacheDown:
        raise _unusable(remote, "list channels") from None
    return [(n, sorted(read(remote, n)["targets"])) for n in names]


def show(name: str, opts: Options, cwd=None) -> list[tuple[str, dict]]:
    return sorted(read(_remote(opts, cwd), name)["targets"].items())


def install(channel: str, targets: list[str], store, opts: Options, cwd=None) -> None:
    """Download every entry `targets` hold in `channel` into `store`, each verified against the
    channel's tree digest (env create --channel). A target the channel lacks is refused."""
    remote = _remote(opts, cwd)
    rec = read(remote, channel)
    for target in targets:
        held = rec["targets"].get(target)
        if held is None:
            raise BadInput(f"channel {channel} does not hold {target} (it holds: {', '.join(rec['targets']) or 'nothing'})")
        verify_entries(remote, channel, target, held["entries"])
        for entry, digest in sorted(held["entries"].items()):
            if store.lookup(entry) and store.check(entry) and store.meta(entry).output_hash == digest:
                continue
            with store.key_lock(entry.split("-", 1)[0]):
                if not store.lookup(entry) and not remote.fetch(store, entry, want_output_hash=digest):
                    raise ChannelRefused(f"channel {channel}: {entry} could not be downloaded intact")
