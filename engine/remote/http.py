"""A small HTTP client for a WebDAV-capable server: GET, HEAD, PUT of whole objects.

One connection per thread (http.client is not thread-safe), short timeouts, and one rule:
the first network failure disables the cache for the rest of the command with ONE warning, so
a dead or slow cache costs a few seconds and never fails a build. Credentials go in a header
and never into a message (`display` is the URL without them).
"""

from __future__ import annotations

import http.client
import socket
import sys
import threading
import urllib.parse
from collections.abc import Iterator

TIMEOUT = 3.0  # seconds per connect / read: a slow cache is a dead one


class CacheDown(Exception):
    """The cache did not answer (or refused us); the caller goes on without it."""


class HttpCache:
    def __init__(self, url: str, auth: str | None = None, timeout: float = TIMEOUT):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a remote cache URL must be http:// or https://HOST..., not {display_url(url)}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.display = display_url(url)
        self.auth = auth
        self.timeout = timeout
        self.down = False
        self.why = ""  # why it is down: the first failure's reason
        self.quiet = False  # no warning: a command that cannot go on without the cache says it itself
        self._local = threading.local()
        self._warn_lock = threading.Lock()

    # ------------------------------------------------------------ connections

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _request(self, method: str, path: str, body=None, headers=None) -> http.client.HTTPResponse:
        if self.down:
            raise CacheDown()
        hdrs = {"User-Agent": "jbuild", **(headers or {})}
        if self.auth:
            hdrs["Authorization"] = self.auth
        for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            try:
                conn = self._conn()
                conn.request(method, self.prefix + path, body=body, headers=hdrs)
                resp = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop()
                if attempt == 2:
                    self.fail(str(exc) or type(exc).__name__)
                continue
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                self.fail(_why(exc))
            if resp.status in (401, 403):
                resp.read()
                self.fail(f"{resp.status} {resp.reason}: check the credentials (JBUILD_CACHE_TOKEN or netrc)")
            return resp
        raise AssertionError("unreachable")

    def fail(self, why: str) -> None:
        """Disable the cache for this command, warning once, and raise CacheDown."""
        with self._warn_lock:
            if not self.down:
                self.down, self.why = True, why
                if not self.quiet:
                    print(f"warning: remote cache {self.display} is unusable ({why}); "
                          "building locally without it", file=sys.stderr)
        raise CacheDown()

    # ------------------------------------------------------------ operations

    def get(self, path: str, limit: int = 64 << 20) -> bytes | None:
        """The object's bytes, or None if the server has none. Small objects only (records)."""
        resp = self._request("GET", path)
        try:
            if resp.status == 404:
                resp.read()
                return None
            if resp.status != 200:
                resp.read()
                self.fail(f"GET answered {resp.status} {resp.reason}")
            return resp.read(limit)
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            self.fail(_why(exc))

    def stream(self, path: str) -> Iterator[bytes] | None:
        """The object's bytes in chunks (None if absent). The caller must exhaust it."""
        resp = self._request("GET", path)
        if resp.status == 404:
            resp.read()
            return None
        if resp.status != 200:
            resp.read()
            self.fail(f"GET answered {resp.status} {resp.reason}")
        return self._chunks(resp)

    def _chunks(self, resp) -> Iterator[bytes]:
        try:
            while chunk := resp.read(1 << 20):
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            self.fail(_why(exc))

    def has(self, path: str) -> bool:
        resp = self._request("HEAD", path)
        resp.read()
        return resp.status == 200

    def put(self, path: str, body, length: int) -> None:
        resp = self._request("PUT", path, body=body, headers={"Content-Length": str(length)})
        resp.read()
        if resp.status not in (200, 201, 204):
            self.fail(f"PUT answered {resp.status} {resp.reason}")


def display_url(url: str) -> str:
    """The URL as it may be shown: no user, no password."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _why(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
