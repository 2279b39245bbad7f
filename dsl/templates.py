"""Recipe templates: `template NAME(params) { body }` and `package x = NAME(args) { more }`.

A call is expanded here, on the syntax tree, into an ordinary `package` block before lowering:
the body's `args.NAME` values are replaced by the call's argument expressions (which keep the
user's spans, so a bad argument is reported at the user's line), and `${args.NAME}` inside the
body's strings by the argument's text. Every other node of the body keeps its span in the
template's file with `via` set to the call: an error there is reported at the call, with the
template's line shown as a note (errors.py). Only the expansion reaches lowering, so only the
expansion enters keys: two spellings with one expansion have one key.

Where a name is looked up: the templates of the same BUILD file, then `@std`'s
(`stdlib-recipes/templates/BUILD`). A label (`//tools:cc_lib`, `@std//templates:cmake`) names
a template of that package's BUILD file.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from . import schema
from . import syntax as st
from .errors import Diagnostic, RecipeError, did_you_mean
from .interpolate import Reference, span_in
from .labels import Label, LabelError, parse_label
from .span import Span

STD_PACKAGE = Label("std", "templates", "")
STD_DISPLAY = "@std//templates/BUILD"  # how the file is named in messages (errors.py finds it)
ARG = re.compile(r"\$\{args\.([A-Za-z_][A-Za-z0-9_]*)\}")
ATTEMPT = re.compile(r"\$\{args\.")
IMPLICIT = "name"  # bound to the package's name in every call
# A call's keyword that is not a parameter may set one of these attributes of the package.
PASS_THROUGH = tuple(schema.PACKAGE)

# Templates of another package: (label of the package, span of the call) -> its templates.
External = Callable[[Label, Span], dict[str, st.TemplateDef]]


def std_templates_path() -> Path:
    from .workspace import stdlib_dir

    return stdlib_dir() / "templates" / "BUILD"


@lru_cache(maxsize=4)
def _std_templates(path: Path, mtime_ns: int) -> dict[str, st.TemplateDef]:
    from .parser import parse

    return {t.name: t for t in parse(path.read_text(), STD_DISPLAY).templates}


def std_templates() -> dict[str, st.TemplateDef]:
    path = std_templates_path()
    return _std_templates(path, path.stat().st_mtime_ns)


def expand_file(file: st.File, package: str, repo: str = "", external: External | None = None) -> st.File:
    """`file` with every template call replaced by the package block it expands to."""
    diags: list[Diagnostic] = []
    local = _local(file, diags)
    blocks = []
    for block in file.blocks:
        if not isinstance(block, st.Instance):
            blocks.append(block)
            continue
        try:
            tmpl = _lookup(block, local, package, repo, external)
            expansion = _Expansion(block, tmpl, diags)
            if expansion.bound_ok:  # else the body would only repeat the arguments' errors
                blocks.append(expansion.block())
        except RecipeError as exc:
            diags.extend(exc.diagnostics)
    if diags:
        raise RecipeError(diags)
    return st.File(file.path, tuple(blocks), file.templates)


def _local(file: st.File, diags: list[Diagnostic]) -> dict[str, st.TemplateDef]:
    out: dict[str, st.TemplateDef] = {}
    for t in file.templates:
        if t.name in out:
            diags.append(Diagnostic(t.span, f"template '{t.name}' is defined twice",
                                    f"the first is at {out[t.name].span}"))
            continue
        out[t.name] = t
        seen: set[str] = set()
        for p in t.params:
            if p.name in seen or p.name == IMPLICIT:
                why = "is bound to the package's name" if p.name == IMPLICIT else "is declared twice"
                diags.append(Diagnostic(p.span, f"parameter '{p.name}' {why}",
                                        "use args.name without declaring it" if p.name == IMPLICIT else None))
            seen.add(p.name)
            if p.choices is not None:
                _check_choices(t, p, diags)
    return out


def choice_text(expr) -> str | None:
    """A choice as text (`"shared"` and `shared` alike), None for anything but a plain value."""
    if isinstance(expr, st.Str):
        return expr.value
    if isinstance(expr, st.Word):
        return expr.name
    if isinstance(expr, st.Int):
        return str(expr.value)
    if isinstance(expr, st.Bool):
        return "true" if expr.value else "false"
    return None


def _check_choices(t: st.TemplateDef, p: st.Param, diags: list[Diagnostic]) -> None:
    """A closed parameter's values are plain values and its default is one of them."""
    texts = [choice_text(c) for c in p.choices.items]
    for i, (item, text) in enumerate(zip(p.choices.items, texts, strict=True)):
        if text is None:
            diags.append(Diagnostic(item.span, f"a value of parameter '{p.name}' must be a string, a word or a number"))
        elif text in texts[:i]:  # "1" and 1 are one value too: an argument is compared as text
            diags.append(Diagnostic(item.span, f"value '{text}' of parameter '{p.name}' is listed twice"))
    if not p.choices.items:
        diags.append(Diagnostic(p.choices.span, f"parameter '{p.name}' has no values"))
    elif choice_text(p.default) not in texts:
        diags.append(Diagnostic(p.default.span, f"default of '{p.name}' is not one of its values",
                                did_you_mean(choice_text(p.default) or "", [x for x in texts if x])
                                or f"{t.name}'s '{p.name}' is one of {_listed(texts)}"))


def _shown(p: st.Param) -> str:
    """A parameter as a signature shows it: `hdrs`, `cflags = ...`, `kind = "shared"|"static"`."""
    if p.default is None:
        return p.name
    if p.choices is None:
        return f"{p.name} = ..."
    return f"{p.name} = " + "|".join(f'"{t}"' for c in p.choices.items if (t := choice_text(c)) is not None)


def _listed(texts) -> str:
    return ", ".join(f'"{t}"' for t in texts if t is not None)


def _lookup(inst: st.Instance, local, package: str, repo: str, external: External | None) -> st.TemplateDef:
    name, where = inst.template, local
    if inst.template[:1] in ":/@":
        try:
            label = parse_label(inst.template, package, repo).label
        except LabelError as exc:
            raise RecipeError.at(inst.call_span, str(exc), exc.help) from None
        name = label.name
        if (label.repo, label.package) == (STD_PACKAGE.repo, STD_PACKAGE.package):
            where = std_templates()
        elif (label.repo, label.package) != (repo, package):
            if external is None:
                raise RecipeError.at(inst.call_span, f"template '{inst.template}' is in another file",
                                     "templates of other packages are loaded through a workspace")
            where = external(label, inst.call_span)
    elif name not in local:
        where = std_templates()
    if name not in where:
        bare = inst.template[:1] not in ":/@"
        known = sorted(set(where) | (set(local) | set(std_templates()) if bare else set()))
        raise RecipeError.at(inst.call_span, f"unknown template '{inst.template}'",
                             did_you_mean(name, known) or f"templates here: {', '.join(known) or 'none'}")
    return where[name]


class _Expansion:
    """One call of one template."""

    def __init__(self, inst: st.Instance, tmpl: st.TemplateDef, diags: list[Diagnostic]):
        self.inst, self.tmpl, self.diags = inst, tmpl, diags
        self.via = inst.call_span
        self.bound: dict[str, st.Expr] = {IMPLICIT: st.Str(inst.name, inst.name_span)}
        self.extra: list[st.Attr] = []  # keyword arguments that set attributes
        before = len(diags)
        self.bind()
        self.bound_ok = len(diags) == before

    def error(self, span: Span, message: str, help: str | None = None) -> None:
        self.diags.append(Diagnostic(span, message, help))

    def signature(self) -> str:
        return f"{self.tmpl.name}({', '.join(_shown(p) for p in self.tmpl.params)})"

    def bind(self) -> None:
        params = {p.name: p for p in self.tmpl.params}
        positional = [a for a in self.inst.args if a.name is None]
        for param, arg in zip(self.tmpl.params, positional, strict=False):
            self.bound[param.name] = arg.value
            self.check_choice(param, arg.value)
        for arg in positional[len(self.tmpl.params):]:
            self.error(arg.span, f"template '{self.tmpl.name}' takes {len(self.tmpl.params)} arguments by "
                       "position; this is one too many", f"it is {self.signature()}")
        for arg in self.inst.args:
            if arg.name is None:
                continue
            if arg.name in self.bound:
                self.error(arg.span, f"argument '{arg.name}' is given twice" if arg.name != IMPLICIT else
                           "'name' is the package's name; it is not an argument", f"it is {self.signature()}")
            elif arg.name in params:
                self.bound[arg.name] = arg.value
                self.check_choice(params[arg.name], arg.value)
            elif arg.name in PASS_THROUGH:
                self.extra.append(st.Attr(arg.name, arg.value, arg.span))
            else:
                self.error(arg.span, f"template '{self.tmpl.name}' has no parameter '{arg.name}'",
                           did_you_mean(arg.name, list(params) + list(PASS_THROUGH))
                           or f"it is {self.signature()}; a package attribute may be given too")
        for p in self.tmpl.params:
            if p.name not in self.bound:
                if p.default is None:
                    self.error(self.inst.call_span, f"template '{self.tmpl.name}' needs the argument '{p.name}'",
                               f"it is {self.signature()}")
                else:
                    self.bound[p.name] = self.node(p.default)

    def check_choice(self, param: st.Param, value: st.Expr) -> None:
        """An argument of a closed parameter is one of its values, caught at the call (exit 2)
        instead of when the expanded script fails."""
        if param.choices is None:
            return
        texts = [t for t in (choice_text(c) for c in param.choices.items) if t is not None]
        given = choice_text(value)
        if given in texts:
            return
        what = f"'{given}'" if given is not None else "this"
        self.error(value.span, f"argument '{param.name}' of template '{self.tmpl.name}' is one of "
                   f"{_listed(texts)}, not {what}",
                   (did_you_mean(given, texts) if given is not None else None)
                   or "write one of them as a string")

    def block(self) -> st.Block:
        members = [self.node(m) for m in self.tmpl.members]
        override = {a.name for a in self.extra} | {m.name for m in self.inst.members if isinstance(m, st.Attr)}
        kinds = {m.kind for m in self.inst.members if isinstance(m, st.Block)}
        kept = [m for m in members if not (isinstance(m, st.Attr) and m.name in override)
                and not (isinstance(m, st.Block) and m.kind in kinds)]
        return st.Block(self.inst.kind, self.inst.name, tuple(kept + self.extra + list(self.inst.members)),
                        self.inst.span, self.inst.name_span)

    # ------------------------------------------------------------ substitution

    def node(self, n):
        """A copy of the body's node `n`: spans marked as expanded, arguments substituted."""
        if isinstance(n, Span):
            return dataclasses.replace(n, via=self.via)
        if isinstance(n, tuple):
            return tuple(self.node(i) for i in n)
        if isinstance(n, st.Ref) and n.parts[0] == "args":
            return self.argument(n)
        if isinstance(n, st.Str):
            return st.Str(self.interpolate(n), self.node(n.span))
        if dataclasses.is_dataclass(n):
            return dataclasses.replace(n, **{f.name: self.node(getattr(n, f.name)) for f in dataclasses.fields(n)
                                              if f.init})
        return n

    def argument(self, ref: st.Ref):
        name = ref.parts[1] if len(ref.parts) == 2 else None
        if name in self.bound:
            return self.bound[name]
        self.error(self.node(ref.span), f"template '{self.tmpl.name}' has no parameter '{'.'.join(ref.parts[1:])}'",
                   did_you_mean(name or "", self.bound) or f"it is {self.signature()}")
        return st.Str("", self.node(ref.span))

    def interpolate(self, s: st.Str) -> str:
        def one(m: re.Match) -> str:
            where = span_in(s.raw, s.span, s.value, Reference(m[1], m.start(), m.end())) if s.raw else s.span
            if m[1] not in self.bound:
                self.error(self.node(where), f"template '{self.tmpl.name}' has no parameter '{m[1]}'",
                           did_you_mean(m[1], self.bound) or f"it is {self.signature()}")
                return ""
            return self.text(self.bound[m[1]], m[1], where)

        out = ARG.sub(one, s.value)
        if ATTEMPT.search(out):
            self.error(self.node(s.span), "an argument is written '${args.NAME}' inside a string",
                       f"NAME is a parameter of {self.signature()}")
        return out

    def text(self, expr, name: str, where: Span) -> str:
        """An argument as it reads inside a string: text as is, a number as digits, each item
        of a list as one double-quoted shell word (so `$PREFIX` in it still expands)."""
        value = self.literal(expr, name)
        if value is None:
            self.diags.append(Diagnostic(
                expr.span, f"argument '{name}' of template '{self.tmpl.name}' is used inside a string, so it "
                "must be a string, a number or a list of strings", "write it out, e.g. [\"--enable-x\"]", where))
            return ""
        if isinstance(value, list):
            return " ".join(shell_word(v) for v in value)
        return value

    def literal(self, expr, name: str):
        text = choice_text(expr)  # a plain value
        if text is not None:
            return text
        if isinstance(expr, st.ListExpr):
            items = [self.literal(i, name) for i in expr.items]
            if all(isinstance(i, str) for i in items):
                return items
        if isinstance(expr, st.Concat):
            left, right = self.literal(expr.left, name), self.literal(expr.right, name)
            if type(left) is type(right) and left is not None:
                return left + right
        return None  # not text: the caller reports it


def shell_word(text: str) -> str:
    """`text` as one shell word in double quotes: spaces stay inside, `$VAR` still expands."""
    return '"' + re.sub(r'(["\\`])', r"\\\1", text) + '"'
