"""`grpc://HOST:PORT` -> a gRPC channel (grpc is imported here, only when remote execution is
asked for, so jbuild's start-up does not pay for it)."""

from __future__ import annotations

from urllib.parse import urlsplit

from jbuild.base.errors import BadInput

PLATFORM = {"OSFamily": "linux", "ISA": "x86-64", "sandbox": "bwrap"}
MAX_MESSAGE = 64 * 1024 * 1024


def target(url: str) -> str:
    """HOST:PORT of a grpc:// URL; anything else is a bad command line."""
    parts = urlsplit(url)
    if parts.scheme != "grpc" or not parts.hostname or not parts.port or parts.path not in ("", "/"):
        raise BadInput(f"remote executor {url!r}: expected grpc://HOST:PORT (TLS is not supported yet)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}"


def open_channel(url: str):
    try:
        import grpc
    except ImportError:
        raise BadInput("remote execution needs grpcio and protobuf: pip install 'jbuild[remote]'") from None
    return grpc.insecure_channel(target(url), options=[("grpc.max_send_message_length", MAX_MESSAGE),
                                                       ("grpc.max_receive_message_length", MAX_MESSAGE)])


def platform_properties(host_root=None):
    """OS, ISA and sandbox kind: BuildGrid matches an action only to a worker that offers them.
    With the action's host root (hostroot.HostRoot), also what the worker checks it against
    (hostmatch.py)."""
    import platform as host

    from .hostmatch import host_properties
    from .pb import remote_execution_pb2 as re_pb2

    props = dict(PLATFORM, ISA=host.machine().replace("_", "-"), **host_properties(host_root))
    return re_pb2.Platform(properties=[re_pb2.Platform.Property(name=k, value=v) for k, v in sorted(props.items())])
