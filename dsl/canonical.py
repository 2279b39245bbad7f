"""A target as plain data (dicts, lists, strings, ints), in one canonical shape.

`jbuild show` prints it; the engine's recipe hash is computed over (part of) it, so reformatting
or re-commenting a BUILD file, or reordering its targets, changes nothing here.
"""

from __future__ import annotations

from . import model as m


def value(v):
    if isinstance(v, tuple):
        return [value(i) for i in v]
    if isinstance(v, m.FrozenMap):
        return {k: value(x) for k, x in sorted(v.items)}
    if isinstance(v, m.ConfigRef):
        return {"config": v.key}
    return v


def requirement(r: m.Requirement) -> dict:
    out = {"label": str(r.label), "kind": r.kind.value}
    if r.constraint.terms:
        out["constraint"] = str(r.constraint)
    if r.flavours:
        out["flavours"] = dict(r.flavours)
    if r.condition:
        out["when"] = str(r.condition)[5:]
    return out


def fetched(f: m.Fetched) -> dict:
    if isinstance(f, m.Archive):
        return {"archive": f.url, "sha256": f.sha256, "strip": f.strip}
    return {"git": f.url, "commit": f.commit}


def target(t: m.Target) -> dict:
    out: dict = {"kind": t.kind, "label": str(t.label)}
    if isinstance(t, m.Test):
        out.update(command=t.command, summary=t.summary, files=list(t.files),
                   requires=[requirement(r) for r in t.requires], tags=list(t.tags))
        return out
    out.update(
        version=str(t.version) if t.version else None,
        summary=t.summary,
        flavours={f.name: {"values": list(f.values), "default": f.default} for f in t.flavours},
        files=list(t.files),
        interface=list(t.interface_files),
        requires=[requirement(r) for r in t.requires],
        build=t.build,
        exports=list(t.exports),
        config={c.name: {"type": c.type, "default": value(c.default)} for c in t.config},
        settings=[{"target": str(s.target), "key": s.key, "value": value(s.value)} for s in t.settings],
        slots=list(t.slots),
        contribute=[{"target": str(c.target), "slot": c.slot, "paths": list(c.paths)}
                    for c in t.contributions],
        tags=list(t.tags),
    )
    if t.outputs:  # only when declared: a recipe without outputs keeps its canonical form (and key)
        out["outputs"] = {o.name: list(o.paths) for o in t.outputs}
    if t.sources.fetched:  # only when declared, as etc: a recipe without them keeps its form
        out["fetch"] = [fetched(f) for f in t.sources.fetched]
    if t.patches:
        out.update(patches=list(t.patches.paths), patch_strip=t.patch_strip)
    if t.etc:  # only when declared: a recipe without templates keeps its canonical form
        out["etc"] = {tp.path: tp.text for tp in t.etc}
    if t.service:
        s = t.service
        out["service"] = {
            "command": s.command, "ports": value(s.ports), "env": {k: value(v) for k, v in sorted(s.env)},
            "volumes": [{"name": v.name, "size": v.size, "mount": v.mount} for v in s.volumes],
            "requires": [requirement(r) for r in s.requires], "health": s.health,
        }
        if s.resources:  # only when declared, like etc
            out["service"]["resources"] = {k: value(v) for k, v in sorted(s.resources)}
    if t.host_tool:
        h = t.host_tool
        out["host_tool"] = {"binaries": list(h.binaries), "version_command": h.version_command,
                            "version_regex": h.version_regex}
    return out
