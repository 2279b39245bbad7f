"""A throwaway BuildGrid (+ PostgreSQL) on 127.0.0.1, for the REAPI tests and bench.

BuildGrid runs as its own process from its own virtualenv (Python 3.13, PyPI `buildgrid`),
never imported into jbuild. Its SQL scheduler needs PostgreSQL: a private cluster is created
under a temporary directory and run as an unprivileged user (postgres refuses root).

    python dev/buildgrid.py setup        # create the BuildGrid virtualenv (dev/setup.sh calls it)
    python dev/buildgrid.py serve DIR    # start PostgreSQL + BuildGrid, print the URL, wait
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

VENV = Path(os.environ.get("JBUILD_BUILDGRID_VENV", Path.home() / ".cache/jbuild-test/buildgrid-venv"))
PYTHON = os.environ.get("JBUILD_BUILDGRID_PYTHON", str(Path.home() / ".pyenv/versions/3.13.0/bin/python"))
PG_BIN = Path(os.environ.get("JBUILD_PG_BIN") or max(glob.glob("/usr/lib/postgresql/*/bin"), default="/usr/lib/postgresql/bin"))
BUILDGRID_VERSION = "0.9.1"
INSTANCE = ""


def bgd() -> Path:
    return VENV / "bin/bgd"


def setup() -> None:
    """Create BuildGrid's own virtualenv (idempotent)."""
    if bgd().exists():
        return
    if not os.access(PYTHON, os.X_OK):
        print(f"warning: BuildGrid needs Python 3.13 at {PYTHON} (set JBUILD_BUILDGRID_PYTHON); "
              "the remote-execution tests will be skipped", file=sys.stderr)
        return
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([PYTHON, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin/pip"), "install", "-q", "--disable-pip-version-check",
                    f"buildgrid=={BUILDGRID_VERSION}"], check=True)


def missing() -> str | None:
    """Why a BuildGrid cannot be started here, or None."""
    if not bgd().exists():
        return f"no BuildGrid virtualenv at {VENV} (run dev/setup.sh)"
    if not (PG_BIN / "postgres").exists():
        return f"no PostgreSQL binaries in {PG_BIN} (run dev/setup.sh)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_user() -> tuple[str, int, int]:
    """postgres will not run as root: use `nobody` then."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name, os.geteuid(), os.getegid()
    pw = pwd.getpwnam("nobody")
    return pw.pw_name, pw.pw_uid, pw.pw_gid


def _as_pg_user(argv: list[str]) -> list[str]:
    return (["runuser", "-u", _pg_user()[0], "--"] if os.geteuid() == 0 else []) + argv


def _run(argv: list[str]) -> None:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")


class Server:
    """PostgreSQL + BuildGrid under `root`; `url` is grpc://127.0.0.1:PORT, or with `tls` (the
    server's PEM key and certificate files, for the name `localhost`) grpcs://localhost:PORT.
    `jwt_secret`: a file whose secret checks HS256 bearer tokens (BuildGrid's JWT authorization)."""

    def __init__(self, root: Path, tls: tuple[Path, Path] | None = None, jwt_secret: Path | None = None):
        self.root = Path(root)
        self.pg_port = free_port()
        self.port = free_port()
        self.tls, self.jwt_secret = tls, jwt_secret
        self.url = f"grpcs://localhost:{self.port}" if tls else f"grpc://127.0.0.1:{self.port}"
        self.bgd: subprocess.Popen | None = None
        self.pgdata = self.root / "pg"

    def start(self, timeout: float = 60.0) -> "Server":
        self._start_postgres()
        db = f"postgresql://{_pg_user()[0]}@127.0.0.1:{self.pg_port}/postgres"
        _run([str(bgd()), "migrate", "apply", db])
        config = self.root / "buildgrid.yml"
        channel = "insecure-mode: true" if not self.tls else TLS.format(key=self.tls[0], cert=self.tls[1])
        auth = "method: none" if not self.jwt_secret else JWT.format(secret=self.jwt_secret)
        config.write_text(CONFIG.format(port=self.port, db=db, cas=self.root / "cas", channel=channel, auth=auth))
        self.log = self.root / "bgd.log"
        with open(self.log, "wb") as log:
            self.bgd = subprocess.Popen([str(bgd()), "server", "start", str(config)], stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_port(self.port, timeout)
        return self

    def _start_postgres(self) -> None:
        _, uid, gid = _pg_user()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.pgdata.mkdir()
        os.chown(self.pgdata, uid, gid)
        _run(_as_pg_user([str(PG_BIN / "initdb"), "-D", str(self.pgdata), "-A", "trust", "-E", "UTF8", "--no-sync"]))
        _run(_as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-w", "-l",
                                    str(self.pgdata / "log"), "-o",
                                    f"-h 127.0.0.1 -p {self.pg_port} -k {self.pgdata} -F", "start"]))

    def _wait_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.bgd is not None and self.bgd.poll() is not None:
                raise RuntimeError(f"bgd exited ({self.bgd.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"bgd did not listen on {port} within {timeout}s")

    def stop(self) -> None:
        if self.bgd is not None and self.bgd.poll() is None:
            os.killpg(self.bgd.pid, 15)
            try:
                self.bgd.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.bgd.pid, 9)
                self.bgd.wait()
        if (self.pgdata / "postmaster.pid").exists():
            subprocess.run(_as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "immediate",
                                        "stop"]), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


TLS = """insecure-mode: false
    credentials:
      tls-server-key: {key}
      tls-server-cert: {cert}"""
JWT = """method: jwt
  secret: {secret}
  algorithm: hs256"""
CONFIG = """\
server:
  - !channel
    address: "127.0.0.1:{port}"
    {channel}
authorization:
  {auth}
connections:
  - !sql-connection &sql
    connection-string: {db}
    pool-size: 5
    max-overflow: 10
storages:
  - !disk-storage &cas
    path: {cas}
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: false
schedulers:
  - !sql-scheduler &scheduler
    sql: *sql
    storage: *cas
    action-cache: *ac
    bot-session-keepalive-timeout: 10
    session-expiry-timer-interval: 1
    poll-interval: 0.1
    bot-poll-interval: 0.1
    max-job-attempts: 5
    property-set: !dynamic-property-set
      match-property-keys: [OSFamily, ISA, sandbox]
      # any worker may take these; it checks them (engine/reapi/hostmatch.py)
      wildcard-property-keys: [jbuild-host-root, jbuild-host-packages, jbuild-host-alternatives]
    assigners:
      - !priority-age-assigner
        count: 1
        interval: 0.1
thread-pool-size: 64
maximum-concurrent-rpcs: 256
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !execution
        scheduler: *scheduler
      - !bots
        scheduler: *scheduler
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
"""


def main() -> None:
    if sys.argv[1:2] == ["setup"]:
        setup()
    elif sys.argv[1:2] == ["serve"]:
        import signal

        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop (and clean up) on SIGTERM too
        server = Server(Path(sys.argv[2])).start()
        print(server.url, flush=True)
        try:
            while server.bgd.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
