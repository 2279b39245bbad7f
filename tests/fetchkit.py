"""What the fetch tests serve: a real HTTP server on 127.0.0.1 (Python's http.server in a
thread, counting the requests it answers), archives made here, and a git repository served
over git's dumb HTTP protocol by the same server."""

import hashlib
import io
import subprocess
import tarfile
import threading
import time
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Server:
    def __init__(self, root: Path, slow: float = 0.0):
        self.root, self.slow = root, slow
        self.requests: list[str] = []
        handler = partial(_Handler, self, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def hits(self, name: str) -> int:
        return sum(1 for r in self.requests if r.endswith("/" + name))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, server_obj: Server, *args, **kw):
        self.owner = server_obj
        super().__init__(*args, **kw)

    def do_GET(self):
        self.owner.requests.append(self.path)
        super().do_GET()

    def copyfile(self, source, outputfile):
        if not self.owner.slow:
            return super().copyfile(source, outputfile)
        while chunk := source.read(4096):  # a slow server: a download that can be killed midway
            outputfile.write(chunk)
            outputfile.flush()
            time.sleep(self.owner.slow)

    def log_message(self, *args):
        pass


@contextmanager
def serving(root: Path, slow: float = 0.0):
    server = Server(root, slow)
    server.thread.start()
    try:
        yield server
    finally:
        server.stop()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_tar(path: Path, files: dict[str, str], mode: str = "w:gz", top: str | None = "pkg-1.0",
             extra=()) -> Path:
    """A tarball of `files` under `top/` (as upstream tarballs are), plus raw TarInfo `extra`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}" if top else rel)
            info.size, info.mode, info.mtime = len(data), 0o755 if rel.endswith(".sh") else 0o644, 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return path


def make_git_repo(path: Path, files: dict[str, str]) -> str:
    """A repository with one commit of `files`, ready for the dumb HTTP protocol; its commit id."""
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "PATH": "/usr/bin:/bin", "HOME": str(path.parent)}
    path.mkdir(parents=True)
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "one"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return commit_and_serve(path, env)


def commit_and_serve(path: Path, env=None) -> str:
    subprocess.run(["git", "update-server-info"], cwd=path, check=True, env=env)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True,
                          text=True, env=env).stdout.strip()
