"""Checks across targets, once a closure is loaded: every setting names a declared config
key, every contribution a declared slot, every flavour selection a declared flavour value.
Each failure is a Diagnostic at the reference, with a did-you-mean."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Diagnostic, did_you_mean
from .labels import Label
from .model import Package, Target, type_name
from .span import Span


@dataclass(frozen=True)
class Ref:
    label: Label
    span: Span | None


def references(t: Target):
    """Every label a target points at: requirements, service requirements, settings, slots."""
    yield from t.requires
    if isinstance(t, Package):
        if t.service:
            yield from t.service.requires
        for s in (*t.settings, *t.contributions):
            yield Ref(s.target, s.span)


def check(targets: dict[Label, list[Target]]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for family in targets.values():
        for t in family:
            for s in getattr(t, "settings", ()):
                out += _check_setting(s, targets.get(s.target, []))
            for c in getattr(t, "contributions", ()):
                slots = {sl for o in targets.get(c.target, []) for sl in getattr(o, "slots", ())}
                if c.slot not in slots:
                    out.append(Diagnostic(c.span, f"'{c.target}' has no slot '{c.slot}'",
                                          did_you_mean(c.slot, slots) or _listing("slots", slots)))
            for r in t.requires:
                out += _check_selection(r, targets.get(r.label, []))
    return out


def _check_setting(s, family: list[Target]) -> list[Diagnostic]:
    """The key is declared (by some version) and the value has its type."""
    fields = [c for o in family for c in getattr(o, "config", ()) if c.name == s.key]
    if not fields:
        keys = {c.name for o in family for c in getattr(o, "config", ())}
        return [Diagnostic(s.span, f"'{s.target}' has no config key '{s.key}'",
                           did_you_mean(s.key, keys) or _listing("config keys", keys))]
    if not any(f.accepts(s.value) for f in fields):
        return [Diagnostic(s.span, f"config '{s.key}' of '{s.target}' is {fields[0].type}, "
                           f"but this sets it to {type_name(s.value)}")]
    return []


def _check_selection(req, family: list[Target]) -> list[Diagnostic]:
    """`//lib:greet[volume=lound]`: the flavour and its value must be declared (by some version)."""
    declared: dict[str, set[str]] = {}
    for o in family:
        for f in getattr(o, "flavours", ()):
            declared.setdefault(f.name, set()).update(f.values)
    out = []
    for name, value in req.flavours:
        if not family:
            break
        if name not in declared:
            out.append(Diagnostic(req.span, f"'{req.label}' has no flavour '{name}'",
                                  did_you_mean(name, declared) or _listing("flavours", declared)))
        elif value not in declared[name]:
            out.append(Diagnostic(req.span, f"flavour '{name}' of '{req.label}' has no value '{value}'",
                                  did_you_mean(value, declared[name]) or _listing("values", declared[name])))
    return out


def _listing(what: str, names) -> str:
    return f"its {what}: {', '.join(sorted(names)) or 'none'}"
