"""Lowering of the blocks nested in a package: `flavours`, `config`, `settings`, `contribute`,
`service` (with its volumes) and `host_tool`; and the check of `config.KEY` references."""

from __future__ import annotations

from . import interpolate, schema
from . import model as m
from . import syntax as st
from .errors import did_you_mean
from .lower_values import Skip, Values


class Blocks(Values):
    """Needs `attrs` (lowering.py) for blocks that hold attributes, and `config_names`."""

    config_names: set[str]

    def single(self, kind, blocks):
        for extra in blocks[1:]:
            self.error(extra.span, f"a second '{kind}' block", f"merge it into the first, at {blocks[0].span}")
        return blocks[0]

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
            except Skip:
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
            except Skip:
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
            except Skip:
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
            except Skip:
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
