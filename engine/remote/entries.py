"""Store entries in and out of the shared cache.

  /ac/<sha256("jbuild-entry:" + entry name)>   the action result: a JSON record holding the
                                               entry's metadata (EntryMeta), the sha256 of its
                                               tree listing and of its build log
  /cas/<sha256>                                file contents, the listing, the log

Upload puts every blob first and the record last, so a reader never finds a record whose
blobs are missing (unless someone deleted them: then it is a miss). Download treats the
record as a hint: every blob is checked against its sha256, the re-created tree against the
metadata's own tree digest, the output against the same checks a local build passes; only
then is it published through the store's normal path (sealed, fsynced, one rename).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from ..store import EntryMeta, Store
from ..store.entry import tree_digest
from .http import CacheDown, HttpCache
from .tree import Rejected, decode, encode, listing, sha256_file, write

RECORD_FORMAT = 1
FETCHERS = 8  # blobs downloaded at once (over all entries being fetched)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ac_path(entry_name: str) -> str:
    return f"/ac/{sha256_text('jbuild-entry:' + entry_name)}"


def cas_path(digest: str) -> str:
    return f"/cas/{digest}"


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


class RemoteCache:
    """What the rebuilder calls: `fetch` after a local miss, `upload` after a build."""

    def __init__(self, http: HttpCache, upload: bool):
        self.http = http
        self.upload_enabled = upload
        self._lock = threading.Lock()
        self.fetched: list[str] = []
        self.uploaded: list[str] = []
        self.bad: set[str] = set()  # blobs a download rejected: overwritten by the next upload
        self._pool = None

    def _fetchers(self):
        """One pool of download threads (each keeps its connection) for the whole command."""
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(FETCHERS, thread_name_prefix="jbuild-fetch")
            return self._pool

    # ------------------------------------------------------------ download

    def record(self, name: str) -> dict | None:
        """The AC record of `name` (unchecked JSON), or None on a miss or a dead cache."""
        try:
            data = self.http.get(ac_path(name))
        except CacheDown:
            return None
        if data is None:
            return None
        try:
            rec = json.loads(data)
            return rec if isinstance(rec, dict) else {}
        except ValueError:
            return {}

    def fetch(self, store: Store, name: str, want_output_hash: str | None = None) -> bool:
        """Download entry `name` into `store` if the cache has a sound copy (True). A damaged
        or lying one is rejected with a warning (False: build it locally). Call under the key's
        lock. `want_output_hash` also pins the tree's digest (a channel's)."""
        rec = self.record(name)
        if rec is None:
            return False
        try:
            meta = _meta_of(rec, name)
            if want_output_hash is not None and meta.output_hash != want_output_hash:
                raise Rejected(f"its tree digest is {meta.output_hash}, the channel says {want_output_hash}")
            with store.temporary() as tmp:
                self._download(meta, rec, store, tmp.out)
                store.publish(tmp.out, meta.replace(log=f"logs/{meta.key}.log"))
            self._fetch_log(rec, store, meta.key)
        except CacheDown:
            return False
        except Rejected as exc:
            print(f"warning: remote cache: rejected {name}: {exc}; building it locally", file=sys.stderr)
            return False
        with self._lock:
            self.fetched.append(name)
        return True

    def _download(self, meta: EntryMeta, rec: dict, store: Store, out: Path) -> None:
        from ..outputs import OutputError, check_output

        items = decode(self._blob(rec.get("tree", "")))
        write(items, out, self._fetch_into, self._fetchers())
        try:
            notes = check_output(out, [str(store.root.resolve())])
        except OutputError as exc:
            raise Rejected(f"its output fails the checks a local build passes: {exc}") from None
        digest, _ = tree_digest(out)
        if notes or digest != meta.output_hash:
            raise Rejected("its files do not add up to the entry's tree digest")

    def _blob(self, digest: str) -> bytes:
        if not isinstance(digest, str) or len(digest) != 64:
            raise Rejected("its record names no valid blob")
        data = self.http.get(cas_path(digest))
        if data is None:
            raise Rejected(f"blob {digest} is missing from the cache")
        if hashlib.sha256(data).hexdigest() != digest:
            self.bad.add(digest)
            raise Rejected(f"blob {digest} does not match its digest (poisoned or truncated)")
        return data

    def _fetch_into(self, digest: str, fd: int) -> None:
        chunks = self.http.stream(cas_path(digest))
        if chunks is None:
            raise Rejected(f"blob {digest} is missing from the cache")
        h = hashlib.sha256()
        for chunk in chunks:
            h.update(chunk)
            os.write(fd, chunk)
        if h.hexdigest() != digest:
            self.bad.add(digest)
            raise Rejected(f"blob {digest} does not match its digest (poisoned or truncated)")

    def _fetch_log(self, rec: dict, store: Store, key: str) -> None:
        digest = rec.get("log")
        if not digest:
            return
        try:
            data = self._blob(digest)
        except (Rejected, CacheDown):
            return  # the log is a courtesy; the entry stands without it
        path = store.log_path(key)
        tmp = path.with_name(path.name + f".{os.getpid()}.new")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    # ------------------------------------------------------------ upload

    def upload(self, store: Store, name: str, force: bool = False) -> bool:
        """Push entry `name` (blobs first, the record last) when uploads are on. Entries built
        in the fallback sandbox never leave the machine. False if not uploaded."""
        if not (self.upload_enabled or force) or self.http.down:
            return False
        meta = store.meta(name)
        if meta.sandbox == "fallback":
            return False
        entry = store.path(name)
        try:
            items = listing(entry)
            for rel, kind, digest in items:
                if kind in "fx":
                    self._put_file(entry / rel, digest)
            tree = encode(items)
            tree_sha = hashlib.sha256(tree).hexdigest()
            self._put_bytes(tree, tree_sha)
            log_sha = None
            if meta.log and (store.root / meta.log).is_file():
                log_sha = sha256_file(str(store.root / meta.log))
                self._put_file(store.root / meta.log, log_sha)
            rec = {"format": RECORD_FORMAT, "name": name, "meta": json.loads(meta.to_json()), "tree": tree_sha,
                   "log": log_sha, "uploaded_by": who(), "uploaded_at": time.time()}
            body = json.dumps(rec, sort_keys=True).encode()
            self.http.put(ac_path(name), body, len(body))
        except CacheDown:
            return False
        with self._lock:
            self.uploaded.append(name)
        return True

    def _put_file(self, path: Path, digest: str) -> None:
        if digest not in self.bad and self.http.has(cas_path(digest)):
            return
        with open(path, "rb") as f:
            self.http.put(cas_path(digest), f, os.fstat(f.fileno()).st_size)

    def _put_bytes(self, data: bytes, digest: str) -> None:
        if not self.http.has(cas_path(digest)):
            self.http.put(cas_path(digest), data, len(data))


def _meta_of(rec: dict, name: str) -> EntryMeta:
    """The record's metadata, if it is a record of `name` that may enter a store."""
    if rec.get("format") != RECORD_FORMAT or rec.get("name") != name or not isinstance(rec.get("meta"), dict):
        raise Rejected("its action record is not a jbuild record of this entry")
    try:
        meta = EntryMeta.from_json(json.dumps(rec["meta"]))
    except (TypeError, ValueError):
        raise Rejected("its action record holds unreadable metadata") from None
    if meta.name != name or not name.startswith(meta.key + "-") or not meta.output_hash:
        raise Rejected("its metadata names another entry")
    if meta.sandbox == "fallback":
        raise Rejected("it was built in the fallback sandbox")
    return meta
