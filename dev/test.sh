#!/usr/bin/env bash
# Set up, then run the whole test suite. Exit code 5 (no tests collected) is a failure.
# The tests run on JBUILD_TEST_WORKERS pytest-xdist workers (default 2, this machine's cores: most
# of a test's time is spent waiting on the builds, sandboxes and servers it starts); each module's
# tests on one worker (--dist loadfile, and tests/conftest.py keeps tests/reapi/ together).
# JBUILD_TEST_WORKERS=0 runs them in this one process.
set -uo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh || exit 1
.venv/bin/python -m pytest tests -n "${JBUILD_TEST_WORKERS:-2}" --dist loadfile "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "test: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$rc"
