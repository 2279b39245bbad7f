"""The shared cache over HTTP (Bazel's layout, `/ac/<key>` and `/cas/<sha256>`) and channels.

`http.py` speaks to the server, `entries.py` moves store entries in and out of it (verifying
every byte that comes back), `channels.py` keeps named closures. The server is trusted for
nothing: what it returns is a hint checked against digests before it enters the store.
"""

from .config import RemoteConfig, open_remote

__all__ = ["RemoteConfig", "open_remote"]
