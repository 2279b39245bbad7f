"""What a CI job needs from jbuild's output: which profile is on, and GitHub Actions' workflow
commands (`::error file=…,line=…,col=…::message`, `::group::`/`::endgroup::`).

GitHub parses those commands out of the job's log, so their text must be escaped as its runner
escapes it: in the message `%`, CR and LF; in a property value also `:` and `,` (else
`file=a,b.c` would end the property at the comma). docs/ci.md shows what a job gets.
"""

from __future__ import annotations

import os

TRUE = ("1", "true", "yes", "on")


def ci_requested() -> bool:
    """`CI=true` (what GitHub Actions, GitLab CI and most others set)."""
    return os.environ.get("CI", "").strip().lower() in TRUE


def plain_output(stream) -> bool:
    """The CI profile's output: plain lines and a heartbeat, no status line. On for CI=true or
    when the output is not a terminal."""
    return ci_requested() or not _isatty(stream)


def github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS", "").strip().lower() == "true"


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(message: str, file: str | None = None, line: int | None = None, col: int | None = None,
               title: str | None = None, level: str = "error") -> str:
    """One workflow command line, e.g. `::error file=services/BUILD,line=3,col=5::text`."""
    props = []
    if file:
        props.append(f"file={escape_property(_repo_relative(file))}")
    if file and line:
        props.append(f"line={int(line)}")
    if file and line and col:
        props.append(f"col={int(col)}")
    if title:
        props.append(f"title={escape_property(title)}")
    return f"::{level}{' ' + ','.join(props) if props else ''}::{escape_data(message)}"


def group(title: str, body: str) -> str:
    """`body` folded under `title` in GitHub's log view (the lines inside are not escaped: a
    line of the body that looks like a workflow command is stopped by `::stop-commands::`)."""
    token = "jbuild-" + os.urandom(8).hex()
    return "\n".join([f"::group::{escape_data(title)}", f"::stop-commands::{token}", body.rstrip("\n"),
                      f"::{token}::", "::endgroup::"])


def _repo_relative(path: str) -> str:
    """GitHub resolves annotation paths against the checkout ($GITHUB_WORKSPACE)."""
    base = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    full = os.path.abspath(path)
    rel = os.path.relpath(full, base)
    return path if rel.startswith("..") else rel
