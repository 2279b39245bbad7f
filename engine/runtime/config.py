"""Self-integration inside an environment: config values, settings of other packages,
`--set`, config rendered into etc/ and service commands, and slots filled by contributions.

Pure functions over loaded packages (DESIGN §2 and §10): nothing here reads the store or the
filesystem, so the environment assembler and `jbuild run` call them with what they resolved.
Config never enters a build key; what is computed here only shapes environments.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from jbuild.base.errors import BadInput
from jbuild.base.spelling import did_you_mean
from jbuild.dsl import interpolate
from jbuild.dsl.labels import Label, LabelError, parse_label
from jbuild.dsl.model import ConfigField, ConfigRef, Package, Service, type_name

ConfigValue = Union[str, int, bool, tuple]
ConfigKey = tuple[Label, str]  # (the package whose config it is, the key)

CC = Label("std", "host", "cc")
# What each slot of a standard tool becomes in `jbuild env shell`: the variables gcc and
# clang read. Run-time linking needs nothing here: the environment's launchers handle it.
TOOLCHAIN_VARIABLES: dict[tuple[Label, str], tuple[str, ...]] = {
    (CC, "include_dirs"): ("C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH"),
    (CC, "library_dirs"): ("LIBRARY_PATH",),
}


def _problem(message: str, help: str | None = None) -> BadInput:
    return BadInput(message + (f"\nhelp: {help}" if help else ""))


# ---------------------------------------------------------------- config values


def resolve_config(packages: Iterable[Package],
                   overrides: Mapping[ConfigKey, ConfigValue] | None = None) -> dict[Label, dict[str, ConfigValue]]:
    """Each package's config: its defaults < `settings` of the environment's other packages <
    `overrides` (from `--set`). A setting for a package the environment does not hold is inert
    (a tuning package outlives the database it tunes). A key without default, setting or
    override is absent: rendering a reference to it is the error. `packages` hold one
    package per label (the resolver's pick of each family)."""
    by_label = {p.label: p for p in packages}
    values = {p.label: {f.name: f.default for f in p.config if f.default is not None} for p in by_label.values()}
    chosen: dict[ConfigKey, tuple[ConfigValue, Package, object]] = {}
    for setter in sorted(by_label.values(), key=lambda p: p.label):
        for s in setter.settings:
            if s.target not in by_label:
                continue
            field = _field(by_label[s.target], s.key, f"{setter.label} sets")
            _check_type(field, s.value, f"{s.span}: {setter.label} sets {s.target}.{s.key}")
            key = (s.target, s.key)
            if key in chosen and chosen[key][0] != s.value and key not in (overrides or {}):
                first_value, first, first_span = chosen[key]
                raise _problem(
                    f"two packages set {s.target}.{s.key} differently:\n"
                    f"  {first_span}: {first.label} sets it to {_shown(first_value)}\n"
                    f"  {s.span}: {setter.label} sets it to {_shown(s.value)}",
                    f"remove one of the settings, or decide on the command line with "
                    f"--set {s.target}.{s.key}=VALUE")
            chosen[key] = (s.value, setter, s.span)
            values[s.target][s.key] = s.value
    for (label, key), value in (overrides or {}).items():
        if label not in by_label:
            raise _problem(f"--set {label}.{key}: {label} is not in this environment",
                           did_you_mean(str(label), map(str, by_label)))
        _check_type(_field(by_label[label], key, "--set"), value, f"--set {label}.{key}")
        values[label][key] = value
    return values


def _field(package: Package, key: str, who: str) -> ConfigField:
    found = next((f for f in package.config if f.name == key), None)
    if found is None:
        keys = [f.name for f in package.config]
        raise _problem(f"{who} {package.label}.{key}, but {package.label} has no config key '{key}'",
                       did_you_mean(key, keys) or f"its config keys: {', '.join(keys) or 'none'}")
    return found


def _check_type(field: ConfigField, value, where: str) -> None:
    if not field.accepts(value):
        raise _problem(f"{where}: '{field.name}' is {field.type}, not {type_name(value)} ({_shown(value)})")


def _shown(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return interpolate.render_value(value) if not isinstance(value, tuple) else \
        "[" + ", ".join(_shown(v) for v in value) + "]"


# ---------------------------------------------------------------- --set


_SET = re.compile(r"(?P<target>[^=]*)\.(?P<key>[A-Za-z_][A-Za-z0-9_\-]*)=(?P<value>.*)\Z", re.DOTALL)
_INT = re.compile(r"[+-]?[0-9]+\Z")
_BOOLS = {"true": True, "false": False}


def parse_set(text: str, packages: Iterable[Package], current_package: str = "") -> tuple[ConfigKey, ConfigValue]:
    """`//db:tinydb.port=22333` -> ((//db:tinydb, "port"), 22333), the value typed by the key's
    declared type. `packages` are the environment's: the label must be one of them."""
    example = "e.g. --set //db:tinydb.port=22333"
    m = _SET.match(text)
    if m is None:
        raise _problem(f"--set '{text}': expected LABEL.KEY=VALUE", example)
    try:
        vl = parse_label(m["target"], current_package)
    except LabelError as exc:
        raise _problem(f"--set '{text}': {exc}", exc.help or example) from None
    if vl.version:
        raise _problem(f"--set '{text}': name the package without a version", f"write --set {vl.label}.{m['key']}=...")
    by_label = {p.label: p for p in packages}
    package = by_label.get(vl.label)
    if package is None:
        configurable = sorted(str(p.label) for p in by_label.values() if p.config)
        raise _problem(f"--set '{text}': {vl.label} is not in this environment",
                       did_you_mean(str(vl.label), configurable)
                       or f"packages with config here: {', '.join(configurable) or 'none'}")
    field = _field(package, m["key"], "--set")
    return (vl.label, field.name), _typed(field, m["value"], text)


def _typed(field: ConfigField, raw: str, text: str) -> ConfigValue:
    if field.type == "int":
        if not _INT.match(raw.strip()):
            raise _problem(f"--set '{text}': '{field.name}' is an int, and '{raw}' is not a number",
                           f"e.g. --set {text.rsplit('=', 1)[0]}=8080" if "=" in text else None)
        return int(raw)
    if field.type == "bool":
        if raw.strip().lower() not in _BOOLS:
            raise _problem(f"--set '{text}': '{field.name}' is a bool: write true or false, not '{raw}'")
        return _BOOLS[raw.strip().lower()]
    if field.type == "list":
        return tuple(item.strip() for item in raw.split(",")) if raw.strip() else ()
    return raw


# ---------------------------------------------------------------- rendering


def render_etc(package: Package, config: Mapping[str, ConfigValue]) -> dict[str, str]:
    """The package's etc/ files (path relative to etc/ -> text) with its config substituted."""
    return {t.path: _substitute(t.text, config, package.label, f"{t.span}: etc/{t.path}") for t in package.etc}


@dataclass(frozen=True)
class RenderedService:
    """A service with its config applied: what `jbuild run` starts."""

    command: str
    ports: tuple[int, ...]
    env: dict[str, str]
    health: str | None


def render_command(service: Service, config: Mapping[str, ConfigValue], owner: Label | None = None) -> RenderedService:
    """`${config.KEY}` substituted in the command, health and env; `config.KEY` values resolved;
    ports are ints and env values strings."""
    who = owner or "this service"
    where = f"{service.span}: the service of {who}" if service.span else f"the service of {who}"
    def text(value) -> str:
        return _substitute(interpolate.render_value(value), config, owner, where)

    env = {k: text(_value(v, config, owner, where)) for k, v in service.env}
    ports = tuple(_port(text(_value(p, config, owner, where)), where) for p in service.ports)
    return RenderedService(text(service.command), ports, env, text(service.health) if service.health else None)


def _value(v, config, owner, where):
    """A literal, or a `config.KEY` reference resolved."""
    if isinstance(v, ConfigRef):
        if v.key not in config:
            raise _missing(v.key, owner, where)
        v = config[v.key]
    return v


def _port(value: str, where: str) -> int:
    if value.isdigit() and 0 < int(value) < 65536:
        return int(value)
    raise _problem(f"{where}: port '{value}' is not a port number (1-65535)")


def _substitute(text: str, config, owner, where: str) -> str:
    try:
        return interpolate.substitute(text, config)
    except KeyError as exc:
        raise _missing(exc.args[0], owner, where) from None


def _missing(key: str, owner, where: str) -> BadInput:
    return _problem(f"{where} uses config.{key}, which has no value (no default, setting or --set)",
                    f"give it a default, or --set {owner or 'LABEL'}.{key}=VALUE")


# ---------------------------------------------------------------- slots


def slot_values(packages: Iterable[Package], entry_paths: Mapping[Label, Path | str]) -> dict[ConfigKey, list[str]]:
    """(slot owner, slot) -> absolute paths contributed to it by the environment's packages,
    each inside its contributor's entry (or wherever `entry_paths` says it is). Every slot of
    the environment's packages is present, empty if nobody contributed; a contribution to a
    package not in the environment is inert, like a setting."""
    by_label = {p.label: p for p in packages}
    out: dict[ConfigKey, list[str]] = {(p.label, s): [] for p in by_label.values() for s in p.slots}
    for p in sorted(by_label.values(), key=lambda p: p.label):
        for c in p.contributions:
            if c.target not in by_label:
                continue
            key = (c.target, c.slot)
            if key not in out:
                slots = by_label[c.target].slots
                raise _problem(f"{c.span}: {p.label} contributes to {c.target}.{c.slot}, which is not a slot",
                               did_you_mean(c.slot, slots) or f"its slots: {', '.join(slots) or 'none'}")
            if p.label not in entry_paths:
                raise ValueError(f"slot_values: no entry path for {p.label}")
            root = os.path.abspath(entry_paths[p.label])
            for rel in c.paths:
                path = os.path.normpath(os.path.join(root, rel))
                if path not in out[key]:
                    out[key].append(path)
    return out


def toolchain_environment(slots: Mapping[ConfigKey, list[str]]) -> dict[str, str]:
    """The variables `jbuild env shell` exports so the standard compiler finds the headers and
    libraries packages contributed (TOOLCHAIN_VARIABLES); only those with a value."""
    env: dict[str, str] = {}
    for key, names in TOOLCHAIN_VARIABLES.items():
        paths = slots.get(key, [])
        if paths:
            for name in names:
                env[name] = os.pathsep.join(paths)
    return env


def environment_etc(packages: Iterable[Package], overrides: Mapping[ConfigKey, ConfigValue] | None = None
                    ) -> dict[str, str]:
    """An environment's etc/: every package's templates rendered with its resolved config. Two
    packages rendering the same path is an error naming both."""
    packages = list(packages)
    config = resolve_config(packages, overrides)
    out: dict[str, str] = {}
    owner: dict[str, Label] = {}
    for package in packages:
        for path, text in render_etc(package, config.get(package.label, {})).items():
            if path in owner and owner[path] != package.label:
                raise BadInput(f"{owner[path]} and {package.label} both render etc/{path}")
            out[path], owner[path] = text, package.label
    return out
