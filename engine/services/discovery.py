"""What a consumer is told about the services it requires: `<NAME>_HOST` / `<NAME>_PORT`
variables (a program reads them with getenv, no client library needed) and the same data with
every port as JSON at `$JBUILD_DISCOVERY` (for a consumer that wants all of it)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .readiness import HOST


def variable_stem(name: str) -> str:
    """`tinydb` -> `TINYDB`, `my-db.v2` -> `MY_DB_V2`."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def describe(spec) -> dict:
    return {"label": spec.label, "host": HOST, "port": spec.ports[0] if spec.ports else None,
            "ports": list(spec.ports)}


def variables(required: list) -> dict[str, str]:
    env = {}
    for spec in required:
        stem = variable_stem(spec.name)
        env[f"{stem}_HOST"] = HOST
        if spec.ports:
            env[f"{stem}_PORT"] = str(spec.ports[0])
    return env


def write(root: Path, consumer: str, required: list) -> Path:
    """The consumer's discovery file, written whole and renamed into place."""
    path = root / "discovery" / f"{consumer}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({s.name: describe(s) for s in required}, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def environment_for(spec, required: list, root: Path) -> dict[str, str]:
    """The service's environment as launched: its own, then the discovery data, which wins (a
    recipe's fixed `TINYDB_PORT` must not hide where tinydb really listens)."""
    env = dict(spec.env)
    env.update(variables(required))
    env["JBUILD_DISCOVERY"] = str(write(root, spec.name, required))
    return env
