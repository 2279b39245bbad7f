"""The one error type of expected failures. Each carries a `kind`; the CLI's exit-code table
(jbuild/exitcodes.py) maps kinds to codes in one place, so no module names a number."""

from __future__ import annotations


class JbuildError(Exception):
    """An expected failure, said to the user as one message (never a traceback)."""

    kind = "bad_input"  # bad_input | build_failed | lock_timeout | interrupted | tests_failed | no_tests | remote_error


class BadInput(JbuildError):
    """A bad command line, recipe, setting or workspace: exit 2."""

    kind = "bad_input"


class Failed(JbuildError):
    """The work could not be done (a store on a full disk, a corrupt index from the future): exit 1."""

    kind = "build_failed"


class Interrupted(JbuildError):
    """Ctrl-C or SIGTERM stopped the work (already reported when the message is empty): exit 8."""

    kind = "interrupted"


class TestsFailed(JbuildError):
    """Everything built, and a test failed or timed out (`jbuild test`): exit 3."""

    kind = "tests_failed"


class NoTests(JbuildError):
    """`jbuild test` matched no test target: exit 4."""

    kind = "no_tests"


class RemoteUnavailable(JbuildError):
    """A remote execution server cannot be used: unreachable, its TLS certificate not trusted,
    the credentials refused (Bazel's "remote error"): exit 34."""

    kind = "remote_error"
