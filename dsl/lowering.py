"""Syntax tree -> typed targets (model.py), checked against the schema tables.

Every problem becomes a Diagnostic; lowering goes on after one, so a run reports all the
independent errors of a file at once.
"""

from __future__ import annotations

from . import interpolate, schema, sources, templates, version_check
from . import model as m
from . import syntax as st
from .errors import Diagnostic, RecipeError, did_you_mean, suggestions
from .labels import Label, LabelError, parse_label
from .versions import Constraint, Version, VersionError


class _Skip(Exception):
    """An attribute could not be converted; its diagnostic is already recorded."""


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


class _Lowering:
    def __init__(self, package: str, repo: str):
        self.package = package
        self.repo = repo
        self.diags: list[Diagnostic] = []
        self.attempted: set[str] = set()  # attributes written (even wrongly): not "missing"
        self.config_names: set[str] = set()

    def error(self, span, message, help=None):
        self.diags.append(Diagnostic(span, message, help))

    # ------------------------------------------------------------ blocks

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
            except _Skip:
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

    def single(self, kind, blocks):
        for extra in blocks[1:]:
            self.error(extra.span, f"a second '{kind}' block", f"merge it into the first, at {blocks[0].span}")
        return blocks[0]

    def all_requirements(self, values) -> tuple[m.Requirement, ...]:
        return tuple(r for k in ("requires", "build_requires", "run_requires") for r in values.get(k, ()))

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

    # ------------------------------------------------------------ nested blocks

    def flavours(self, block: st.Block) -> tuple[m.Flavour, ...]:
        out = []
        for member in block.members:
            if not isinstance(member, st.FlavourDecl):
                self.error(member.span, "a flavour is written 'NAME = [value, ...] default value'",
                           "e.g. 'ssl = [on, off] default on'")
                continue
            try:
                vals = tuple(self.word(v, member.name) for v in member.values.items)
                default = self.word(member.default, member.name)
            except _Skip:
                continue
            if default not in vals:
                self.error(member.default.span, f"default '{default}' is not one of the values of '{member.name}'",
                           did_you_mean(default, vals) or f"its values: {', '.join(vals)}")
            elif len(set(vals)) != len(vals):
                self.error(member.values.span, f"flavour '{member.name}' lists a value twice")
            else:
                out.append(m.Flavour(member.name, vals, default, member.span))
        return tuple(out)

    def config(self, block: st.Block) -> tuple[m.ConfigField, ...]:
        out = []
        self.config_names.update(mb.name for mb in block.members if isinstance(mb, st.ConfigFieldDecl))
        for member in block.members:
            if not isinstance(member, st.ConfigFieldDecl):
                self.error(member.span, "a config entry is written 'NAME: TYPE = default'",
                           "e.g. 'port: int = 5432'")
                continue
            if member.type.name not in schema.CONFIG_TYPES:
                self.error(member.type.span, f"unknown config type '{member.type.name}'",
                           did_you_mean(member.type.name, schema.CONFIG_TYPES)
                           or f"types: {', '.join(schema.CONFIG_TYPES)}")
                continue
            try:
                default = self.conv_value(member.default, member.name) if member.default else None
            except _Skip:
                continue
            if default is not None and not m.type_ok(member.type.name, default):
                self.error(member.default.span, f"config '{member.name}' is {member.type.name}, "
                           f"but its default is {m.type_name(default)}")
                continue
            out.append(m.ConfigField(member.name, member.type.name, default, member.span))
        return tuple(out)

    def settings(self, block: st.Block):
        for member in block.members:
            if not isinstance(member, st.SettingDecl):
                self.error(member.span, "a setting is written 'LABEL.KEY = value'",
                           "e.g. '//db:mongodb.port = 22333'")
                continue
            try:
                yield m.Setting(self.label(member.label, member.span), member.key,
                                self.conv_value(member.value, member.key), member.span)
            except _Skip:
                pass

    def contributions(self, block: st.Block):
        for member in block.members:
            if not isinstance(member, st.SettingDecl):
                self.error(member.span, "a contribution is written 'LABEL.SLOT = [paths]'",
                           "e.g. '@std//host:cc.include_dirs = [\"include\"]'")
                continue
            try:
                paths = self.conv_strings(member.value, member.key)
                bad = [p for p in paths if p.startswith("/") or not p or ".." in p.split("/")]
                if bad:
                    self.fail(member.value.span, f"'{bad[0]}' is not a path inside this package",
                              "a contribution names directories of the contributing package's "
                              'output, e.g. ["include"]')
                yield m.Contribution(self.label(member.label, member.span), member.key, paths, member.span)
            except _Skip:
                pass

    def service(self, block: st.Block, config) -> m.Service:
        values, nested = self.attrs(block, schema.SERVICE, ("volume",))
        volumes = []
        for vb in nested.get("volume", []):
            if vb.name is None:
                self.error(vb.span, "a volume needs a name", "write 'volume data { size = ..., mount = ... }'")
                continue
            vals, _ = self.attrs(vb, schema.VOLUME)
            volumes.append(m.Volume(vb.name, vals.get("size", ""), vals.get("mount", "")))
        for a in block.members:
            if isinstance(a, st.Attr):
                self.check_config_refs(a.value, config)
        reqs = tuple(
            m.Requirement(r.label, m.RequirementKind.RUN_ONLY, r.constraint, r.flavours, r.condition,
                          r.version, r.span)
            for r in values.get("requires", ())
        )
        return m.Service(command=values.get("command", ""), ports=values.get("ports", ()),
                         env=values.get("env", m.FrozenMap(())).items, volumes=tuple(volumes),
                         requires=reqs, health=values.get("health"),
                         resources=values.get("resources", m.FrozenMap(())).items, span=block.span)

    def check_config_refs(self, expr, config) -> None:
        """Each `${config.KEY}` and `config.KEY` names a declared key: else an error at it."""
        keys = {c.name for c in config} | self.config_names
        for key, span in interpolate.in_expression(expr):
            if key is None:
                self.error(span, "a config reference is written '${config.KEY}'",
                           "KEY is a name declared in 'config { ... }'")
            elif key not in keys:
                self.error(span, f"unknown config key '{key}'",
                           did_you_mean(key, keys) or "declare it in 'config { ... }'")

    def host_tool(self, block: st.Block) -> m.HostTool:
        values, _ = self.attrs(block, schema.HOST_TOOL)
        extra = {k: values[k] for k in ("version_regex", "debian_packages") if k in values}
        return m.HostTool(values.get("binaries", ()), values.get("version_command", ""), **extra)

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

    # ------------------------------------------------------------ values

    def fail(self, span, message, help=None):
        self.error(span, message, help)
        raise _Skip

    def label(self, text: str, span) -> Label:
        try:
            vl = parse_label(text, self.package, self.repo)
        except LabelError as exc:
            self.fail(span, str(exc), exc.help)
        if vl.version:
            self.fail(span, f"'{text}': name a version with a constraint ('== {vl.version}'), not '@'")
        return vl.label

    def word(self, expr, name) -> str:
        if isinstance(expr, st.Word):
            return expr.name
        if isinstance(expr, st.Str):
            return expr.value
        self.fail(expr.span, f"'{name}' takes a name here, like 'on' or 'ssd'")

    def conv_string(self, expr, name) -> str:
        if isinstance(expr, st.Concat):
            return self.conv_string(expr.left, name) + self.conv_string(expr.right, name)
        if isinstance(expr, st.Str):
            return expr.value
        self.fail(expr.span, f"'{name}' takes a string", f"write {name} = \"...\"")

    conv_script = conv_string

    def conv_version(self, expr, name) -> Version:
        text = self.conv_string(expr, name)
        try:
            return Version.parse(text)
        except VersionError as exc:
            self.fail(expr.span, str(exc), 'e.g. version = "2.24" or "1.0.2k"')

    def conv_strings(self, expr, name) -> tuple[str, ...]:
        items = self.flatten_list(expr, name)
        out = []
        for item in items:
            if isinstance(item, (st.Str, st.Word)):
                out.append(item.value if isinstance(item, st.Str) else item.name)
            else:
                self.fail(item.span, f"'{name}' takes a list of strings")
        return tuple(out)

    def flatten_list(self, expr, name) -> list:
        if isinstance(expr, st.Concat):
            return self.flatten_list(expr.left, name) + self.flatten_list(expr.right, name)
        if isinstance(expr, st.ListExpr):
            return list(expr.items)
        self.fail(expr.span, f"'{name}' takes a list", f"write {name} = [...]")

    def conv_files(self, expr, name) -> m.FileSet:
        parts = expr_parts(expr)
        paths, globs, fetched = [], [], []
        for part in parts:
            if isinstance(part, st.Call) and part.name in sources.FUNCTIONS and name == "sources":
                fetched.append(sources.fetched(self, part))
            elif isinstance(part, st.Call):
                globs.append(self.glob(part))
            elif isinstance(part, st.ListExpr):
                for item in part.items:
                    if isinstance(item, st.Call) and item.name in sources.FUNCTIONS and name == "sources":
                        fetched.append(sources.fetched(self, item))
                        continue
                    if not isinstance(item, st.Str):
                        self.fail(item.span, f"'{name}' takes file paths (strings) and glob(...)")
                    paths.append(self.relative_path(item))
            else:
                self.fail(part.span, f"'{name}' takes a list of paths or glob(...)",
                          f'write {name} = ["a.c"] or glob(["src/**"])')
        return m.FileSet(tuple(paths), tuple(globs), expr.span, tuple(fetched))

    conv_patches = sources.conv_patches
    conv_count = sources.conv_count

    def conv_templates(self, expr, name) -> tuple[m.Template, ...]:
        """`etc = { "tinydb.conf" = "port = ${config.port}" }`: path under etc/ -> text."""
        if not isinstance(expr, st.MapExpr):
            self.fail(expr.span, f"'{name}' takes a map from file names to text",
                      f'write {name} = {{ "app.conf" = "port = ${{config.port}}" }}')
        out: dict[str, m.Template] = {}
        for path, value in expr.pairs:
            try:
                text = self.conv_string(value, path)
            except _Skip:
                continue
            if path.startswith("/") or path.endswith("/") or not path or ".." in path.split("/"):
                self.error(value.span, f"'{path}' is not a path inside etc/",
                           'name a file relative to etc/, e.g. "tinydb.conf" or "tinydb/main.conf"')
            elif path in out:
                self.error(value.span, f"etc file '{path}' is declared twice",
                           f"the first is at {out[path].span}")
            else:
                out[path] = m.Template(path, text, value.span)
        return tuple(out.values())

    def conv_outputs(self, expr, name) -> tuple[m.Output, ...]:
        """`outputs = { bin = ["bin"], dev = ["include", "lib/*.a"] }`: output name -> paths of $OUT."""
        if not isinstance(expr, st.MapExpr) or not expr.pairs:
            self.fail(expr.span, f"'{name}' takes a map from output names to lists of paths",
                      f'write {name} = {{ bin = ["bin"], lib = ["lib/*.so*"], dev = ["include"] }}')
        out: dict[str, m.Output] = {}
        for key, value in expr.pairs:
            if key not in m.OUTPUT_NAMES:
                self.error(value.span, f"unknown output '{key}'",
                           did_you_mean(key, m.OUTPUT_NAMES) or f"outputs: {', '.join(m.OUTPUT_NAMES)}")
                continue
            if key in out:
                self.error(value.span, f"output '{key}' is declared twice", f"the first is at {out[key].span}")
                continue
            try:
                items = self.flatten_list(value, key)
            except _Skip:
                continue
            paths = []
            for item in items:
                if not isinstance(item, st.Str):
                    self.error(item.span, f"output '{key}' takes a list of paths (strings)")
                    continue
                p = item.value.rstrip("/")
                if not p or p.startswith("/") or {".", ".."} & set(p.split("/")):
                    self.error(item.span, f"'{item.value}' is not a path inside the package's output",
                               'name a path relative to $OUT, e.g. "include" or "lib/*.a"')
                else:
                    paths.append(p)
            out[key] = m.Output(key, tuple(paths), value.span)
        return tuple(out.values())

    def relative_path(self, item: st.Str) -> str:
        p = item.value
        if p.startswith("/") or ".." in p.split("/") or not p:
            self.fail(item.span, f"'{p}' is not a path inside this package",
                      "paths are relative to the BUILD file's directory")
        return p

    def glob(self, call: st.Call) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if call.name != "glob":
            self.fail(call.span, f"unknown function '{call.name}'", did_you_mean(call.name, ["glob"]))
        if len(call.args) != 1:
            self.fail(call.span, "glob takes one list of patterns", 'glob(["src/**/*.c"], exclude = [...])')
        include = tuple(self.relative_path(i) if isinstance(i, st.Str) else self.fail(i.span, "a glob pattern is a string")
                        for i in self.flatten_list(call.args[0], "glob"))
        exclude: tuple[str, ...] = ()
        for key, value in call.kwargs:
            if key != "exclude":
                self.fail(value.span, f"glob has no argument '{key}'", did_you_mean(key, ["exclude"]))
            exclude = self.conv_strings(value, "exclude")
        return include, exclude

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
            except _Skip:
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

    def conv_values(self, expr, name) -> tuple:
        return tuple(self.conv_value(i, name) for i in self.flatten_list(expr, name))

    def conv_map(self, expr, name) -> m.FrozenMap:
        if not isinstance(expr, st.MapExpr):
            self.fail(expr.span, f"'{name}' takes a map", f'write {name} = {{ KEY = "value" }}')
        return m.FrozenMap(tuple((k, self.conv_value(v, k)) for k, v in expr.pairs))

    def conv_value(self, expr, name):
        if isinstance(expr, (st.Str, st.Int, st.Bool)):
            return expr.value
        if isinstance(expr, st.Word):
            return expr.name
        if isinstance(expr, st.ListExpr):
            return tuple(self.conv_value(i, name) for i in expr.items)
        if isinstance(expr, st.MapExpr):
            return self.conv_map(expr, name)
        if isinstance(expr, st.Ref) and len(expr.parts) == 2 and expr.parts[0] == "config":
            return m.ConfigRef(expr.parts[1])
        if isinstance(expr, st.Concat):
            left, right = self.conv_value(expr.left, name), self.conv_value(expr.right, name)
            if type(left) is type(right) and isinstance(left, (str, tuple, int)):
                return left + right
            self.fail(expr.span, "'+' joins two strings, two lists or two numbers")
        self.fail(expr.span, f"'{name}' cannot take this value")


def expr_parts(expr) -> list:
    if isinstance(expr, st.Concat):
        return expr_parts(expr.left) + expr_parts(expr.right)
    return [expr]


def _attr(block: st.Block, name: str) -> st.Attr:
    return next(a for a in block.members if isinstance(a, st.Attr) and a.name == name)


def _form_home(member) -> str:
    return {st.FlavourDecl: "flavours", st.ConfigFieldDecl: "config"}.get(type(member), "settings")
