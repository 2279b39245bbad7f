"""The typed model the engine consumes: Package, Test and what they hold.

Frozen dataclasses with spans; produced from the syntax tree by lowering.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Union

from jbuild.base.slotted_pickle import speed_up

from .labels import Label
from .span import Span
from .versions import Constraint, Version


class RequirementKind(str, Enum):
    """Which keys and closures a requirement enters (DESIGN §2)."""

    BUILD_AND_RUN = "requires"  # a library: interface key -> build key; enters environments
    BUILD_ONLY = "build_requires"  # a compiler: build key of its run closure -> build key
    RUN_ONLY = "run_requires"  # a database a service talks to: environments only

    @property
    def at_build(self) -> bool:
        return self is not RequirementKind.RUN_ONLY

    @property
    def at_run(self) -> bool:
        return self is not RequirementKind.BUILD_ONLY


@dataclass(frozen=True, slots=True)
class Condition:
    """`when ssl == on`: the requirement applies only under that flavour value."""

    flavour: str
    op: str  # '==' or '!='
    value: str

    def holds(self, flavours: dict[str, str]) -> bool:
        return (flavours.get(self.flavour) == self.value) == (self.op == "==")

    def __str__(self) -> str:
        return f"when {self.flavour} {self.op} {self.value}"


@dataclass(frozen=True, slots=True)
class Requirement:
    label: Label
    kind: RequirementKind
    constraint: Constraint = Constraint()
    flavours: tuple[tuple[str, str], ...] = ()  # `[ssl=on]`
    condition: Condition | None = None
    version: str | None = None  # `//db:postgresql@9.1.24` pins one member
    span: Span | None = field(default=None, compare=False)

    def __str__(self) -> str:
        sel = "[" + ",".join(f"{k}={v}" for k, v in self.flavours) + "]" if self.flavours else ""
        con = f" {self.constraint}" if self.constraint.terms else ""
        cond = f" {self.condition}" if self.condition else ""
        return f"{self.label}{sel}{con}{cond}"


@dataclass(frozen=True, slots=True)
class Flavour:
    name: str
    values: tuple[str, ...]
    default: str
    span: Span | None = field(default=None, compare=False)


def flavour_environment(selection) -> dict[str, str]:
    """What a build script sees of its flavours: `JBUILD_FLAVOUR_<NAME>=value` for each
    (name, value) selected, the name upper-cased with '-' as '_' (docs/language.md)."""
    return {"JBUILD_FLAVOUR_" + name.upper().replace("-", "_"): value for name, value in selection}


@dataclass(frozen=True, slots=True)
class ConfigRef:
    """`config.port` inside a service description."""

    key: str

    def __str__(self) -> str:
        return f"config.{self.key}"


Value = Union[str, int, bool, ConfigRef, tuple, "FrozenMap"]


@dataclass(frozen=True, slots=True)
class FrozenMap:
    items: tuple[tuple[str, Value], ...]

    def get(self, key: str, default=None):
        return dict(self.items).get(key, default)


@dataclass(frozen=True, slots=True)
class ConfigField:
    name: str
    type: str  # int | string | bool | list
    default: Value | None
    span: Span | None = field(default=None, compare=False)

    def accepts(self, value) -> bool:
        return type_ok(self.type, value)


def type_ok(typ: str, value) -> bool:
    """Whether `value` is of config type `typ` (schema.CONFIG_TYPES)."""
    return {"int": isinstance(value, int) and not isinstance(value, bool), "string": isinstance(value, str),
            "bool": isinstance(value, bool), "list": isinstance(value, tuple)}[typ]


def type_name(value) -> str:
    """`an int`, `a string`: for messages about a value of the wrong type."""
    return {bool: "a bool", int: "an int", str: "a string", tuple: "a list",
            ConfigRef: "a config reference"}.get(type(value), "a map")


@dataclass(frozen=True, slots=True)
class Template:
    """`etc = { "tinydb.conf" = "port = ${config.port}" }`: one file of an environment's etc/,
    rendered from the package's config when the environment is assembled."""

    path: str  # relative to etc/
    text: str
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Setting:
    """`settings { //db:mongodb.port = 22333 }`: set another package's config."""

    target: Label
    key: str
    value: Value
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Contribution:
    """`contribute { @std//host:cc.include_dirs = ["include"] }`: fill another's slot."""

    target: Label
    slot: str
    paths: tuple[str, ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Archive:
    """`archive(url = ..., sha256 = ..., strip = 1)`: a tarball or zip unpacked into $SRC.
    Its content hash (never its URL) enters the source hash."""

    url: str
    sha256: str  # 64 lower-case hex digits
    strip: int = 0  # leading path components dropped from every member
    span: Span | None = field(default=None, compare=False)

    kind = "archive"


@dataclass(frozen=True, slots=True)
class GitSource:
    """`git(url = ..., commit = ...)`: one commit of a repository, exported into $SRC. Its commit
    id (never its URL) enters the source hash."""

    url: str
    commit: str  # a full commit id: 40 (SHA-1) or 64 (SHA-256) hex digits
    span: Span | None = field(default=None, compare=False)

    kind = "git"


Fetched = Union[Archive, GitSource]


@dataclass(frozen=True, slots=True)
class FileSet:
    """Declared input files: explicit paths and globs, relative to the BUILD file, and sources
    fetched from elsewhere (unpacked into $SRC before the files are staged over them)."""

    paths: tuple[str, ...] = ()
    globs: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()  # (include, exclude)
    span: Span | None = field(default=None, compare=False)
    fetched: tuple[Fetched, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.paths or self.globs or self.fetched)


# The outputs a package may split its $OUT into (`outputs = { dev = ["include"], ... }`). Who
# sees which is the engine's business (engine/split.py): builds against a library see dev and
# lib, environments and images take bin and lib, doc goes nowhere but its own entry.
OUTPUT_NAMES = ("bin", "lib", "dev", "doc")


@dataclass(frozen=True, slots=True)
class Output:
    """One declared output: its name and the paths of $OUT it takes (a directory takes all
    below it; `*` matches within a name, `**` across directories)."""

    name: str
    paths: tuple[str, ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    size: str
    mount: str


@dataclass(frozen=True, slots=True)
class Service:
    command: str
    ports: tuple[Value, ...] = ()
    env: tuple[tuple[str, Value], ...] = ()
    volumes: tuple[Volume, ...] = ()
    requires: tuple[Requirement, ...] = ()
    health: str | None = None
    resources: tuple[tuple[str, Value], ...] = ()  # requests of a deployment's container (cpu, memory)
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class HostTool:
    """A tool the host provides: the boundary of hermeticity (docs/keys.md)."""

    binaries: tuple[str, ...]
    version_command: str
    version_regex: str = r"([0-9]+(?:\.[0-9]+)+[0-9A-Za-z.+~\-]*)"
    debian_packages: tuple[str, ...] = ()  # () means: the dpkg owners of the binaries


@dataclass(frozen=True, slots=True)
class Package:
    label: Label
    version: Version | None  # None until detected, for a host tool
    span: Span = field(compare=False)
    summary: str = ""
    flavours: tuple[Flavour, ...] = ()
    sources: FileSet = FileSet()
    interface: FileSet = FileSet()
    requires: tuple[Requirement, ...] = ()  # all three kinds, in written order
    build: str | None = None
    exports: tuple[str, ...] = ()
    outputs: tuple[Output, ...] = ()  # () : one entry holding all of $OUT, as before outputs existed
    config: tuple[ConfigField, ...] = ()
    settings: tuple[Setting, ...] = ()
    slots: tuple[str, ...] = ()
    etc: tuple[Template, ...] = ()
    contributions: tuple[Contribution, ...] = ()
    service: Service | None = None
    tags: tuple[str, ...] = ()
    host_tool: HostTool | None = None
    files: tuple[str, ...] = ()  # sources expanded by the loader, sorted
    interface_files: tuple[str, ...] = ()
    patches: FileSet = FileSet()  # paths applied to $SRC in this order before the build (also in files)
    patch_strip: int = 1  # patch -pN

    kind = "package"

    def flavour(self, name: str) -> Flavour | None:
        return next((f for f in self.flavours if f.name == name), None)

    @property
    def display(self) -> str:
        return f"{self.label}@{self.version}" if self.version else str(self.label)


@dataclass(frozen=True, slots=True)
class Test:
    label: Label
    span: Span = field(compare=False)
    command: str = ""
    summary: str = ""
    sources: FileSet = FileSet()
    requires: tuple[Requirement, ...] = ()
    tags: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    kind = "test"
    version = None
    flavours: tuple = ()

    @property
    def display(self) -> str:
        return str(self.label)


Target = Union[Package, Test]


speed_up(globals())  # pickled by the million (base/slotted_pickle.py)
