"""Lowering of `requires`, `build_requires`, `run_requires`: labels with constraints, flavour
selections and `when` conditions."""

from __future__ import annotations

from . import model as m
from . import syntax as st
from .lower_values import Skip, Values
from .versions import Constraint, Version, VersionError


class Requirements(Values):
    """Conversions of requirement lists (schema type requirements)."""

    def conv_requirements(self, expr, name) -> tuple[m.Requirement, ...]:
        kind = m.RequirementKind(name) if name in m.RequirementKind._value2member_map_ else m.RequirementKind.RUN_ONLY
        out = []
        for item in self.flatten_list(expr, name):
            if not isinstance(item, st.RequirementExpr):
                hint = f"did you mean ':{item.name}'?" if isinstance(item, st.Word) else "e.g. [:libc >= 2.24, //db:postgresql]"
                self.error(item.span, f"'{name}' takes labels with optional constraints", hint)
                continue
            try:
                out.append(self.requirement(item, kind))
            except Skip:
                pass
        return tuple(out)

    def requirement(self, item: st.RequirementExpr, kind) -> m.Requirement:
        label = self.label(item.label, item.span)
        terms = []
        for op, text in item.constraints:
            try:
                terms.append((op, Version.parse(text)))
            except VersionError as exc:
                self.fail(item.span, str(exc))
        condition = None
        if item.condition:
            flavour, op, value = item.condition
            if op not in ("==", "!="):
                self.fail(item.span, f"'when' compares a flavour with '==' or '!=', not '{op}'")
            condition = m.Condition(flavour, op, value)
        names = [k for k, _ in item.selection]
        if len(set(names)) != len(names):
            self.fail(item.span, "a flavour is selected twice")
        return m.Requirement(label, kind, Constraint(tuple(terms)), tuple(sorted(item.selection)),
                             condition, None, item.span)

    def all_requirements(self, values) -> tuple[m.Requirement, ...]:
        return tuple(r for k in ("requires", "build_requires", "run_requires") for r in values.get(k, ()))
