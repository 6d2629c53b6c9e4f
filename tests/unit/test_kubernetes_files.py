"""deploy/kubernetes cannot rot unnoticed: no cluster runs here, so — as test_deploy_files.py
does for docker-compose.yml — the manifests are parsed and checked against the real CLI, the
real settings and the ACL matrix: every part its own Deployment, processors scaled no further
than the partitions, secrets only from Secrets, probes on the health endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pensionx.acl import load_matrix
from pensionx.runner import PARTS
from pensionx.settings import VARIABLES
from tests.unit.test_deploy_files import _is_real_pensionx_command

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
SETTINGS = {v.env for v in VARIABLES}
SECRET_SETTINGS = {v.env for v in VARIABLES if v.secret} | {"PENSIONX_KAFKA_SASL_PASSWORD"}


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text("utf-8")) if d]


def _applied() -> list[dict[str, Any]]:
    """Every object `kubectl apply -k deploy/kubernetes` creates."""
    kustomization = _docs("kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in _docs(name)]


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in _applied() if d["kind"] == kind]


def _config() -> dict[str, str]:
    (config,) = [c for c in _of_kind("ConfigMap") if c["metadata"]["name"] == "pensionx-config"]
    data: dict[str, str] = config["data"]
    return data


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    return containers


def _deployments() -> dict[str, dict[str, Any]]:
    """The Deployments by the part their `pensionx run --only <part>` runs."""
    out = {}
    for deployment in _of_kind("Deployment"):
        (container,) = _containers(deployment)
        command = container["command"]
        assert command[:4] == ["pensionx", "run", "--only", command[3]], command
        out[command[3]] = deployment
    return out


def test_kustomization_applies_every_manifest_but_the_secrets_example() -> None:
    listed = set(_docs("kustomization.yaml")[0]["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"secrets.example.yaml"}
    assert not _of_kind("Secret"), "no placeholder secret may be applied to a cluster"


def test_each_part_is_its_own_deployment() -> None:
    assert sorted(_deployments()) == sorted(PARTS)


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_every_command_is_a_real_pensionx_command(kind: str) -> None:
    for workload in _of_kind(kind):
        for container in _containers(workload):
            command = container["command"]
            assert _is_real_pensionx_command(command), f"{command} is not a pensionx command"


def test_every_pensionx_variable_is_a_real_setting_and_no_secret_is_written_in() -> None:
    config = _config()
    assert set(config) <= SETTINGS, sorted(set(config) - SETTINGS)
    assert not set(config) & SECRET_SETTINGS, "secrets belong in Secrets, not the ConfigMap"
    for workload in _of_kind("Deployment") + _of_kind("Job"):
        for container in _containers(workload):
            for env in container.get("env", []):
                assert env["name"] in SETTINGS, env["name"]
                if env["name"] in SECRET_SETTINGS:
                    assert "value" not in env, f"{env['name']} written into a manifest"
                    assert "secretKeyRef" in env["valueFrom"], env


def test_every_referenced_secret_is_documented_in_the_example() -> None:
    example = {d["metadata"]["name"]: d for d in _docs("secrets.example.yaml")}
    for workload in _of_kind("Deployment") + _of_kind("Job"):
        spec = workload["spec"]["template"]["spec"]
        for container in spec["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in example[ref["name"]]["stringData"], ref
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in example


def test_the_database_and_sasl_credentials_come_from_secrets() -> None:
    """SASL_SSL in the ConfigMap, so every Kafka client needs its user's password; every part
    needs the database (the web page's store, the embedded registry's schema ids)."""
    assert _config()["PENSIONX_KAFKA_SECURITY_PROTOCOL"].startswith("SASL_")
    principals = {p.principal for p in load_matrix().principals}
    for part, deployment in _deployments().items():
        env = {e["name"]: e for e in _containers(deployment)[0].get("env", [])}
        assert "secretKeyRef" in env["PENSIONX_DATABASE_URL"]["valueFrom"], part
        if part == "web":
            continue  # the web page reads the database only
        user = env["PENSIONX_KAFKA_SASL_USERNAME"]["value"]
        assert f"User:{user}" in principals, f"{part}: {user} is not in deploy/acl-matrix.yaml"
        assert "secretKeyRef" in env["PENSIONX_KAFKA_SASL_PASSWORD"]["valueFrom"], part


def test_probes_use_the_health_endpoints_on_the_metrics_port() -> None:
    port = int(_config()["PENSIONX_METRICS_PORT"])
    for part, deployment in _deployments().items():
        (container,) = _containers(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == port, part
        assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
        assert "--host" in container["command"], f"{part}: a probe cannot reach 127.0.0.1"
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)


def test_processors_scale_no_further_than_the_partitions() -> None:
    partitions = int(_config()["PENSIONX_PARTITIONS"])
    deployments = _deployments()
    scalers = {h["spec"]["scaleTargetRef"]["name"]: h for h in _of_kind("HorizontalPodAutoscaler")}
    for part in ("conflicts", "prompts", "sinks"):
        name = deployments[part]["metadata"]["name"]
        assert deployments[part]["spec"]["replicas"] <= partitions
        assert name in scalers, f"{part} is scaled by an autoscaler"
        assert 1 <= scalers[name]["spec"]["minReplicas"] <= scalers[name]["spec"]["maxReplicas"]
        assert scalers[name]["spec"]["maxReplicas"] <= partitions, f"{part}: idle replicas"
    assert deployments["connectors"]["spec"]["replicas"] == 1, "one inbox watcher"


def test_services_select_pods_and_target_ports_that_exist() -> None:
    pods = [
        (d["spec"]["template"]["metadata"]["labels"], _containers(d)[0])
        for d in _of_kind("Deployment")
    ]
    for service in _of_kind("Service"):
        selector = service["spec"]["selector"]
        matched = [c for labels, c in pods if selector.items() <= labels.items()]
        assert matched, f"{service['metadata']['name']} selects no pod"
        names = {p["name"] for c in matched for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names, (service["metadata"]["name"], port)


def test_the_web_page_reads_metrics_from_services_that_exist() -> None:
    services = {s["metadata"]["name"]: s for s in _of_kind("Service")}
    env = {e["name"]: e for e in _containers(_deployments()["web"])[0]["env"]}
    for url in env["PENSIONX_METRICS_SOURCES"]["value"].split(","):
        host_port = url.removeprefix("http://").split("/", 1)[0]
        host, port = host_port.split(":")
        assert host in services, url
        assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}, url
