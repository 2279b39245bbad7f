"""The bearer token is never printed, even when the server echoes it: a real gRPC server over
TLS (a throwaway certificate from the openssl CLI) refuses every call with the `authorization`
header it got in its message, as some proxies do; jbuild build and jbuild worker say the refusal
with the token replaced. A token no HTTP header can carry is a usage error naming the variable."""

import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from helpers import run_jbuild, write_tree

ECHO_SERVER = textwrap.dedent("""
    import sys, time
    from concurrent import futures
    import grpc
    from jbuild.engine.reapi.pb import remote_execution_pb2_grpc as re_grpc

    class Echo(re_grpc.CapabilitiesServicer):
        def GetCapabilities(self, request, context):
            sent = dict(context.invocation_metadata()).get("authorization", "none")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"invalid credentials: {sent}")

    server = grpc.server(futures.ThreadPoolExecutor(2))
    re_grpc.add_CapabilitiesServicer_to_server(Echo(), server)
    key, cert = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
    print(server.add_secure_port("localhost:0", grpc.ssl_server_credentials([(key, cert)])), flush=True)
    server.start()
    time.sleep(600)
""")


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI to make the server's certificate")
    d = tmp_path_factory.mktemp("echo")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    (d / "server.py").write_text(ECHO_SERVER)
    proc = subprocess.Popen([sys.executable, str(d / "server.py"), str(key), str(cert)], stdout=subprocess.PIPE,
                            text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"grpcs://localhost:{port}", cert
    finally:
        proc.kill()
        proc.wait()


def _ws(root: Path) -> Path:
    return write_tree(root, {"jbuild.toml": "", "BUILD": 'package p { version = "1" build = "mkdir -p $OUT" }\n'})


def test_a_token_the_server_echoes_is_not_printed_by_build_nor_worker(echo, tmp_path):
    url, cert = echo
    token = f"tok-{uuid.uuid4().hex}"
    env = {"JBUILD_REMOTE_TOKEN": token, "JBUILD_REMOTE_CA_CERT": str(cert)}
    started = time.monotonic()
    built = run_jbuild("build", "//:p", "--store", str(tmp_path / "s"), "--remote-executor", url,
                       cwd=_ws(tmp_path / "ws"), env=env, timeout=60)
    worker = run_jbuild("worker", "--server", url, "--workdir", str(tmp_path), cwd=tmp_path, env=env, timeout=60)
    assert time.monotonic() - started < 30  # refused at once, not retried
    for r in (built, worker):
        assert r.returncode == 34, r.stderr
        assert "invalid credentials: Bearer <JBUILD_REMOTE_TOKEN>" in r.stderr, r.stderr
        assert token not in r.stdout + r.stderr and token[4:] not in r.stderr


@pytest.mark.parametrize("how", ["env", "file"])
def test_a_token_no_header_can_carry_is_a_usage_error(echo, tmp_path, how):
    url, cert = echo
    token = "first-line\nsecond-line"
    (tmp_path / "token").write_text(token)
    env = {"JBUILD_REMOTE_TOKEN": token} if how == "env" else {"JBUILD_REMOTE_TOKEN_FILE": str(tmp_path / "token")}
    r = run_jbuild("build", "//:p", "--store", str(tmp_path / "s"), "--remote-executor", url, "--remote-ca-cert",
                   str(cert), cwd=_ws(tmp_path / "ws"), env=env, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "holds a character an HTTP header cannot carry" in r.stderr and "line" not in r.stderr.split("carry")[0]
    assert "first-line" not in r.stderr and "Traceback" not in r.stderr
