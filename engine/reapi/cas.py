"""Content-addressed storage over REAPI: directory trees as Merkle `Directory` messages, blobs
moved by SHA-256 digest (FindMissingBlobs, then BatchUpdateBlobs or ByteStream for big ones).

Shared by the client (engine/reapi/executor.py) and the worker (engine/reapi/worker.py).
"""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from pathlib import Path

from .pb import bytestream_pb2, bytestream_pb2_grpc
from .pb import remote_execution_pb2 as re_pb2
from .pb import remote_execution_pb2_grpc as re_grpc

BATCH_LIMIT = 2 * 1024 * 1024  # under gRPC's default 4 MiB message size, with room for framing
CHUNK = 1024 * 1024
NOT_FOUND = 5  # google.rpc.Code of a blob the CAS does not have


def digest_of(data: bytes) -> re_pb2.Digest:
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def key(d: re_pb2.Digest) -> tuple[str, int]:
    return d.hash, d.size_bytes


class Blobs:
    """Blobs waiting for upload: digest -> bytes, or a file path (read when sent)."""

    def __init__(self):
        self.items: dict[tuple[str, int], bytes | Path] = {}

    def add_message(self, msg) -> re_pb2.Digest:
        data = msg.SerializeToString(deterministic=True)
        d = digest_of(data)
        self.items[key(d)] = data
        return d

    def add_bytes(self, data: bytes) -> re_pb2.Digest:
        d = digest_of(data)
        self.items[key(d)] = data
        return d

    def add_file(self, path: Path) -> re_pb2.Digest:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
        d = re_pb2.Digest(hash=h.hexdigest(), size_bytes=os.path.getsize(path))
        self.items[key(d)] = path
        return d

    def data(self, k: tuple[str, int]) -> bytes:
        item = self.items[k]
        return item if isinstance(item, bytes) else Path(item).read_bytes()


def directory_tree(root: Path, blobs: Blobs, collect: list | None = None, skip: str = "") -> re_pb2.Digest:
    """Add `root` (files, executables, symlinks, subdirectories) as Directory messages to
    `blobs` and return the root's digest. Names sorted, as the protocol requires. `collect`
    gets every Directory message, children first (an output Tree's); a top-level `skip` is left out.
    """
    msg = re_pb2.Directory()
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name == skip:
            continue
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            msg.symlinks.add(name=entry.name, target=os.readlink(entry.path))
        elif stat.S_ISDIR(st.st_mode):
            msg.directories.add(name=entry.name, digest=directory_tree(Path(entry.path), blobs, collect))
        elif stat.S_ISREG(st.st_mode):
            msg.files.add(name=entry.name, digest=blobs.add_file(Path(entry.path)),
                          is_executable=bool(st.st_mode & 0o111))
    if collect is not None:
        collect.append(msg)
    return blobs.add_message(msg)


def output_tree(root: Path, blobs: Blobs) -> re_pb2.Digest:
    """`root` as an REAPI Tree (the root Directory and all below it, in one message)."""
    collect: list = []
    directory_tree(root, blobs, collect)
    return blobs.add_message(re_pb2.Tree(root=collect[-1], children=collect[:-1]))


def join_tree(children: dict[str, re_pb2.Digest], blobs: Blobs, files: dict[str, bytes] | None = None) -> re_pb2.Digest:
    """A directory whose subdirectories are already-digested trees (and these small files)."""
    msg = re_pb2.Directory()
    for name in sorted(children):
        msg.directories.add(name=name, digest=children[name])
    for name in sorted(files or {}):
        msg.files.add(name=name, digest=blobs.add_bytes(files[name]))
    return blobs.add_message(msg)


class Cas:
    """One instance's CAS and ByteStream services."""

    def __init__(self, channel, instance: str = ""):
        self.instance = instance
        self.cas = re_grpc.ContentAddressableStorageStub(channel)
        self.bytestream = bytestream_pb2_grpc.ByteStreamStub(channel)

    def upload(self, blobs: Blobs) -> int:
        """Send what the server lacks; returns how many blobs were sent."""
        digests = [re_pb2.Digest(hash=h, size_bytes=n) for h, n in blobs.items]
        missing = []
        for i in range(0, len(digests), 5000):
            resp = self.cas.FindMissingBlobs(re_pb2.FindMissingBlobsRequest(
                instance_name=self.instance, blob_digests=digests[i:i + 5000]))
            missing += resp.missing_blob_digests
        batch, size = [], 0
        for d in missing:
            if d.size_bytes > BATCH_LIMIT:
                self._write(d, blobs.data(key(d)))
                continue
            if size + d.size_bytes > BATCH_LIMIT:
                self._batch(batch)
                batch, size = [], 0
            batch.append(re_pb2.BatchUpdateBlobsRequest.Request(digest=d, data=blobs.data(key(d))))
            size += d.size_bytes
        if batch:
            self._batch(batch)
        return len(missing)

    def _batch(self, requests) -> None:
        resp = self.cas.BatchUpdateBlobs(re_pb2.BatchUpdateBlobsRequest(instance_name=self.instance,
                                                                        requests=requests))
        bad = [r for r in resp.responses if r.status.code != 0]
        if bad:
            raise RemoteError(f"CAS refused {bad[0].digest.hash}: {bad[0].status.message}")

    def _write(self, d: re_pb2.Digest, data: bytes) -> None:
        prefix = f"{self.instance}/" if self.instance else ""
        name = f"{prefix}uploads/{uuid.uuid4()}/blobs/{d.hash}/{d.size_bytes}"

        def requests():
            for off in range(0, max(len(data), 1), CHUNK):
                chunk = data[off:off + CHUNK]
                yield bytestream_pb2.WriteRequest(resource_name=name if off == 0 else "", write_offset=off,
                                                  finish_write=off + len(chunk) >= len(data), data=chunk)

        self.bytestream.Write(requests())

    def fetch(self, digests: list[re_pb2.Digest]) -> dict[tuple[str, int], bytes]:
        """Download blobs, each checked against its digest."""
        out: dict[tuple[str, int], bytes] = {}
        small = [d for d in {key(d): d for d in digests}.values() if d.size_bytes <= BATCH_LIMIT]
        for d in digests:
            if d.size_bytes > BATCH_LIMIT and key(d) not in out:
                out[key(d)] = self._read(d)
        batch, size = [], 0
        for d in small + [None]:
            if d is None or size + d.size_bytes > BATCH_LIMIT:
                if batch:
                    resp = self.cas.BatchReadBlobs(re_pb2.BatchReadBlobsRequest(instance_name=self.instance,
                                                                                digests=batch))
                    for r in resp.responses:
                        if r.status.code == NOT_FOUND:
                            raise MissingBlob(f"CAS has no blob {r.digest.hash}: {r.status.message}")
                        if r.status.code != 0:
                            raise RemoteError(f"CAS has no blob {r.digest.hash}: {r.status.message}")
                        out[key(r.digest)] = r.data
                batch, size = [], 0
            if d is not None:
                batch.append(d)
                size += d.size_bytes
        for k, data in out.items():
            if hashlib.sha256(data).hexdigest() != k[0] or len(data) != k[1]:
                raise RemoteError(f"CAS blob {k[0]} does not match its digest")
        return out

    def _read(self, d: re_pb2.Digest) -> bytes:
        prefix = f"{self.instance}/" if self.instance else ""
        req = bytestream_pb2.ReadRequest(resource_name=f"{prefix}blobs/{d.hash}/{d.size_bytes}")
        try:
            return b"".join(r.data for r in self.bytestream.Read(req))
        except Exception as exc:  # grpc.RpcError
            if getattr(exc, "code", lambda: None)() is not None and exc.code().name == "NOT_FOUND":
                raise MissingBlob(f"CAS has no blob {d.hash}") from None
            raise

    def message(self, d: re_pb2.Digest, cls):
        msg = cls()
        msg.ParseFromString(self.fetch([d])[key(d)])
        return msg

    def materialise(self, root: re_pb2.Digest, dest: Path, known: dict | None = None) -> None:
        """Write the tree `root` under `dest` (created). `known` maps digests to Directory
        messages already at hand (an output Tree's children)."""
        known = dict(known or {})
        dirs: list[tuple[Path, re_pb2.Directory]] = []
        pending = [(dest, root)]
        while pending:  # fetch the Directory messages level by level, one batch each
            need = [d for _, d in pending if key(d) not in known]
            for k, data in (self.fetch(need) if need else {}).items():
                known[k] = re_pb2.Directory.FromString(data)
            level, pending = pending, []
            for path, d in level:
                msg = known[key(d)]
                dirs.append((path, msg))
                pending += [(path / sub.name, sub.digest) for sub in msg.directories]
        for _, msg in dirs:
            _check_names(msg)
        files = [f.digest for _, msg in dirs for f in msg.files]
        data = self.fetch(files) if files else {}
        for path, msg in dirs:  # parents first; each directory is new, so nothing here is a link yet
            path.mkdir(parents=path == dest, exist_ok=path == dest)
            for f in msg.files:
                fd = os.open(path / f.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o755 if f.is_executable else 0o644)
                with os.fdopen(fd, "wb") as out:
                    out.write(data[key(f.digest)])
                os.chmod(path / f.name, 0o755 if f.is_executable else 0o644)  # whatever the umask
            for s in msg.symlinks:
                os.symlink(s.target, path / s.name)


def _check_names(msg) -> None:
    """A Directory from the other side names only its own children, once each: a name such as
    `../x`, `/etc/x` or a link and a directory both called `a` would write outside the tree
    (a malicious server or worker; a client's input root on a worker)."""
    seen: set[str] = set()
    for entry in [*msg.files, *msg.directories, *msg.symlinks]:
        name = entry.name
        if not name or name in (".", "..") or "/" in name or "\0" in name or name in seen:
            raise RemoteError(f"the remote tree names an unsafe or repeated entry {name!r}")
        seen.add(name)


class RemoteError(Exception):
    """The remote side failed or answered something unusable."""


class MissingBlob(RemoteError):
    """The CAS lacks a blob a message named (evicted or deleted since). For an action-cache
    answer that is a miss: the action runs again (executor.py)."""
