"""grpcs:// with TLS and a bearer token, against a real BuildGrid serving TLS with a throwaway
self-signed certificate (made here with the openssl CLI) and checking HS256 JWT bearer tokens
itself (its `authorization: method: jwt`): the right CA and token build, a wrong CA or a missing
or forged token is one clear line and exit 34, and the token is never printed."""

import base64
import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import bgd_server
import pytest
from conftest import Workers
from helpers import run_jbuild, write_tree

REMOTE_ERROR = 34


def _self_signed(d: Path, name: str) -> tuple[Path, Path]:
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, cert


def _jwt(secret: str, claims: dict) -> str:
    """An HS256 JSON Web Token (RFC 7519): header.claims.signature, each base64url."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signed = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signed}.{b64(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest())}"


@pytest.fixture(scope="module")
def grid():
    why = bgd_server.missing() or (None if shutil.which("openssl") else "no openssl CLI")
    if why:
        pytest.skip(f"cannot start BuildGrid with TLS: {why}")
    d = Path(tempfile.mkdtemp(prefix="jbuild-bgd-tls-"))
    d.chmod(0o755)  # PostgreSQL runs as `nobody` under it
    secret = secrets.token_hex(32)
    (d / "jwt-secret").write_text(secret)
    server = bgd_server.Server(d / "server", tls=_self_signed(d, "server"), jwt_secret=d / "jwt-secret")
    server.ca, server.wrong_ca = d / "server.pem", _self_signed(d, "other")[1]
    server.token = _jwt(secret, {"sub": "ci", "exp": int(time.time()) + 3600})
    server.forged = _jwt("not-the-secret", {"sub": "ci", "exp": int(time.time()) + 3600})
    try:
        server.start(timeout=180)
        yield server
    finally:
        server.stop()
        shutil.rmtree(d, ignore_errors=True)


def _build(grid, ws: Path, store: Path, ca: Path, token: str | None):
    env = {"JBUILD_REMOTE_TOKEN": token or ""}
    return run_jbuild("build", "//:p", "--store", str(store), "--sandbox", "bwrap", "--remote-executor", grid.url,
                      "--remote-ca-cert", str(ca), "--print-out-paths", cwd=ws, env=env, timeout=120)


def _workspace(root: Path, marker: str) -> Path:
    script = f"mkdir -p $OUT; echo {marker} > $OUT/done"
    return write_tree(root, {"jbuild.toml": "", "BUILD": f'package p {{ version = "1" build = "{script}" }}\n'})


def _one_error_line(r) -> str:
    assert r.returncode == REMOTE_ERROR, r.stderr
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr  # nor gRPC's own log lines
    return lines[0]


def test_the_right_ca_and_token_build_and_the_token_is_never_printed(grid, tmp_path):
    workers = Workers(grid.url, tmp_path / "workers", env={"JBUILD_REMOTE_TOKEN": grid.token,
                                                           "JBUILD_REMOTE_CA_CERT": str(grid.ca)})
    workers.start(1)
    try:
        marker = uuid.uuid4().hex
        r = _build(grid, _workspace(tmp_path / "ws", marker), tmp_path / "s", grid.ca, grid.token)
        assert r.returncode == 0, r.stderr
        assert f"remote: 1 executed on {grid.url}" in r.stderr
        assert (Path(r.stdout.split()[-1]) / "done").read_text().strip() == marker
    finally:
        workers.stop()
    logs = r.stdout + r.stderr + (tmp_path / "workers" / "w0.log").read_text()
    assert grid.token not in logs and grid.token.split(".")[2] not in logs


def test_a_wrong_ca_is_one_clear_line_and_exit_34(grid, tmp_path):
    line = _one_error_line(_build(grid, _workspace(tmp_path / "ws", "x"), tmp_path / "s", grid.wrong_ca, grid.token))
    assert line.startswith(f"error: remote executor {grid.url}: UNAVAILABLE: ") and "CERTIFICATE_VERIFY_FAILED" in line


@pytest.mark.parametrize("which", ["none", "forged"])
def test_a_missing_or_forged_token_is_refused_by_the_server(grid, tmp_path, which):
    token = None if which == "none" else grid.forged
    line = _one_error_line(_build(grid, _workspace(tmp_path / "ws", "x"), tmp_path / "s", grid.ca, token))
    assert line.startswith(f"error: remote executor {grid.url}: UNAUTHENTICATED"), line


def test_a_worker_with_a_wrong_ca_stops_with_one_line(grid, tmp_path):
    r = run_jbuild("worker", "--server", grid.url, "--remote-ca-cert", str(grid.wrong_ca), "--workdir",
                   str(tmp_path), cwd=tmp_path, env={"JBUILD_REMOTE_TOKEN": grid.token}, timeout=60)
    _one_error_line(r)
