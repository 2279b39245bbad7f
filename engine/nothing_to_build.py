"""`jbuild build PATTERN` that matches nothing buildable: say what the patterns matched and why
none of it builds, instead of "0 built" and success (as `jbuild test` does for no tests, exit 4;
Bazel's "no targets found beneath"). A plan has nothing to build when it has no action root and
no test: the patterns matched only host tools, targets tagged manual, or BUILD files that
declare only templates (or nothing)."""

from __future__ import annotations

import os

from jbuild.base.errors import JbuildError
from jbuild.dsl.labels import Label, LabelError, parse_pattern

TYPE_CHECKING = False
if TYPE_CHECKING:  # (a restored session's edit never imports the loader: ~5 ms with its modules)
    from jbuild.dsl.loader import Loader

SHOWN = 4  # labels listed per reason before "and N more"


class NothingToBuild(JbuildError):
    """The patterns matched no package or test to build: exit 4 (like `jbuild test` with no test)."""

    kind = "nothing_to_build"


def check(p, patterns: list[str], cwd: str | None) -> None:
    """Raise NothingToBuild for a plan with no action root and no test."""
    if p.roots or p.tests:
        return
    reasons = _reasons(p.loader, patterns, cwd or os.getcwd())
    raise NothingToBuild(f"nothing to build: {' '.join(patterns)} matched no package or test to build\n"
                         + "\n".join(f"  {r}" for r in reasons))


def _reasons(loader: Loader, patterns: list[str], cwd: str) -> list[str]:
    labels = loader.expand(patterns, cwd, skip_manual=False)
    targets = [t for lb in labels for t in (loader.package(lb.repo, lb.package) or ()) if t.label == lb]
    host = sorted({str(t.label) for t in targets if getattr(t, "host_tool", None) is not None})
    manual = sorted({str(t.label) for t in targets if "manual" in t.tags and str(t.label) not in host})
    out = []
    if host:
        what = "is a host tool: the host provides it" if len(host) == 1 else "are host tools: the host provides them"
        out.append(f"{_some(host)} {what} (detected, never built); a package uses one through build_requires")
    if manual:
        out.append(f"{_some(manual)} {'is' if len(manual) == 1 else 'are'} tagged manual: patterns skip "
                   f"{'it' if len(manual) == 1 else 'them'}; name one to build it: jbuild build {manual[0]}")
    out.extend(_subtracted(loader, patterns, cwd, {str(lb) for lb in labels}))
    if not labels:
        out.extend(_empty_packages(loader, patterns, loader.ws.package_of(cwd)))
    return out or ["every target it matched was subtracted by a '-' pattern"]


def _subtracted(loader: Loader, patterns: list[str], cwd: str, left: set[str]) -> list[str]:
    """The targets the '-' patterns took away (named: the reason the others give is not the whole story)."""
    positive = [x for x in patterns if not x.startswith("-")]
    if len(positive) == len(patterns) or not positive:
        return []
    gone = sorted({str(lb) for lb in loader.expand(positive, cwd, skip_manual=True)} - left)
    if not gone:
        return []
    return [f"{_some(gone)} {'was' if len(gone) == 1 else 'were'} subtracted by "
            f"{' '.join(x for x in patterns if x.startswith('-'))}"]


def _empty_packages(loader: Loader, patterns: list[str], current: str) -> list[str]:
    """Why a pattern matched no target: the BUILD files it reached declare only templates, or nothing."""
    out = []
    for text in patterns:
        try:
            pat = parse_pattern(text, current)
        except LabelError:  # `//x@1.2`: a pinned version is always a root
            continue
        if pat.negative:
            continue
        pkgs = loader.ws.packages_under(pat.repo, pat.package) if pat.recursive else [pat.package]
        for pkg in pkgs:
            if loader.package(pat.repo, pkg):
                continue
            where = _build_file(pat.repo, pkg)
            names = loader.templates_in(pat.repo, pkg)
            if names:
                callee = names[0] if pat.repo == "std" or (pat.repo, pkg) == ("", current) else \
                    str(Label(pat.repo, pkg, names[0]))
                example = f"package x = {callee}(...)"
                out.append(f"{where} defines only templates ({', '.join(names)}): a template is built through "
                           f"a package that calls it, e.g. {example}")
            else:
                out.append(f"{where} declares no package or test")
    return out


def _build_file(repo: str, package: str) -> str:
    return f"{'@' + repo if repo else ''}//{package + '/' if package else ''}BUILD"


def _some(labels: list[str]) -> str:
    more = len(labels) - SHOWN
    return ", ".join(labels[:SHOWN]) + (f" and {more} more" if more > 0 else "")

