"""Labels (`//services:geotags`, `:libc`, `@std//host:cc`, `//db:postgresql@9.1.24`) and
target patterns (`//...`, `//services/...`, `//services:all`, `-//experimental/...`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from jbuild.base.slotted_pickle import speed_up

STD = "std"
_PKG = r"[A-Za-z0-9_\-.]+(?:/[A-Za-z0-9_\-.]+)*"
_NAME = r"[A-Za-z0-9_+\-]+"
LABEL_RE = re.compile(
    rf"(?:@(?P<repo>[A-Za-z0-9_]+))?//(?P<pkg>{_PKG})?(?::(?P<name>{_NAME}))?"
    rf"(?:@(?P<version>[0-9][0-9A-Za-z.+~\-]*))?\Z"
)
RELATIVE_RE = re.compile(rf":(?P<name>{_NAME})(?:@(?P<version>[0-9][0-9A-Za-z.+~\-]*))?\Z")
# `services:geotags`, `api/...`: a command-line label or pattern relative to the current directory
_CWD_RELATIVE_RE = re.compile(rf"(?P<pkg>{_PKG})(?P<tail>:.*|/\.\.\.(?::all|:\*)?)\Z")
FLAKE_HINT = "jbuild names a target //package:target (a BUILD file's directory, then its name), not flake#attribute"


class LabelError(ValueError):
    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


@dataclass(frozen=True, order=True, slots=True)
class Label:
    """A target: `repo` is '' for the workspace, 'std' for the shipped standard recipes."""

    repo: str
    package: str
    name: str

    def __str__(self) -> str:
        prefix = f"@{self.repo}" if self.repo else ""
        return f"{prefix}//{self.package}:{self.name}"

    def sibling(self, name: str) -> Label:
        return Label(self.repo, self.package, name)


@dataclass(frozen=True, slots=True)
class VersionedLabel:
    label: Label
    version: str | None  # `//db:postgresql@9.1.24` names one member of a family


def from_cwd(text: str, current_package: str) -> str:
    """A command-line label or pattern written relative to the current directory, made absolute as
    Bazel does: at the workspace root `services:geotags` is `//services:geotags`; in services/,
    `api:x` is `//services/api:x` and `api/...` is `//services/api/...`. Other text is returned
    as it is (`//x`, `:x`, `@std//x`, and what is no label at all). Recipes never take this form:
    a BUILD file writes `//pkg:name` or `:name`."""
    sign = "-" if text.startswith("-") else ""
    body = text[len(sign):]
    m = None if body.startswith(("//", "@", ":")) else _CWD_RELATIVE_RE.match(body)
    if m is None:
        return text
    pkg = f"{current_package}/{m['pkg']}" if current_package else m["pkg"]
    return f"{sign}//{pkg}{m['tail']}"


def parse_label(text: str, current_package: str = "", repo: str = "") -> VersionedLabel:
    """Parse a label; `:name` is relative to `current_package` (in `repo`)."""
    m = RELATIVE_RE.match(text)
    if m:
        return VersionedLabel(Label(repo, current_package, m["name"]), m["version"])
    m = LABEL_RE.match(text)
    if not m:
        hint = None
        if "#" in text:  # a Nix flake reference (`.#geotags`); the loader names the target if it finds one
            raise LabelError(f"'{text}' is not a label: {FLAKE_HINT}", "write '//PACKAGE:NAME', e.g. "
                             "'//services:geotags'; `jbuild query //...` lists every target")
        if text.startswith("/") and not text.startswith("//"):
            hint = f"labels start with '//': did you mean '/{text}'?"
        elif ":" not in text and text[:1].isalnum():
            package = f"{current_package}/{text}" if current_package else text
            hint = (f"did you mean ':{text}' (a target of this package) or '//{package}' (the package)?"
                    if "/" not in text else f"did you mean '//{package}'?")
        raise LabelError(f"'{text}' is not a label", hint)
    pkg = m["pkg"] or ""
    if pkg.endswith("/") or "//" in pkg or pkg.startswith("/"):
        raise LabelError(f"'{text}' is not a label: empty path component")
    if "." in pkg:
        _no_dot_components(text, pkg, f":{m['name']}" if m["name"] else "")
    name = m["name"] or (pkg.rsplit("/", 1)[-1] if pkg else "")
    if not name:
        raise LabelError(f"'{text}' names no target", "write '//pkg:name', or '//...' for all")
    return VersionedLabel(Label(m["repo"] or "", pkg, name), m["version"])


def _no_dot_components(text: str, pkg: str, tail: str, what: str = "a label") -> None:
    """A package path names its directory one way: `//services/../libs` would be a package of
    its own beside `//libs` (another label, another key, built again), as Bazel refuses it.
    `tail`: what follows the package (`:name`, `/...`, `:all`), for the did-you-mean."""
    if not {".", ".."} & set(pkg.split("/")):
        return
    import posixpath

    plain = posixpath.normpath(pkg)
    if plain == ".":
        plain, tail = "", tail.lstrip("/")
    hint = None if plain == ".." or plain.startswith("../") else f"did you mean '//{plain}{tail}'?"
    raise LabelError(f"'{text}' is not {what}: its package path has a '.' or '..' component", hint)


@dataclass(frozen=True, slots=True)
class Pattern:
    """`recursive`: `//pkg/...`; `all_in_package`: `//pkg:all`; else one label."""

    repo: str
    package: str
    name: str | None
    recursive: bool = False
    negative: bool = False

    def __str__(self) -> str:
        sign = "-" if self.negative else ""
        prefix = f"@{self.repo}" if self.repo else ""
        if self.recursive:
            return f"{sign}{prefix}//{self.package + '/' if self.package else ''}..."
        return f"{sign}{prefix}//{self.package}:{self.name or 'all'}"

    def matches(self, label: Label) -> bool:
        if label.repo != self.repo:
            return False
        if self.recursive:
            return not self.package or label.package == self.package or label.package.startswith(
                self.package + "/"
            )
        if self.name is None:
            return label.package == self.package
        return label.package == self.package and label.name == self.name


def parse_pattern(text: str, current_package: str = "") -> Pattern:
    negative = text.startswith("-")
    body = from_cwd(text[1:] if negative else text, current_package)
    if body.endswith(("//..", "/..")):
        raise LabelError(f"'{text}' is not a target pattern", f"did you mean '{body}.'?")
    m = re.fullmatch(rf"(?:@([A-Za-z0-9_]+))?//((?:{_PKG}/)?)\.\.\.(?::all)?", body)
    if m:
        _no_dot_components(text, m[2].rstrip("/"), "/...", "a target pattern")
        return Pattern(m[1] or "", m[2].rstrip("/"), None, True, negative)
    m = re.fullmatch(rf"(?:@([A-Za-z0-9_]+))?//({_PKG})?:(?:all|\*)", body)
    if m:
        _no_dot_components(text, m[2] or "", ":all", "a target pattern")
        return Pattern(m[1] or "", m[2] or "", None, False, negative)
    if body in (":all", ":*"):
        return Pattern("", current_package, None, False, negative)
    vl = parse_label(body, current_package)
    if vl.version:
        raise LabelError(f"'{text}': a pattern names targets, not versions")
    lab = vl.label
    return Pattern(lab.repo, lab.package, lab.name, False, negative)


speed_up(globals())  # pickled by the million (base/slotted_pickle.py)
