"""A failed resolution, explained for a reader: each requirement by its place in a recipe
(file:line:col, or "command line"), conflicts PubGrub-style (resolve.py raises them), one
requirement a line, each with its source line when the CLI renders it, and a help line:

    error: because //reports:reports 2.0 needs //db:pg >=10 and //services:geotags 5.1 needs
    //db:pg >=9.1,<10, no version of //db:pg satisfies both       (one line)
      //reports:reports 2.0 needs //db:pg >=10  (required through //reports:site)
       --> reports/BUILD:1:47
        1 | package reports { version = "2.0" requires = [//db:pg >= 10] }
          |                                               ^^^^^^^^^^^^^
      //services:geotags 5.1 needs //db:pg >=9.1,<10  (required through //reports:site)
       --> services/BUILD:3:17
        ...
      declared: //db:pg 9.6, 10.5
    help: edit one of these constraints so that they overlap, or declare a version of //db:pg that
    satisfies both (a closure holds one version of each family)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jbuild.base.errors import BadInput

if TYPE_CHECKING:
    from jbuild.dsl.labels import Label
    from jbuild.dsl.span import Span


class Explained(BadInput):
    """A resolution error of a headline, notes (a line each, with the recipe place it is written
    at, if any) and a help line. str() is the plain text; `with_source_lines` adds each place's source line
    and a caret (the CLI calls it with the workspace root; exit 2 either way)."""

    def __init__(self, headline: str, notes: list[tuple[str, Span | None]] = (), help: str | None = None):
        self.headline, self.notes, self.help = headline, list(notes), help
        super().__init__(self.with_source_lines(None, False, excerpts=False).removeprefix("error: "))

    def with_source_lines(self, root: str | None, color: bool = False, excerpts: bool = True) -> str:
        from jbuild.dsl.errors import excerpt

        bold, red, cyan, reset = ("\033[1m", "\033[31m", "\033[36m", "\033[0m") if color else ("",) * 4
        out = [f"{bold}{red}error:{reset}{bold} {self.headline}{reset}"]
        for text, span in self.notes:
            out.append(f"  {text}")
            if span is not None:
                out.append(f"   {cyan}-->{reset} {span}")
                out += excerpt(span, root, color, "    ") if excerpts else []
        if self.help:
            out.append(f"{cyan}help:{reset} {self.help}")
        return "\n".join(out)


def explain_conflict(causes, families, chain=None) -> tuple[str, list[tuple[str, Span | None]], str]:
    """PubGrub's facts (which requirement, whose, where, and — by `chain(label)`, the labels from
    the root down to it — how the root came to need its owner), one family at a time: the
    arguments of an `Explained`."""
    by_label: dict[Label, list] = {}
    for info in causes:
        by_label.setdefault(info.requirement.requirement.label, []).append(info)
    headlines, notes, helps = [], [], []
    for label, infos in by_label.items():
        for i in infos:
            r = i.requirement.requirement
            path = chain(i.parent.label) if chain and i.parent is not None else []
            via = f"  (required through {' -> '.join(map(str, path[:-1]))})" if len(path) > 1 else ""
            notes.append((f"{i.requirement.parent} needs {label} {r.constraint}{via}", r.span))
        versions = sorted(t.version for t in families.get(label, []) if t.version)
        notes.append((f"declared: {label} " + (", ".join(map(str, versions)) or "no version"), None))
        needs = [f"{i.requirement.parent} needs {label} {i.requirement.requirement.constraint}" for i in infos]
        if len(infos) == 1:
            headlines.append(f"because {needs[0]}, no version of {label} satisfies it")
            helps.append(f"loosen that constraint, or declare a version of {label} that satisfies it")
        else:
            both = "both" if len(infos) == 2 else f"all {len(infos)}"
            headlines.append(f"because {', '.join(needs[:-1])} and {needs[-1]}, no version of {label} satisfies {both}")
            helps.append(f"edit one of these constraints so that they overlap, or declare a version of {label} that "
                         f"satisfies {'both' if len(infos) == 2 else 'all of them'} (a closure holds one version of "
                         "each family)")
    return "; ".join(headlines), notes, " ".join(helps)
