"""Which cache a command uses, whether it uploads, and with what credentials.

URL: `--remote-cache` > JBUILD_REMOTE_CACHE > `[cache] url` (an empty string turns it off).
Upload: `--remote-upload/--no-remote-upload` > `[cache] upload` > on (a pull-request job passes
`--no-remote-upload` and reads only). Credentials, in order: JBUILD_CACHE_TOKEN (`user:password`
for basic auth, else a bearer token), the URL's own `user:password@`, the netrc file (NETRC or
~/.netrc) entry of the host. They only ever reach a request header.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from jbuild.base.errors import BadInput

TOKEN_VAR = "JBUILD_CACHE_TOKEN"
URL_VAR = "JBUILD_REMOTE_CACHE"


@dataclass(frozen=True)
class RemoteConfig:
    url: str
    upload: bool
    auth: str | None  # the Authorization header's value; never printed

    def __repr__(self) -> str:  # keep credentials out of tracebacks and debug prints
        from .http import display_url

        return f"RemoteConfig({display_url(self.url)!r}, upload={self.upload})"


def remote_config(ws, url: str | None, upload: bool | None) -> RemoteConfig | None:
    """The cache settings of a command in workspace `ws` (None: no cache)."""
    if url is None:
        url = os.environ.get(URL_VAR)
    if url is None and ws is not None:
        url = ws.setting("cache", "url", None)
    if not url:
        return None
    if upload is None:
        upload = ws.setting("cache", "upload", True) if ws is not None else True
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        from .http import display_url

        raise BadInput(f"the remote cache must be an http:// or https:// URL, not {display_url(url)!r}")
    return RemoteConfig(url, bool(upload), _auth(parts))


def _auth(parts: urllib.parse.SplitResult) -> str | None:
    token = os.environ.get(TOKEN_VAR)
    if token:
        return _basic(token) if ":" in token else f"Bearer {token}"
    if parts.username is not None:
        return _basic(f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}")
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if path.is_file():
        import netrc  # (with shlex: only where a remote cache is used, never on a local build's start)

        try:
            found = netrc.netrc(str(path)).authenticators(parts.hostname)
        except (netrc.NetrcParseError, OSError) as exc:
            raise BadInput(f"cannot read the netrc file {path}: {getattr(exc, 'msg', exc)}") from None
        if found:
            return _basic(f"{found[0]}:{found[2] or ''}")
    return None


def _basic(user_password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(user_password.encode()).decode()


def open_remote(ws, opts):
    """The RemoteCache a build uses (entries.py), or None when no cache is configured."""
    cfg = remote_config(ws, opts.remote_cache, opts.remote_upload)
    if cfg is None:
        return None
    from .entries import RemoteCache
    from .http import HttpCache

    return RemoteCache(HttpCache(cfg.url, cfg.auth), cfg.upload)
