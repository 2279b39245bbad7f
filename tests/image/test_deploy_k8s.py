"""`jbuild deploy --k8s` on the example: every manifest validates against a current Kubernetes
schema (kubernetes-validate, strict), and the wiring holds: each Service selects pods of a
workload, each volume has its claim, discovery variables name existing Services and ports,
images are the digests `jbuild image` gives."""

import shutil
import subprocess

import pytest
import yaml
from imagekit import built_example

kv = pytest.importorskip("kubernetes_validate", reason="a test dependency: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    ex = built_example(tmp_path_factory.mktemp("deploy"))
    out = ex.root.parent / "k8s"
    r = ex.jbuild("deploy", "//services:geotags", "--k8s", "-o", str(out), "--sandbox", "bwrap",
                  "--registry", "registry.example:5000/team")
    assert r.returncode == 0, r.stderr
    docs = {p.stem: list(yaml.safe_load_all(p.read_text())) for p in sorted(out.glob("*.yaml"))}
    return ex, out, docs


def test_every_manifest_validates_against_kubernetes(deployed):
    _, _, docs = deployed
    assert set(docs) == {"geotags", "tinydb"}
    for objects in docs.values():
        for obj in objects:
            kv.validate(obj, kv.latest_version(), strict=True)  # raises on any error


def test_kinds_per_service(deployed):
    _, _, docs = deployed
    kinds = {name: sorted(o["kind"] for o in objs) for name, objs in docs.items()}
    assert kinds["tinydb"] == ["ConfigMap", "PersistentVolumeClaim", "Service", "StatefulSet"]  # a volume: stable storage
    assert kinds["geotags"] == ["ConfigMap", "Deployment", "Service"]  # its closure holds tinydb: etc/tinydb.conf


def test_the_wiring_holds(deployed):
    _, _, docs = deployed
    objects = [o for objs in docs.values() for o in objs]
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    claims = {o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"}
    maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    for svc in services.values():
        selected = [w for w in workloads
                    if svc["spec"]["selector"].items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert len(selected) == 1, svc["metadata"]["name"]
        ports = {p["containerPort"] for c in selected[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= ports
    for w in workloads:
        assert w["spec"]["selector"]["matchLabels"].items() <= w["spec"]["template"]["metadata"]["labels"].items()
        pod = w["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            for m in c.get("volumeMounts", []):
                v = volumes[m["name"]]
                if "persistentVolumeClaim" in v:
                    assert v["persistentVolumeClaim"]["claimName"] in claims
                else:
                    assert m["subPath"] in maps[v["configMap"]["name"]]["data"]
            env = {e["name"]: e["value"] for e in c.get("env", [])}
            for var, host in env.items():
                if var.endswith("_HOST"):
                    assert host in services
                    port = int(env[var[:-5] + "_PORT"])
                    assert port in [p["port"] for p in services[host]["spec"]["ports"]]
    geotags = next(w for w in workloads if w["metadata"]["name"] == "geotags")
    env = {e["name"]: e["value"] for e in geotags["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TINYDB_HOST"] == "tinydb" and env["TINYDB_PORT"] == "7000"


def test_probes_resources_and_images_by_digest(deployed):
    ex, out, docs = deployed
    tinydb = next(o for o in docs["tinydb"] if o["kind"] == "StatefulSet")
    c = tinydb["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["tcpSocket"]["port"] == 7000
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "32Mi"}}
    etc = next(o for o in docs["tinydb"] if o["kind"] == "ConfigMap")["data"]
    assert etc == {"tinydb.conf": "port = 7000\ndata_dir = /var/lib/tinydb\n"}  # the rendered file, byte for byte
    digest = ex.image("//db:tinydb@1.4.2", ex.root.parent / "tinydb.tar")
    assert c["image"] == f"registry.example:5000/team/tinydb@{digest}"
    if shutil.which("skopeo"):  # the images the manifests name are in OUT/images, ready for skopeo copy
        r = subprocess.run(["skopeo", "inspect", f"oci:{out / 'images'}:1.4.2"], capture_output=True, text=True)
        assert r.returncode == 0 and f'"Digest": "{digest}"' in r.stdout


def test_deploy_without_a_service_is_a_clear_error(deployed):
    ex, _, _ = deployed
    r = ex.jbuild("deploy", "//libs:libc", "--k8s", "--sandbox", "bwrap")
    assert r.returncode == 2 and "has no service block" in r.stderr and "Traceback" not in r.stderr


def test_health_ports_and_names_without_a_build():
    """A health command becomes an exec probe, each port its own Service, odd names DNS labels;
    every object still validates."""
    from jbuild.engine.deploy.k8s import Deployed, manifests

    api = Deployed(name="Web_API", label="//svc:Web_API", image="r.example/web-api@sha256:" + "0" * 64,
                   ports=(8080, 9090), env={"MODE": "on"}, health=("/bin/api-ping", "8080"),
                   volumes=(("cache", "2Gi", "/var/cache/api"),), etc={"api/api.conf": "a = 1\n"})
    objects = manifests([api])["Web_API"]
    for obj in objects:
        kv.validate(obj, kv.latest_version(), strict=True)
    services = [o["metadata"]["name"] for o in objects if o["kind"] == "Service"]
    assert services == ["web-api", "web-api-9090"]
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["exec"]["command"] == ["/bin/api-ping", "8080"]
    assert {"name": "MODE", "value": "on"} in c["env"]
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/api/api.conf")
    cm = next(o for o in objects if o["kind"] == "ConfigMap")
    assert cm["data"][mount["subPath"]] == "a = 1\n"


def test_yaml_keeps_what_yaml_would_misread():
    from jbuild.engine.deploy import to_yaml

    objects = [{"v": "on", "mode": "0755", "port": "7000", "file": "a = 1\nb = 2\n", "empty": ""}]
    text = to_yaml(objects)
    assert list(yaml.safe_load_all(text)) == objects and "file: |" in text
