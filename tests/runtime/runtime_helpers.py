"""Helpers of the runtime tests (importable as `runtime_helpers`)."""

import subprocess


def plain_shell(argv, cwd=None, extra=None):
    """Run as from a plain shell with nothing set: only PATH (and what `extra` adds)."""
    return subprocess.run(argv, cwd=cwd, env={"PATH": "/usr/bin:/bin", **(extra or {})},
                          capture_output=True, text=True, timeout=60)
