"""A small real service for the runner's tests (run as a script, one process per service).

    fake_service.py NAME [--port P] [--record FILE] [--die-after S --code N] [--ignore-term]
                         [--child] [--lines N]

Prints its pid and what it was given (TINYDB_HOST/PORT, the discovery file), listens on P, and
on SIGTERM appends "stopped NAME" to FILE and exits 0. --child starts a grandchild (sleep) in
its process group, to check that the runner leaves nothing behind.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--port", type=int)
    ap.add_argument("--record")
    ap.add_argument("--die-after", type=float)
    ap.add_argument("--code", type=int, default=3)
    ap.add_argument("--ignore-term", action="store_true")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--lines", type=int, default=0)
    a = ap.parse_args()

    def on_term(signum, frame):
        if a.record:
            with open(a.record, "a") as f:
                f.write(f"stopped {a.name}\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if a.ignore_term else on_term)
    print(f"pid {os.getpid()}", flush=True)
    if a.child:
        print(f"child {subprocess.Popen(['sleep', '300']).pid}", flush=True)
    print(f"sees TINYDB_HOST={os.environ.get('TINYDB_HOST')} TINYDB_PORT={os.environ.get('TINYDB_PORT')}", flush=True)
    if os.environ.get("JBUILD_DISCOVERY"):
        with open(os.environ["JBUILD_DISCOVERY"]) as f:
            print("discovery " + f.read().replace("\n", " "), flush=True)
    for i in range(a.lines):
        print(f"line {i}", flush=True)
    if a.port:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", a.port))
        server.listen()
        print(f"listening on {a.port}", flush=True)
    if a.die_after is not None:
        time.sleep(a.die_after)
        print(f"dying with {a.code}", flush=True)
        return a.code
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
