"""A real nginx (Debian's, with its WebDAV module) serving a shared cache from a temporary
directory: only `/(ac|cas)/<64 hex>` may be written, optionally behind basic auth."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from helpers import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONFIG = """
{user}
daemon off;
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/root;
        {auth}
        location ~ "^/(ac|cas)/[0-9a-f]{{64}}$" {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
        location / {{
            limit_except GET HEAD {{ deny all; }}
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, tmp: Path, credentials: tuple[str, str] | None = None, prefix: tuple[str, ...] = ()):
        """`prefix`: a command that runs nginx as another (ordinary) user, who owns `tmp`."""
        self.tmp = tmp
        self.root = tmp / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        auth = ""
        if credentials:
            (tmp / "htpasswd").write_text(f"{credentials[0]}:{{PLAIN}}{credentials[1]}\n")
            auth = f'auth_basic "cache"; auth_basic_user_file {tmp}/htpasswd;'
        self.prefix = list(prefix)
        user = "user root root;" if os.geteuid() == 0 and not prefix else ""
        (tmp / "nginx.conf").write_text(CONFIG.format(tmp=tmp, port=self.port, auth=auth, user=user))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        self.proc = subprocess.Popen([*self.prefix, NGINX, "-c", str(self.tmp / "nginx.conf"), "-p", str(self.tmp)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            self.proc.wait(10)
        self.proc = None

    def objects(self, kind: str) -> list[Path]:
        d = self.root / kind
        return sorted(d.iterdir()) if d.is_dir() else []


@pytest.fixture(name="nginx")
def nginx_fixture(tmp_path):
    """A started nginx serving an empty cache; stopped after the test."""
    server = Nginx(tmp_path / "nginx").start()
    yield server
    server.stop()
