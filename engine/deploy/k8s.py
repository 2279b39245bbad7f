"""Kubernetes objects from service descriptions: plain dicts, one list per service.

Per service: a Deployment (a StatefulSet when it has volumes: its data needs stable storage
and one writer), a Service per port (the first named after the service, so `TINYDB_HOST=tinydb`
resolves in the namespace), a PersistentVolumeClaim per volume, a ConfigMap holding the
rendered etc/ (each file mounted with subPath over the image's own copy), readiness from the
`health` command (exec) or else the first port (tcpSocket), resource requests from
`resources`. Discovery is what `jbuild run` gives: `<NAME>_HOST` and `<NAME>_PORT` of each
required service, winning over the recipe's own env. Images are referenced by digest.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

APP = "app.kubernetes.io/name"
ETC_VOLUME = "jbuild-etc"  # not a name a recipe's volume gets: those are the claim's names


@dataclass(frozen=True)
class Deployed:
    """A service as the manifests see it: rendered, with its image's digest."""

    name: str  # tinydb
    label: str  # //db:tinydb
    image: str  # REGISTRY/NAME@sha256:...
    ports: tuple[int, ...] = ()
    env: dict = field(default_factory=dict)
    health: tuple[str, ...] | None = None  # argv, first word already a path in the image
    volumes: tuple[tuple[str, str, str], ...] = ()  # (name, size, mount)
    resources: dict = field(default_factory=dict)
    etc: dict = field(default_factory=dict)  # path under etc/ -> text
    requires: tuple[str, ...] = ()  # names of required services


def dns_name(name: str) -> str:
    """A DNS-1123 label: lower case, digits and '-', at most 63 characters."""
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return out or "service"


def variable_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def service_names(s: Deployed) -> list[str]:
    """One Service per port: the first carries the service's own name (what discovery gives)."""
    base = dns_name(s.name)
    return [base if i == 0 else f"{base}-{port}"[:63] for i, port in enumerate(s.ports)]


def manifests(services: Sequence[Deployed]) -> dict[str, list[dict]]:
    """Each service's objects, by service name, in the order they are applied."""
    by_name = {s.name: s for s in services}
    return {s.name: _objects(s, [by_name[r] for r in s.requires if r in by_name]) for s in services}


def _meta(name: str, s: Deployed) -> dict:
    return {"name": name, "labels": {APP: dns_name(s.name), "app.kubernetes.io/managed-by": "jbuild"},
            "annotations": {"jbuild.dev/target": s.label}}


def _objects(s: Deployed, required: list[Deployed]) -> list[dict]:
    base = dns_name(s.name)
    out = []
    if s.etc:
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{base}-etc", s),
                    "data": {_etc_key(rel): text for rel, text in sorted(s.etc.items())}})
    for vname, size, _ in s.volumes:
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(_claim(s, vname), s),
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}})
    for name, port in zip(service_names(s), s.ports, strict=True):
        out.append({"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, s),
                    "spec": {"selector": {APP: base},
                             "ports": [{"name": _port_name(port), "port": port, "targetPort": port, "protocol": "TCP"}]}})
    out.append(_workload(s, required))
    return out


def _workload(s: Deployed, required: list[Deployed]) -> dict:
    base = dns_name(s.name)
    stateful = bool(s.volumes)
    spec = {"replicas": 1, "selector": {"matchLabels": {APP: base}},
            "template": {"metadata": {"labels": {APP: base}},
                         "spec": {"containers": [_container(s, required)], "volumes": _volumes(s)}}}
    if not spec["template"]["spec"]["volumes"]:
        del spec["template"]["spec"]["volumes"]
    if stateful:
        spec["serviceName"] = service_names(s)[0] if s.ports else base
    return {"apiVersion": "apps/v1", "kind": "StatefulSet" if stateful else "Deployment",
            "metadata": _meta(base, s), "spec": spec}


def _container(s: Deployed, required: list[Deployed]) -> dict:
    env = dict(s.env)
    for r in required:  # discovery wins over the recipe's own variables, as in `jbuild run`
        stem = variable_stem(r.name)
        env[f"{stem}_HOST"] = service_names(r)[0] if r.ports else dns_name(r.name)
        if r.ports:
            env[f"{stem}_PORT"] = str(r.ports[0])
    c = {"name": dns_name(s.name), "image": s.image, "imagePullPolicy": "IfNotPresent"}
    if s.ports:
        c["ports"] = [{"name": _port_name(p), "containerPort": p, "protocol": "TCP"} for p in s.ports]
    if env:
        c["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    probe = _probe(s)
    if probe:
        c["readinessProbe"] = probe
    if s.resources:
        c["resources"] = {"requests": dict(sorted(s.resources.items()))}
    mounts = [{"name": dns_name(v), "mountPath": mount} for v, _, mount in s.volumes]
    mounts += [{"name": ETC_VOLUME, "mountPath": f"/etc/{rel}", "subPath": _etc_key(rel), "readOnly": True}
               for rel in sorted(s.etc)]
    if mounts:
        c["volumeMounts"] = mounts
    return c


def _probe(s: Deployed) -> dict | None:
    if s.health:
        return {"exec": {"command": list(s.health)}, "periodSeconds": 5, "timeoutSeconds": 5}
    if s.ports:
        return {"tcpSocket": {"port": s.ports[0]}, "periodSeconds": 5}
    return None


def _volumes(s: Deployed) -> list[dict]:
    out = [{"name": dns_name(v), "persistentVolumeClaim": {"claimName": _claim(s, v)}} for v, _, _ in s.volumes]
    if s.etc:
        out.append({"name": ETC_VOLUME, "configMap": {"name": f"{dns_name(s.name)}-etc"}})
    return out


def _claim(s: Deployed, volume: str) -> str:
    return f"{dns_name(s.name)}-{dns_name(volume)}"[:63].strip("-")


def _etc_key(rel: str) -> str:
    return re.sub(r"[^-._a-zA-Z0-9]", "_", rel)


def _port_name(port: int) -> str:
    return f"tcp-{port}"


def health_argv(health: str, in_root) -> tuple[str, ...]:
    argv = shlex.split(health)
    return (in_root(argv[0]), *argv[1:]) if argv else ()
