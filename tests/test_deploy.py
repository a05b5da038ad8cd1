"""The deployment (deploy/) agrees with the code: services, ports, probes, listen address and Kafka topics.

Pure: reads the files only; no cluster, no Docker, none of the running-system fixtures of tests/conftest.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from edms_contracts.topics import ALL_TOPICS, DLQ, DOCUMENT_TOPICS
from edms_runtime.stack import SERVICES

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
INFRA = K8S / "infra"
OVERLAYS = (K8S / "overlays" / "local", K8S / "overlays" / "production")

Manifest = dict[str, Any]


# -- loading -----------------------------------------------------------------------------------------------------------
def yaml_files() -> list[Path]:
    return sorted(path for path in K8S.rglob("*") if path.is_file() and path.suffix in {".yaml", ".yml"})


def kustomization_files() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


@cache
def load_documents(path: Path) -> tuple[Any, ...]:
    with path.open(encoding="utf-8") as stream:
        return tuple(document for document in yaml.safe_load_all(stream) if document is not None)


def load_kustomization(directory: Path) -> Manifest:
    (document,) = load_documents(directory / "kustomization.yaml")
    assert isinstance(document, dict)
    return document


def _file_entries(generators: list[Manifest]) -> list[str]:
    """Files named by config/secret generators; `files` entries may be `key=path`."""
    entries: list[str] = []
    for generator in generators:
        entries.extend(generator.get("envs", []))
        entries.extend(str(entry).split("=", 1)[-1] for entry in generator.get("files", []))
    return entries


def referenced_paths(kustomization: Manifest) -> list[str]:
    """Every local path a kustomization names: resources, components, patches, generator inputs."""
    paths: list[str] = [*kustomization.get("resources", []), *kustomization.get("components", [])]
    paths.extend(patch["path"] for patch in kustomization.get("patches", []) if "path" in patch)
    paths.extend(kustomization.get("patchesStrategicMerge", []))
    paths.extend(patch["path"] for patch in kustomization.get("patchesJson6902", []) if "path" in patch)
    paths.extend(_file_entries(kustomization.get("configMapGenerator", [])))
    paths.extend(_file_entries(kustomization.get("secretGenerator", [])))
    return [path for path in paths if "://" not in path]


@cache
def declared_manifests(directory: Path) -> tuple[Manifest, ...]:
    """The objects a kustomization's `resources` declare, following nested kustomizations (patches not applied)."""
    manifests: list[Manifest] = []
    for entry in load_kustomization(directory).get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            manifests.extend(declared_manifests(target))
        else:
            manifests.extend(doc for doc in load_documents(target) if isinstance(doc, dict) and "kind" in doc)
    return tuple(manifests)


def objects(directory: Path, kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in declared_manifests(directory) if m["kind"] == kind}


def deployment(name: str) -> Manifest:
    deployments = objects(BASE, "Deployment")
    assert f"edms-{name}" in deployments, f"no Deployment edms-{name} in {BASE}"
    return deployments[f"edms-{name}"]


def service_container(name: str) -> Manifest:
    containers: list[Manifest] = deployment(name)["spec"]["template"]["spec"]["containers"]
    matching = [c for c in containers if c["name"] == name]
    assert matching, f"Deployment edms-{name} has no container named {name}"
    return matching[0]


def containers(manifest: Manifest) -> list[Manifest]:
    spec = manifest["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_values(container: Manifest) -> dict[str, Any]:
    """A container's env entries: plain values as strings, valueFrom entries as their source mapping."""
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container.get("env", [])}


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def base_settings() -> dict[str, str]:
    """The shared settings ConfigMap (edms-config) as the base kustomization generates it."""
    generators = load_kustomization(BASE).get("configMapGenerator", [])
    (generator,) = [g for g in generators if g["name"] == "edms-config"]
    settings: dict[str, str] = {}
    for env_file in generator.get("envs", []):
        settings.update(read_env_file(BASE / env_file))
    for literal in generator.get("literals", []):
        key, _, value = str(literal).partition("=")
        settings[key] = value
    return settings


def http_probe(container: Manifest, probe: str) -> tuple[str, Any]:
    assert probe in container, f"container {container['name']} has no {probe}"
    get = container[probe]["httpGet"]
    return get["path"], get["port"]


# -- files and kustomizations ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_yaml_file_under_deploy_k8s_loads_as_objects_or_patches(path: Path) -> None:
    documents = load_documents(path)
    assert documents, f"{path} is empty"
    for document in documents:
        # A manifest is a mapping; a JSON 6902 patch is a list of operations.
        assert isinstance(document, dict | list), f"{path}: unexpected document {document!r}"
        if isinstance(document, dict) and document.get("kind") not in (None, "Kustomization"):
            assert document.get("apiVersion"), f"{path}: {document['kind']} without apiVersion"
            assert document.get("metadata", {}).get("name"), f"{path}: {document['kind']} without a name"


def test_base_infra_and_overlays_are_kustomizations() -> None:
    found = {path.parent for path in kustomization_files()}
    for directory in (BASE, INFRA, *OVERLAYS):
        assert directory in found, f"{directory.relative_to(ROOT)} has no kustomization.yaml"
    for overlay in OVERLAYS:
        resources = load_kustomization(overlay).get("resources", [])
        assert "../../base" in resources, f"{overlay.name} does not build on base"


@pytest.mark.parametrize("path", kustomization_files(), ids=lambda p: str(p.parent.relative_to(K8S)))
def test_every_path_a_kustomization_names_exists(path: Path) -> None:
    kustomization = load_kustomization(path.parent)
    assert kustomization.get("resources"), f"{path} lists no resources"
    for entry in referenced_paths(kustomization):
        target = path.parent / entry
        assert target.exists(), f"{path.relative_to(ROOT)} names {entry}, which does not exist"
        if target.is_dir():
            assert (target / "kustomization.yaml").exists(), f"{entry} is a directory without kustomization.yaml"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with built-in kustomize) is not installed")
@pytest.mark.parametrize("path", kustomization_files(), ids=lambda p: str(p.parent.relative_to(K8S)))
def test_every_kustomization_builds_with_kubectl_kustomize(path: Path) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(path.parent)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert list(yaml.safe_load_all(result.stdout)), "kustomize produced nothing"


# -- services ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "port"), SERVICES.items())
def test_every_service_has_a_deployment_probed_on_its_port(name: str, port: int) -> None:
    container = service_container(name)
    assert http_probe(container, "readinessProbe") == ("/ready", port)
    assert http_probe(container, "livenessProbe") == ("/health", port)
    assert http_probe(container, "startupProbe")[1] == port
    assert port in [p["containerPort"] for p in container.get("ports", [])]
    env = env_values(container)
    assert env.get("EDMS_SERVICE") == name
    assert env.get(f"EDMS_{name.upper()}_PORT") == str(port)
    assert container["resources"]["requests"], f"{name}: no resource requests"
    assert container["resources"]["limits"], f"{name}: no resource limits"
    pod = deployment(name)["spec"]["template"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize(("name", "port"), SERVICES.items())
def test_every_service_has_a_kubernetes_service_selecting_its_pods(name: str, port: int) -> None:
    services = objects(BASE, "Service")
    assert f"edms-{name}" in services, f"no Service edms-{name}"
    spec = services[f"edms-{name}"]["spec"]
    pod_labels: dict[str, str] = deployment(name)["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"].items() <= pod_labels.items(), f"Service edms-{name} does not select its pods"
    assert port in [p["port"] for p in spec["ports"]]


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_cpu_autoscaler_and_a_disruption_budget(name: str) -> None:
    autoscalers = objects(BASE, "HorizontalPodAutoscaler")
    assert f"edms-{name}" in autoscalers, f"no HorizontalPodAutoscaler edms-{name}"
    hpa = autoscalers[f"edms-{name}"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"edms-{name}"}
    cpu = [m["resource"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
    assert {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}} in cpu
    assert f"edms-{name}" in objects(BASE, "PodDisruptionBudget"), f"no PodDisruptionBudget edms-{name}"


def test_deployments_are_exactly_the_services_of_the_stack() -> None:
    names = {env_values(c).get("EDMS_SERVICE") for d in objects(BASE, "Deployment").values() for c in containers(d)}
    assert names == set(SERVICES)


def test_every_container_listens_on_all_interfaces() -> None:
    """The services default to 127.0.0.1, which a probe or a Service cannot reach in a pod."""
    found = [
        (m["metadata"]["name"], container)
        for path in yaml_files()
        for m in load_documents(path)
        if isinstance(m, dict) and m.get("kind") == "Deployment"
        for container in containers(m)
    ]
    assert len(found) >= len(SERVICES)
    for deployment_name, container in found:
        env = env_values(container)
        service = env.get("EDMS_SERVICE")
        assert service in SERVICES, f"{deployment_name}/{container['name']}: EDMS_SERVICE is {service!r}"
        host = f"EDMS_{service.upper()}_HOST"
        assert env.get(host) == "0.0.0.0", f"{deployment_name}/{container['name']}: {host} is {env.get(host)!r}"


def test_services_get_database_and_token_key_from_secrets() -> None:
    cluster = next(iter(objects(INFRA, "Cluster")))
    for name in SERVICES:
        env = env_values(service_container(name))
        assert env["EDMS_DATABASE_URL"] == {"secretKeyRef": {"name": f"{cluster}-app", "key": "uri"}}
        assert "secretKeyRef" in env["EDMS_JWT_PUBLIC_KEY"]
        config_maps = [s["configMapRef"]["name"] for s in service_container(name).get("envFrom", [])]
        assert "edms-config" in config_maps


def test_shared_settings_point_at_the_strimzi_bootstrap_service() -> None:
    settings = base_settings()
    (kafka,) = objects(INFRA, "Kafka").values()
    plain = [listener["port"] for listener in kafka["spec"]["kafka"]["listeners"] if not listener["tls"]]
    assert settings["EDMS_KAFKA_BOOTSTRAP"] in {f"{kafka['metadata']['name']}-kafka-bootstrap:{p}" for p in plain}
    assert {"EDMS_JWT_ISSUER", "EDMS_JWT_AUDIENCE"} <= settings.keys()
    assert all(key.startswith("EDMS_") for key in settings)


# -- infrastructure ----------------------------------------------------------------------------------------------------
def test_kafka_topics_equal_the_contract_topics_and_partitions() -> None:
    topics = objects(INFRA, "KafkaTopic").values()
    declared = [t["spec"].get("topicName", t["metadata"]["name"]) for t in topics]
    assert len(declared) == len(set(declared)), f"a topic is declared twice: {sorted(declared)}"
    partitions = {t["spec"].get("topicName", t["metadata"]["name"]): t["spec"]["partitions"] for t in topics}
    assert partitions == {topic.name: topic.partitions for topic in ALL_TOPICS}


def test_kafka_topics_are_replicated_document_topics_keep_history_and_dead_letters_outlive_exchange() -> None:
    """Document topics are read from the beginning by `edms replay` (issue 6 item 7): their history is kept."""
    (kafka_name,) = objects(INFRA, "Kafka")
    topics = {t["spec"].get("topicName", t["metadata"]["name"]): t for t in objects(INFRA, "KafkaTopic").values()}
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka_name, name
        assert topic["spec"]["replicas"] == 3, name
        assert int(topic["spec"]["config"]["min.insync.replicas"]) == 2, name
    retention = {name: int(t["spec"]["config"]["retention.ms"]) for name, t in topics.items()}
    documents = {topic.name for topic in DOCUMENT_TOPICS}
    assert {name: retention[name] for name in documents} == dict.fromkeys(documents, -1)
    dlq = retention.pop(DLQ.name)
    assert all(dlq > ms for name, ms in retention.items() if name not in documents), retention


def test_kafka_runs_kraft_node_pools_with_three_replicas() -> None:
    (kafka_name,) = objects(INFRA, "Kafka")
    pools = list(objects(INFRA, "KafkaNodePool").values())
    assert pools, "KRaft needs at least one KafkaNodePool"
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == kafka_name for p in pools)
    assert sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"]) == 3
    assert any("controller" in p["spec"]["roles"] for p in pools)


def test_postgres_and_elasticsearch_clusters_have_three_members() -> None:
    (cluster,) = objects(INFRA, "Cluster").values()
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["bootstrap"]["initdb"]["database"] == "edms"
    assert cluster["spec"]["bootstrap"]["initdb"]["owner"] == "edms"
    (elasticsearch,) = objects(INFRA, "Elasticsearch").values()
    assert elasticsearch["apiVersion"] == "elasticsearch.k8s.elastic.co/v1"
    assert sum(node_set["count"] for node_set in elasticsearch["spec"]["nodeSets"]) == 3


# -- image -------------------------------------------------------------------------------------------------------------
def test_dockerfile_installs_every_package_and_exposes_every_service_port() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "-c constraints.txt" in dockerfile
    for package in ("contracts", "runtime", *(f"services/{name}" for name in SERVICES)):
        assert f"./{package}" in dockerfile, f"the image does not install {package}"
    exposed = {int(port) for line in re.findall(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE) for port in line.split()}
    assert exposed == set(SERVICES.values())
    for name in SERVICES:
        assert f"EDMS_{name.upper()}_HOST=0.0.0.0" in dockerfile
    assert re.search(r"^USER \d+", dockerfile, re.MULTILINE), "the image must run as a numeric non-root user"
    entrypoint = (DEPLOY / "docker-entrypoint.sh").read_text(encoding="utf-8")
    (listed,) = re.findall(r'^SERVICES="([^"]*)"', entrypoint, re.MULTILINE)
    assert listed.split() == list(SERVICES)
