"""Exit codes, as Bazel's (README has the table)."""

SUCCESS = 0
BUILD_FAILED = 1
BAD_INPUT = 2  # bad command line or recipe
TESTS_FAILED = 3
NO_TESTS = 4  # also `jbuild build` when its patterns match nothing to build
INTERRUPTED = 8
LOCK_TIMEOUT = 9
REMOTE_ERROR = 34  # the remote executor, or a cache a channel command needs, cannot be used (unreachable, TLS, credentials)
INTERNAL_ERROR = 37

# Kinds of jbuild.base.errors.JbuildError -> exit code: the one place numbers meet errors.
BY_KIND = {"bad_input": BAD_INPUT, "build_failed": BUILD_FAILED, "lock_timeout": LOCK_TIMEOUT,
           "interrupted": INTERRUPTED, "tests_failed": TESTS_FAILED, "no_tests": NO_TESTS,
           "nothing_to_build": NO_TESTS,
           "remote_error": REMOTE_ERROR}
