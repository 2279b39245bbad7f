"""The syntax tree: what a BUILD file says, before the schema gives it meaning.

Frozen dataclasses with spans; fields are read by name. schema.py and lowering.py turn a
`Block` into a typed `Package` or `Test` (model.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from jbuild.base.slotted_pickle import speed_up

from .span import Span


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span
    raw: str = field(default="", compare=False)  # as written, quotes included: spans inside it


@dataclass(frozen=True, slots=True)
class Int:
    value: int
    span: Span


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Word:
    """A bare word: a flavour value (`on`), a type name (`int`)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class MapExpr:
    pairs: tuple[tuple[str, Expr], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Ref:
    """`config.port`."""

    parts: tuple[str, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Concat:
    left: Expr
    right: Expr
    span: Span
    length: int = 2  # how many terms the chain ending here joins (bounded by the parser)


@dataclass(frozen=True, slots=True)
class RequirementExpr:
    """`//db:postgresql[ssl=on] >= 9.1 < 10 when tls == on`."""

    label: str
    selection: tuple[tuple[str, str], ...]
    constraints: tuple[tuple[str, str], ...]
    condition: tuple[str, str, str] | None
    span: Span


Expr = Union[Str, Int, Bool, Word, ListExpr, MapExpr, Call, Ref, Concat, RequirementExpr]


@dataclass(frozen=True, slots=True)
class Attr:
    name: str
    value: Expr
    span: Span  # of the name


@dataclass(frozen=True, slots=True)
class FlavourDecl:
    """`ssl = [on, off] default on`."""

    name: str
    values: ListExpr
    default: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class ConfigFieldDecl:
    """`port: int = 5432`."""

    name: str
    type: Word
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class SettingDecl:
    """`//db:mongodb.port = 22333` (in `settings`) or `@std//host:cc.include = [...]`."""

    label: str
    key: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Block:
    kind: str
    name: str | None
    members: tuple[Member, ...]
    span: Span  # of the kind word
    name_span: Span | None = None


Member = Union[Attr, FlavourDecl, ConfigFieldDecl, SettingDecl, Block]


@dataclass(frozen=True, slots=True)
class Param:
    """`configure_flags = []` in a template's signature (no default: a required argument).
    `choices` is set for `kind = ["shared", "static"] default "shared"`: an argument must be one
    of them, checked when the call is expanded rather than when its script fails."""

    name: str
    default: Expr | None
    span: Span
    choices: ListExpr | None = None


@dataclass(frozen=True, slots=True)
class TemplateDef:
    """`template autotools(sources, version, ...) { members }`: members refer to `args.NAME`."""

    name: str
    params: tuple[Param, ...]
    members: tuple[Member, ...]
    span: Span  # of the name


@dataclass(frozen=True, slots=True)
class Argument:
    """One argument of a template call: `name = value`, or positional (name None)."""

    name: str | None
    value: Expr
    span: Span  # of the name, else of the value


@dataclass(frozen=True, slots=True)
class Instance:
    """`package zlib = autotools(...) { members }`: a package made from a template."""

    kind: str
    name: str
    template: str  # a name (`autotools`) or a label (`//tools:lib`)
    args: tuple[Argument, ...]
    members: tuple[Member, ...]  # the optional `{ ... }` after the call
    span: Span  # of the kind word
    name_span: Span
    call_span: Span  # of the template's name


@dataclass(frozen=True, slots=True)
class File:
    path: str
    blocks: tuple[Block | Instance, ...]  # Instances until templates.expand_file
    templates: tuple[TemplateDef, ...] = ()


speed_up(globals())  # pickled by the million (base/slotted_pickle.py)
