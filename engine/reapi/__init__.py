"""Remote execution over the Remote Execution API (REAPI v2) and the Remote Workers API: the
--remote-executor client (executor.py), the `jbuild worker` bot (worker.py), their CAS transfers
(cas.py). grpc and the generated protocol modules (pb/, from protos/) are imported only here,
only when remote execution is asked for. docs/remote.md."""

import os

# Before grpc is first imported (by any module here): gRPC's C core would print its own copy of
# a failed TLS handshake, and jbuild says it once, as its error.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")


def summary(url: str, executed: int, cached: int) -> str:
    """The line (on stderr) that ends a run with --remote-executor; also a no-op `jbuild test`'s,
    which asks the server nothing (engine/testing/unchanged.py)."""
    return f"remote: {executed} executed on {url}, {cached} from its action cache"
