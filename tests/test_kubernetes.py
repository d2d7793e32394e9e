"""dnsemu on Kubernetes: the manifests under deploy/kubernetes, rendered and checked offline, and what they rely on.

* Rendering: ``kubectl kustomize`` when kubectl is installed, and always this file's own
  renderer of the simple kustomizations shipped (``resources``, ``namespace``,
  ``configMapGenerator`` without a name hash); where both run, they must agree.
* Every rendered object is validated against the Kubernetes OpenAPI schemas of an old
  and a current release (``kubernetes-validate``, offline, strict: unknown fields fail).
  The ServiceMonitor is a CRD with no schema there: it is checked against the fields
  of monitoring.coreos.com/v1 it uses, written out below.
* What the manifests promise is checked against dnsemu itself: the mounted ConfigMap's
  symlink swap is followed by the file watch; the probes' ``Host`` (the pod's IP) is
  accepted; the arguments parse as settings; the topology in the ConfigMap is the bundled one.
"""

from __future__ import annotations

import copy
import http.client
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import ROOT

from dnsemu.http.listener import HostPolicy, parse_authority
from dnsemu.server.settings import load_settings
from dnsemu.testing import Emulator

DEPLOY = ROOT / "deploy" / "kubernetes"
BUNDLED = ROOT / "dnsemu" / "estates" / "example"  # the bundled estate (zones/ of the checkout links to it)
VARIANTS = {"default": DEPLOY, "deployment": DEPLOY / "deployment", "daemonset": DEPLOY / "daemonset",
            "monitoring": DEPLOY / "monitoring"}
SCHEMA_VERSIONS = ("1.28.0", "1.37.0")  # the oldest Kubernetes the manifests are written for, and the newest here
KUBECTL = shutil.which("kubectl")


# --------------------------------------------------------------------------- rendering


def render(folder: Path) -> list[dict[str, Any]]:
    """A kustomization rendered by this file: resources (files and folders), namespace, configMapGenerator."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    allowed = {"apiVersion", "kind", "resources", "namespace", "configMapGenerator", "generatorOptions"}
    assert set(spec) <= allowed, f"{folder}: this renderer knows only {sorted(allowed)}, not {set(spec) - allowed}"
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            objects += render(path)
        else:
            assert path.is_relative_to(folder.resolve()), f"{entry}: kustomize loads no file outside {folder}"
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert spec.get("generatorOptions", {}).get("disableNameSuffixHash", False) or not spec.get("configMapGenerator")
    for generator in spec.get("configMapGenerator", []):
        data = {}
        for name in generator["files"]:
            key, _, file = name.rpartition("=") if "=" in name else (Path(name).name, "", name)
            data[key] = (folder / file).read_text()
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
        objects.append(cm)
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in ("Namespace",):
                obj.setdefault("metadata", {})["namespace"] = spec["namespace"]
    return objects


def kubectl_render(folder: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, timeout=120,
                         check=False, env={**os.environ, "KUBECONFIG": os.devnull})
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(VARIANTS[request.param])


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: only this file's renderer runs")
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_kubectl_kustomize_renders_the_same_objects(variant: str) -> None:
    ours = {key(o): o for o in render(VARIANTS[variant])}
    theirs = {key(o): o for o in kubectl_render(VARIANTS[variant])}
    assert ours == theirs


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in by_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)} found"
    return found[0]


def workload(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found = by_kind(objects, "Deployment") + by_kind(objects, "DaemonSet")
    assert len(found) == 1
    return found[0]


# --------------------------------------------------------------------------- schemas


SERVICE_MONITOR_SCHEMA: dict[str, Any] = {  # the fields of monitoring.coreos.com/v1 ServiceMonitor used here
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"],
                     "properties": {"name": {"type": "string"}, "namespace": {"type": "string"},
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "spec": {
            "type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
            "properties": {
                "selector": {"type": "object", "additionalProperties": False, "properties": {
                    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "namespaceSelector": {"type": "object", "additionalProperties": False, "properties": {
                    "matchNames": {"type": "array", "items": {"type": "string"}}, "any": {"type": "boolean"}}},
                "endpoints": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["port"], "additionalProperties": False,
                    "properties": {"port": {"type": "string"}, "path": {"type": "string"},
                                   "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                   "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                   "scheme": {"enum": ["http", "https"]}}}},
                "jobLabel": {"type": "string"},
            },
        },
    },
}


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_every_rendered_object_validates_against_the_kubernetes_schemas(
        rendered: tuple[str, list[dict[str, Any]]], version: str) -> None:
    import kubernetes_validate

    _, objects = rendered
    for obj in objects:
        if obj["apiVersion"] == "monitoring.coreos.com/v1":
            jsonschema.validate(obj, SERVICE_MONITOR_SCHEMA)
            continue
        try:
            kubernetes_validate.validate(copy.deepcopy(obj), version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{key(obj)} on Kubernetes {version}: {exc.message}") from None


def test_the_schema_check_fails_on_a_bad_object() -> None:
    import kubernetes_validate

    deployment = copy.deepcopy(workload(render(DEPLOY)))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "dns"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, SCHEMA_VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(workload(render(DEPLOY)))
    deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonroot"] = True  # a typo: strict refuses it
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, SCHEMA_VERSIONS[-1], strict=True)
    monitor = copy.deepcopy(one(render(VARIANTS["monitoring"]), "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)


# --------------------------------------------------------------------------- the objects fit together


def pod_labels(objects: list[dict[str, Any]]) -> dict[str, str]:
    return workload(objects)["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = workload(objects)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def serve_settings(objects: list[dict[str, Any]]) -> Any:
    """The container's arguments and environment, as ``dnsemu serve`` parses them."""
    from dnsemu.cli.serve import build_parser

    c = container(objects)
    flags = vars(build_parser().parse_args(c["args"]))
    env = {e["name"]: e["value"] for e in c.get("env", [])}
    return load_settings(flags, env=env)


def test_the_services_reach_the_pods_ports(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    variant, objects = rendered
    labels = pod_labels(objects)
    named = {(p["name"], p["protocol"]): p["containerPort"] for p in container(objects)["ports"]}
    dns = one(objects, "Service", "dnsemu")
    assert selects(dns["spec"]["selector"], labels)
    assert dns["spec"]["type"] == "LoadBalancer" and dns["spec"]["externalTrafficPolicy"] == "Local"
    assert {(p["port"], p["protocol"]) for p in dns["spec"]["ports"]} == {(53, "UDP"), (53, "TCP")}
    for port in dns["spec"]["ports"]:
        assert (port["targetPort"], port["protocol"]) in named
    assert dns["spec"].get("internalTrafficPolicy", "Cluster") == ("Local" if variant == "daemonset" else "Cluster")
    metrics = one(objects, "Service", "dnsemu-metrics")
    assert selects(metrics["spec"]["selector"], labels) and metrics["spec"]["clusterIP"] == "None"
    assert [(p["targetPort"], p["protocol"]) for p in metrics["spec"]["ports"]] == [("metrics", "TCP")]
    settings = serve_settings(objects)
    # the ports named in the pod are the ones dnsemu listens on
    assert named["dns", "UDP"] == named["dns-tcp", "TCP"]
    assert settings.listen_addresses == [("0.0.0.0", named["dns", "UDP"])]
    assert settings.http and settings.http_address == ("0.0.0.0", named["metrics", "TCP"])
    pdb = one(objects, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert one(objects, "Namespace")["metadata"]["name"] == "dnsemu"
    assert all(o["metadata"].get("namespace") == "dnsemu" for o in objects if o["kind"] != "Namespace")
    if variant == "monitoring":
        monitor = one(objects, "ServiceMonitor")
        assert selects(monitor["spec"]["selector"]["matchLabels"], metrics["metadata"]["labels"])
        assert not selects(monitor["spec"]["selector"]["matchLabels"], dns["metadata"]["labels"])
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in metrics["spec"]["ports"]}
        assert monitor["spec"]["namespaceSelector"]["matchNames"] == ["dnsemu"]


def test_probes_resources_security_and_spread(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    variant, objects = rendered
    c = container(objects)
    pod = workload(objects)["spec"]["template"]["spec"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    # non-root, no capability, nothing written but /tmp: a port above 1023 in the pod (the Service maps 53)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}
    settings = serve_settings(objects)
    assert all(port >= 1024 for _, port in [*settings.listen_addresses, settings.http_address])
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert "/tmp" in mounts  # multiprocessing's forkserver (--workers) keeps its socket there
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    spread = pod.get("topologySpreadConstraints", [])
    if variant == "daemonset":
        assert not spread  # one per node by construction
    else:
        assert {s["topologyKey"] for s in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert all(selects(s["labelSelector"]["matchLabels"], pod_labels(objects)) for s in spread)
        assert workload(objects)["spec"]["replicas"] >= 2


def test_the_topology_comes_from_the_configmap_mounted_whole(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    c = container(objects)
    pod = workload(objects)["spec"]["template"]["spec"]
    settings = serve_settings(objects)
    mount = next(m for m in c["volumeMounts"] if settings.topology.is_relative_to(m["mountPath"]))
    assert "subPath" not in mount, "a subPath mount never sees a ConfigMap update"
    assert mount.get("readOnly") is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    cm = one(objects, "ConfigMap", volume["configMap"]["name"])
    assert settings.topology.name in cm["data"]
    assert settings.watch, "the file watch is what follows a ConfigMap update"
    assert settings.replicated, "replicas refuse run-time changes (docs/kubernetes.md)"
    # the shipped estate is the bundled one (the package's, which the checkout's zones/ links to), zone file included
    for name, text in cm["data"].items():
        assert text == (BUNDLED / name).read_text(), \
            f"{name} differs from the bundled estate: cp dnsemu/estates/example/{name} deploy/kubernetes/base/"


def test_the_pod_environment_kubernetes_adds_does_not_disturb_the_settings() -> None:
    # without enableServiceLinks: false, a Service named dnsemu puts these into every pod of the namespace
    env = {"DNSEMU_SERVICE_HOST": "10.96.0.53", "DNSEMU_SERVICE_PORT": "53", "DNSEMU_PORT": "udp://10.96.0.53:53",
           "DNSEMU_PORT_53_UDP_PROTO": "udp", "DNSEMU_METRICS_SERVICE_PORT": "9153"}
    assert load_settings({}, env=env) == load_settings({}, env={})


def test_probes_and_scrapes_that_name_the_pod_ip_are_answered() -> None:
    # the kubelet and Prometheus connect to the pod's IP and send it as Host
    policy = HostPolicy.for_listener("0.0.0.0")
    for host in ("10.244.1.7:9153", "[fd00:10:244::7]:9153", "10.244.1.7", "localhost:9153"):
        assert policy.allows(parse_authority(host)), host
    for host in ("attacker.example:9153", "dnsemu-metrics.dnsemu.svc:9153"):
        assert not policy.allows(parse_authority(host)), host


# --------------------------------------------------------------------------- ConfigMap updates


class ConfigMapVolume:
    """A folder laid out as the kubelet lays out a ConfigMap volume, updated as the kubelet updates it.

    Every key is a symlink ``KEY -> ..data/KEY``; ``..data`` is a symlink to a timestamped
    folder holding the files. An update writes a new timestamped folder, points a new
    symlink at it, renames that over ``..data`` (one atomic step) and removes the old folder.
    """

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        self.version = 0
        root.mkdir()
        self.current = self._write(files)
        (root / "..data").symlink_to(self.current.name)
        for name in files:
            (root / name).symlink_to(Path("..data") / name)

    def _write(self, files: dict[str, str]) -> Path:
        self.version += 1
        folder = self.root / f"..2026_12_01_00_00_0{self.version}.{os.getpid()}"
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
        return folder

    def update(self, files: dict[str, str]) -> None:
        old = self.current
        self.current = self._write(files)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(self.current.name)
        os.rename(tmp, self.root / "..data")
        shutil.rmtree(old)


@pytest.fixture
def configmap(tmp_path: Path) -> Iterator[ConfigMapVolume]:
    files = {name: (BUNDLED / name).read_text() for name in ("topology.yaml", "svc.contoso.internal.zone")}
    yield ConfigMapVolume(tmp_path / "etc-dnsemu", files)


def wait_for_generation(dns: Emulator, generation: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while dns.server.generation < generation:
        assert time.monotonic() < deadline, f"still generation {dns.server.generation}"
        time.sleep(0.05)


def test_the_watch_follows_a_configmap_update(configmap: ConfigMapVolume) -> None:
    topology = (configmap.current / "topology.yaml").read_text()
    zone = (configmap.current / "svc.contoso.internal.zone").read_text()
    with Emulator(configmap.root / "topology.yaml", watch=True, watch_interval=0.05) as dns:
        assert dns.query("api.svc.contoso.internal", source="hub").addresses == ["10.0.1.10"]
        # the zone file changes, with the same size and mtime as before for good measure
        new_zone = zone.replace("10.0.1.10", "10.0.1.99")
        assert len(new_zone) == len(zone)
        configmap.update({"topology.yaml": topology, "svc.contoso.internal.zone": new_zone})
        stamp = os.stat(configmap.root / "..data" / "topology.yaml").st_mtime_ns
        os.utime(configmap.current / "svc.contoso.internal.zone", ns=(stamp, stamp))
        wait_for_generation(dns, 2)
        assert dns.query("api.svc.contoso.internal", source="hub").addresses == ["10.0.1.99"]
        # then the topology file itself
        configmap.update({"topology.yaml": topology.replace("10.0.1.4", "10.0.1.44"),
                          "svc.contoso.internal.zone": new_zone})
        wait_for_generation(dns, 3)
        assert dns.query("mystorage.blob.core.windows.net", source="hub").addresses == ["10.0.1.44"]
        # a broken update keeps the estate serving, and the next good one is taken
        configmap.update({"topology.yaml": "virtual_networks: [\n", "svc.contoso.internal.zone": new_zone})
        deadline = time.monotonic() + 30
        while dns.server.stats.reloads.get("failed", 0) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert dns.query("mystorage.blob.core.windows.net", source="hub").addresses == ["10.0.1.44"]
        configmap.update({"topology.yaml": topology, "svc.contoso.internal.zone": zone})
        wait_for_generation(dns, 4)
        assert dns.query("mystorage.blob.core.windows.net", source="hub").addresses == ["10.0.1.4"]
        dns.check()


def test_replicas_refuse_run_time_changes_and_say_how_to_change_the_estate(configmap: ConfigMapVolume) -> None:
    with Emulator(configmap.root / "topology.yaml", http=True, replicated=True) as dns:
        host, port = dns.http_url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("PUT", "/v1/public-dns-zones/example.com/records/A/www",
                         body=b'{"values": ["198.51.100.1"]}', headers={"Content-Type": "application/json"})
            reply = conn.getresponse()
            body = yaml.safe_load(reply.read())
            assert reply.status == 409 and body["error"] == "replicated"
            assert "ConfigMap" in body["message"] and "kubectl" in body["message"]
            conn.request("POST", "/v1/reset")
            reply = conn.getresponse()
            assert reply.status == 409, reply.read()
            reply.read()
            conn.request("POST", "/v1/reload")  # reading the files again is always allowed: they are the truth
            reply = conn.getresponse()
            assert reply.status == 200, reply.read()
            reply.read()
        finally:
            conn.close()
        assert dns.server.active_changes == 0


def test_the_daemonset_runs_the_deployments_pod_and_service() -> None:
    """The two variants cannot drift apart: they differ only where a DaemonSet must."""
    deployment, daemonset = render(VARIANTS["deployment"]), render(VARIANTS["daemonset"])
    pod = copy.deepcopy(workload(deployment)["spec"]["template"])
    assert pod["spec"].pop("topologySpreadConstraints")
    assert pod == workload(daemonset)["spec"]["template"]
    service = copy.deepcopy(one(daemonset, "Service", "dnsemu"))
    assert service["spec"].pop("internalTrafficPolicy") == "Local"
    assert service == one(deployment, "Service", "dnsemu")
    shared = {key(o) for o in deployment if o["kind"] not in ("Deployment", "Service")}
    assert shared == {key(o) for o in daemonset if o["kind"] not in ("DaemonSet", "Service")}
