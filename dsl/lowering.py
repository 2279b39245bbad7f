"""Syntax tree -> typed targets (model.py), checked against the schema tables.

Every problem becomes a Diagnostic; lowering goes on after one, so a run reports all the
independent errors of a file at once. This module owns the blocks at the top of a file and
their attributes, dispatched by schema type to `conv_<type>`; the conversions live beside it,
one idea each: plain values (lower_values.py), files and globs (lower_files.py),
requirements (lower_requirements.py), `etc` and `outputs` maps (lower_maps.py), and the
blocks nested in a package (lower_blocks.py).
"""

from __future__ import annotations

from . import interpolate, schema, sources, templates, version_check
from . import model as m
from . import syntax as st
from .errors import Diagnostic, RecipeError, did_you_mean, suggestions
from .labels import Label
from .lower_blocks import Blocks
from .lower_files import Files
from .lower_maps import Maps
from .lower_requirements import Requirements
from .lower_values import Skip


def lower_file(file: st.File, package: str, repo: str = "", external=None) -> list[m.Target]:
    """The targets of one BUILD file of workspace package `package` (`services/api`), its
    template calls expanded first (`external` finds templates of other files: templates.py)."""
    file = templates.expand_file(file, package, repo, external)
    lw = _Lowering(package, repo)
    targets = [t for b in file.blocks if (t := lw.top_level(b)) is not None]
    lw.check_duplicates(targets)
    if lw.diags:
        raise RecipeError(lw.diags)
    return targets


def lower_plain(blocks, package: str, repo: str = "") -> tuple[list[m.Target], list[Diagnostic]]:
    """The targets of top-level blocks that are no template call, and their errors: what one
    piece of a large file lowers to by itself (piece_cache.py); a block's target depends on
    nothing else in its file."""
    lw = _Lowering(package, repo)
    return [t for b in blocks if (t := lw.top_level(b)) is not None], lw.diags


def duplicates(targets: list[m.Target], package: str, repo: str = "") -> list[Diagnostic]:
    """Targets declared twice in one file (lower_file reports them with the file's errors)."""
    lw = _Lowering(package, repo)
    lw.check_duplicates(targets)
    return lw.diags


class _Lowering(Blocks, Maps, Requirements, Files):
    def __init__(self, package: str, repo: str):
        self.package = package
        self.repo = repo
        self.diags: list[Diagnostic] = []
        self.attempted: set[str] = set()  # attributes written (even wrongly): not "missing"
        self.config_names: set[str] = set()

    def top_level(self, block: st.Block) -> m.Target | None:
        table = schema.TOP_LEVEL.get(block.kind)
        if table is None:
            self.error(block.span, f"unknown block kind '{block.kind}'",
                       did_you_mean(block.kind, schema.TOP_LEVEL) or "write 'package NAME { ... }' or 'test NAME { ... }'")
            return None
        if block.name is None:
            self.error(block.span, f"a {block.kind} needs a name", f"write '{block.kind} NAME {{ ... }}'")
            return None
        label = Label(self.repo, self.package, block.name)
        self.attempted = set()
        self.config_names: set[str] = set()  # declared, even wrongly: a reference is not "unknown"
        values, nested = self.attrs(block, table, schema.PACKAGE_BLOCKS if block.kind == "package" else ())
        if block.kind == "test" and values.get("sources", m.FileSet()).fetched:
            self.error(values["sources"].fetched[0].span, "a test's sources are files of the workspace",
                       "fetch archives in a package, and require it")
        if block.kind == "test":
            return m.Test(label=label, span=block.name_span, command=values.get("command", ""),
                          summary=values.get("summary", ""), sources=values.get("sources", m.FileSet()),
                          requires=self.all_requirements(values), tags=values.get("tags", ()))
        return self.package_target(block, label, values, nested)

    def attrs(self, block: st.Block, table: dict, allowed_blocks=()) -> tuple[dict, dict]:
        """Convert `name = value` members by the table; collect nested blocks by kind."""
        values: dict = {}
        nested: dict[str, list[st.Block]] = {}
        seen: dict[str, st.Attr] = {}
        for member in block.members:
            if isinstance(member, st.Block):
                if member.kind not in allowed_blocks:
                    self.unknown(member.kind, member.span, table, allowed_blocks, block.kind, "block")
                    continue
                nested.setdefault(member.kind, []).append(member)
                continue
            if not isinstance(member, st.Attr):
                self.error(member.span, f"this form belongs in a '{_form_home(member)}' block",
                           f"move it into '{_form_home(member)} {{ ... }}'")
                continue
            spec = table.get(member.name)
            if spec is None:
                self.unknown(member.name, member.span, table, allowed_blocks, block.kind, "attribute")
                self.attempted.update(suggestions(member.name, table, limit=1))
                continue
            self.attempted.add(member.name)
            if member.name in seen:
                self.error(member.span, f"'{member.name}' is set twice",
                           f"the first is at {seen[member.name].span}")
                continue
            seen[member.name] = member
            try:
                values[member.name] = getattr(self, "conv_" + spec.type)(member.value, member.name)
            except Skip:
                pass
        for spec in table.values():
            if spec.required and spec.name not in self.attempted:
                self.error(block.name_span or block.span,
                           f"{block.kind} '{block.name or block.kind}' has no '{spec.name}'",
                           f"add '{spec.name} = ...': {spec.doc}")
        return values, nested

    def unknown(self, name, span, table, blocks, where, what):
        hint = did_you_mean(name, list(table) + list(blocks))
        if hint is None:
            hint = f"a {where} may hold: " + ", ".join(sorted(list(table) + list(blocks)))
        self.error(span, f"unknown {what} '{name}' in {where}", hint)

    def package_target(self, block, label, values, nested) -> m.Package:
        one = {kind: self.single(kind, blocks) for kind, blocks in nested.items()}
        host_tool = self.host_tool(one["host_tool"]) if one.get("host_tool") else None
        version = values.get("version")
        if version is None and host_tool is None and "version" not in self.attempted:
            self.error(block.name_span, f"package '{block.name}' has no 'version'",
                       'add \'version = "1.0"\' (only a host_tool package may omit it)')
        flavours = self.flavours(one["flavours"]) if one.get("flavours") else ()
        config = self.config(one["config"]) if one.get("config") else ()
        pkg = m.Package(
            label=label, version=version, span=block.name_span, summary=values.get("summary", ""),
            flavours=flavours, **sources.package_fields(self, values),
            interface=values.get("interface", m.FileSet()), requires=self.all_requirements(values),
            build=self.checked_build(values, version, block), exports=values.get("exports", ()),
            outputs=values.get("outputs", ()), config=config,
            settings=tuple(self.settings(one["settings"])) if one.get("settings") else (),
            slots=values.get("slots", ()), etc=values.get("etc", ()),
            contributions=tuple(self.contributions(one["contribute"])) if one.get("contribute") else (),
            service=self.service(one["service"], config) if one.get("service") else None,
            tags=values.get("tags", ()), host_tool=host_tool,
        )
        self.check_package(pkg, block, values)
        return pkg

    def checked_build(self, values: dict, version, block: st.Block) -> str | None:
        """The build script, wrapped in its version_check if it has one (version_check.py)."""
        check, build = values.get("version_check"), values.get("build")
        if check is None:
            return build
        if build is None or version is None:
            self.error(_attr(block, "version_check").span, "version_check needs a 'version' and a 'build'")
            return build
        return version_check.wrap(build, str(version), check)

    def conv_version_check(self, expr, name) -> version_check.VersionCheck:
        values = dict(self.conv_map(expr, name).items)
        bad = version_check.problem(values)
        if bad:
            self.fail(expr.span, *bad)
        return version_check.VersionCheck(values.get("file"), values.get("command"), values.get("regex"))

    def check_package(self, pkg: m.Package, block: st.Block, values: dict) -> None:
        names = {f.name: f for f in pkg.flavours}
        for req in pkg.requires:
            if req.condition and req.condition.flavour not in names:
                self.error(req.span, f"'when' names flavour '{req.condition.flavour}', which "
                           f"package '{pkg.label.name}' does not declare",
                           did_you_mean(req.condition.flavour, names) or "declare it in 'flavours { ... }'")
            elif req.condition and req.condition.value not in names[req.condition.flavour].values:
                fl = names[req.condition.flavour]
                self.error(req.span, f"flavour '{fl.name}' has no value '{req.condition.value}'",
                           did_you_mean(req.condition.value, fl.values) or f"its values: {', '.join(fl.values)}")
        if pkg.etc:
            self.check_config_refs(_attr(block, "etc").value, pkg.config)
        if pkg.build and interpolate.ATTEMPT.search(pkg.build):
            self.error(_attr(block, "build").value.span, "a build step may not use config",
                       "config is applied when an environment is assembled, not at build time; "
                       "use a flavour for a build variation")
        if pkg.outputs and pkg.host_tool:
            self.error(_attr(block, "outputs").value.span, "a host tool is not built, so it has no outputs",
                       "remove 'outputs'")
        if pkg.interface and not pkg.sources:
            self.error(pkg.interface.span, "'interface' files must be among the declared 'sources'",
                       "declare 'sources' too")

    def check_duplicates(self, targets: list[m.Target]) -> None:
        seen: dict[tuple, m.Target] = {}
        kinds: dict[Label, m.Target] = {}
        for t in targets:
            version = getattr(t, "version", None)
            key = (t.label, str(version) if version else None)
            if key in seen:
                what = f"version {version} of '{t.label.name}'" if version else f"target '{t.label.name}'"
                self.error(t.span, f"duplicate {what}", f"the first is at {seen[key].span}")
            else:
                seen[key] = t
            other = kinds.setdefault(t.label, t)
            if other.kind != t.kind:
                self.error(t.span, f"'{t.label.name}' is both a {other.kind} and a {t.kind}",
                           f"the {other.kind} is at {other.span}")


def _attr(block: st.Block, name: str) -> st.Attr:
    return next(a for a in block.members if isinstance(a, st.Attr) and a.name == name)


def _form_home(member) -> str:
    return {st.FlavourDecl: "flavours", st.ConfigFieldDecl: "config"}.get(type(member), "settings")

