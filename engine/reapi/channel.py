"""`grpc://HOST:PORT` or `grpcs://HOST:PORT` -> a gRPC channel (grpc is imported here, only
when remote execution is asked for, so jbuild's start-up does not pay for it).

grpcs:// is TLS: the server's certificate is checked against the system's roots, or against
the CA certificates of `--remote-ca-cert FILE` (JBUILD_REMOTE_CA_CERT). A bearer token from
JBUILD_REMOTE_TOKEN (or the file JBUILD_REMOTE_TOKEN_FILE names) is sent as the `authorization`
metadata of every call, over TLS only; it is never printed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from jbuild.base.errors import BadInput, RemoteUnavailable

PLATFORM = {"OSFamily": "linux", "ISA": "x86-64", "sandbox": "bwrap"}
MAX_MESSAGE = 64 * 1024 * 1024
TOKEN_VAR, TOKEN_FILE_VAR = "JBUILD_REMOTE_TOKEN", "JBUILD_REMOTE_TOKEN_FILE"
CA_VAR = "JBUILD_REMOTE_CA_CERT"


def target(url: str) -> tuple[str, bool]:
    """(HOST:PORT, whether TLS) of a grpc:// or grpcs:// URL; anything else is a bad command line."""
    parts = urlsplit(url)
    if parts.scheme not in ("grpc", "grpcs") or not parts.hostname or not parts.port or parts.path not in ("", "/"):
        raise BadInput(f"remote executor {url!r}: expected grpc://HOST:PORT or grpcs://HOST:PORT (TLS)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}", parts.scheme == "grpcs"


def open_channel(url: str, ca_cert: str | None = None):
    try:
        import grpc
    except ImportError:
        raise BadInput("remote execution needs grpcio and protobuf: pip install 'jbuild[remote]'") from None
    address, tls = target(url)
    options = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)]
    token = _token()
    if not tls:
        if token:
            print(f"warning: {TOKEN_VAR} is not sent over plain grpc:// (use grpcs://)", file=sys.stderr)
        return grpc.insecure_channel(address, options=options)
    credentials = grpc.ssl_channel_credentials(root_certificates=_roots(ca_cert))
    if token:
        credentials = grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))
    return grpc.secure_channel(address, credentials, options=options)


def check_server(channel, url: str, instance: str = "", attempts: int = 3) -> None:
    """Ask the server's Capabilities once before any work: an untrusted certificate, a refused
    token or a dead server is one clear error (RemoteUnavailable, exit 34), not a failure per action.
    A refused connection is asked again briefly (a server still starting)."""
    import time

    from .pb import remote_execution_pb2 as re_pb2
    from .pb import remote_execution_pb2_grpc as re_grpc

    stub = re_grpc.CapabilitiesStub(channel)
    for attempt in range(attempts):
        try:
            stub.GetCapabilities(re_pb2.GetCapabilitiesRequest(instance_name=instance), timeout=20)
            return
        except Exception as exc:
            code = getattr(exc, "code", lambda: None)()
            if code is None:
                raise
            details = " ".join((exc.details() or "").split())
            tls = any(word in details for word in ("SSL", "ssl", "certificate", "handshake"))
            if code.name != "UNAVAILABLE" or tls or attempt == attempts - 1:
                raise RemoteUnavailable(f"remote executor {url}: {code.name}: {details}{_hint(code.name, tls)}") from None
            time.sleep(1.0 * (attempt + 1))


def _hint(code: str, tls: bool) -> str:
    if tls:
        return f" (is the server's certificate signed by a CA of --remote-ca-cert / {CA_VAR}, or the system's?)"
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return f" (the server refused the token of {TOKEN_VAR} / {TOKEN_FILE_VAR}, or its absence)"
    return ""


def _roots(ca_cert: str | None) -> bytes | None:
    """The CA certificates to trust (PEM), or None: the system's."""
    ca_cert = ca_cert or os.environ.get(CA_VAR)
    if not ca_cert:
        return None
    try:
        data = Path(ca_cert).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read the CA certificate file {ca_cert}: {exc.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise BadInput(f"{ca_cert}: not a PEM certificate file")
    return data


def _token() -> str | None:
    token = os.environ.get(TOKEN_VAR)
    path = os.environ.get(TOKEN_FILE_VAR)
    if not token and path:
        try:
            token = Path(path).read_text().strip()
        except OSError as exc:
            raise BadInput(f"cannot read the token file {path} ({TOKEN_FILE_VAR}): {exc.strerror}") from None
    return token or None


def platform_properties(host_root=None):
    """OS, ISA and sandbox kind: BuildGrid matches an action only to a worker that offers them.
    With the action's host root (hostroot.HostRoot), also what the worker checks it against
    (hostmatch.py)."""
    import platform as host

    from .hostmatch import host_properties
    from .pb import remote_execution_pb2 as re_pb2

    props = dict(PLATFORM, ISA=host.machine().replace("_", "-"), **host_properties(host_root))
    return re_pb2.Platform(properties=[re_pb2.Platform.Property(name=k, value=v) for k, v in sorted(props.items())])
