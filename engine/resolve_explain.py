"""A failed resolution, explained for a reader: each requirement by its place in a recipe
(file:line:col, or "command line"), conflicts PubGrub-style (resolve.py raises them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jbuild.dsl.labels import Label
    from jbuild.dsl.model import Requirement


def loc(r: Requirement) -> str:
    return str(r.span) if r.span else "command line"


def where(r: Requirement) -> str:
    return f"{r.span}: " if r.span else ""


def explain_conflict(causes, families) -> str:
    """PubGrub-style: 'Because A needs X >=1 and B needs X <1, no version of X satisfies both.'"""
    by_label: dict[Label, list] = {}
    for info in causes:
        by_label.setdefault(info.requirement.requirement.label, []).append(info)
    lines = []
    for label, infos in by_label.items():
        needs = [f"{i.requirement.parent} needs {label} {i.requirement.requirement.constraint} "
                 f"({loc(i.requirement.requirement)})" for i in infos]
        if len(needs) == 1:
            have = ", ".join(sorted(str(t.version) for t in families.get(label, []) if t.version)) or "none"
            lines.append(f"Because {needs[0]}, and no version of {label} satisfies that "
                         f"(declared: {have}), resolution fails.")
        else:
            lines.append(f"Because {' and '.join(needs)}, no version of {label} satisfies "
                         f"{'both' if len(needs) == 2 else 'all of them'}.")
    return "\n".join(lines)
