"""deploy/k8s: the kustomize base and the production overlay render, every manifest is valid
for Kubernetes, and what they run matches the image and the code (commands, settings)."""

from __future__ import annotations

import base64
import copy
import os
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from tessera.main.settings import ConfigError, load_settings
from tessera.shared.adapters.redis_topology import (
    ClusterTopology,
    SentinelTopology,
    SingleTopology,
)
from tests.deploy.conftest import Manifests
from tests.deploy.tools import PRODUCTION_OVERLAY, SETTING_NAMES, parse_tessera_args, walk

OLDEST_KUBERNETES = "1.30.0"
WORKLOADS = ("Deployment", "Job")


def find(manifests: Manifests, kind: str, name: str) -> dict[str, Any]:
    for doc in manifests:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} named {name!r} in the rendering")


def config_map(manifests: Manifests) -> dict[str, Any]:
    (found,) = [
        doc
        for doc in manifests
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("tessera-config")
    ]
    return found


def secret_values(secret: dict[str, Any]) -> dict[str, str]:
    decoded = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return decoded | dict(secret.get("stringData", {}))


def pod_specs(manifests: Manifests) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in manifests:
        if doc["kind"] in WORKLOADS:
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def container(manifests: Manifests, workload: str) -> dict[str, Any]:
    kind = "Job" if workload == "tessera-migrate" else "Deployment"
    (only,) = find(manifests, kind, workload)["spec"]["template"]["spec"]["containers"]
    return dict(only)


def real_looking_secrets() -> dict[str, str]:
    return {
        "DATABASE_URL": "postgresql://tessera_app:pw@db.internal:5432/tessera",
        "REDIS_URL": "rediss://:pw@redis.internal:6379/0",
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "DATA_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example-secret",
        "SMTP_USERNAME": "tessera",
        "SMTP_PASSWORD": "example-password",
    }


def test_base_and_production_render_every_piece_the_spec_asks_for(manifests: Manifests) -> None:
    rendered = {(doc["kind"], doc["metadata"]["name"]) for doc in manifests}
    expected = {
        ("Deployment", "tessera-api"),
        ("Service", "tessera-api"),
        ("HorizontalPodAutoscaler", "tessera-api"),
        ("PodDisruptionBudget", "tessera-api"),
        ("Deployment", "tessera-worker"),
        ("PodDisruptionBudget", "tessera-worker"),
        ("Deployment", "tessera-scheduler"),
        ("PodDisruptionBudget", "tessera-scheduler"),
        ("Job", "tessera-migrate"),
        ("Secret", "tessera-secrets"),
        ("Secret", "tessera-migration-secrets"),
        ("Ingress", "tessera-api"),
        ("Ingress", "tessera-websocket"),
        ("NetworkPolicy", "tessera-default-deny"),
    }
    assert expected <= rendered
    assert config_map(manifests)["data"]


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, kubernetes_validate.latest_version()])
def test_every_rendered_manifest_is_valid_against_the_kubernetes_schemas(
    manifests: Manifests, version: str
) -> None:
    problems = []
    for doc in manifests:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {error.message}")
    assert problems == []


def test_schema_validation_rejects_a_misspelt_field(base_manifests: Manifests) -> None:
    api = copy.deepcopy(find(base_manifests, "Deployment", "tessera-api"))
    api["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(api, kubernetes_validate.latest_version(), strict=True)


def test_api_liveness_asks_health_readiness_health_ready_and_it_drains_before_stopping(
    manifests: Manifests,
) -> None:
    api = container(manifests, "tessera-api")
    assert api["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert api["startupProbe"]["httpGet"]["path"] == "/health"
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    pre_stop = api["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    pod = find(manifests, "Deployment", "tessera-api")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + 30


def test_every_pod_runs_as_the_images_user_with_a_read_only_root_and_a_writable_tmp(
    manifests: Manifests,
) -> None:
    for name, pod in pod_specs(manifests):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name  # USER in deploy/Dockerfile
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for box in pod["containers"]:
            context = box["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            (tmp,) = [m for m in box["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]], name
            for bound in ("requests", "limits"):
                assert set(box["resources"][bound]) == {"cpu", "memory"}, (name, bound)


def test_containers_run_commands_the_tessera_cli_accepts(manifests: Manifests) -> None:
    serve = parse_tessera_args(container(manifests, "tessera-api")["args"])
    assert serve.command_path == "tessera serve"
    assert serve.params["host"] == "0.0.0.0"
    assert serve.params["port"] == 8000
    worker_box = container(manifests, "tessera-worker")
    worker = parse_tessera_args(worker_box["args"])
    assert worker.command_path == "tessera worker"
    assert [worker.params["metrics_port"]] == [p["containerPort"] for p in worker_box["ports"]]
    scheduler = parse_tessera_args(container(manifests, "tessera-scheduler")["args"])
    assert scheduler.command_path == "tessera scheduler"
    migrate = parse_tessera_args(container(manifests, "tessera-migrate")["args"])
    assert (migrate.command_path, migrate.params) == (
        "tessera migrate upgrade",
        {"revision": "head"},
    )


def test_two_schedulers_run_apart_and_a_drain_takes_one_at_a_time(manifests: Manifests) -> None:
    """They share a lease (issue 20), so two may run, and a rollout may briefly run three."""
    scheduler = find(manifests, "Deployment", "tessera-scheduler")
    assert scheduler["spec"]["replicas"] == 2
    assert scheduler["spec"]["strategy"]["type"] == "RollingUpdate"
    labels = scheduler["spec"]["template"]["metadata"]["labels"]
    (spread,) = scheduler["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"].items() <= labels.items()
    pdb = find(manifests, "PodDisruptionBudget", "tessera-scheduler")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == scheduler["spec"]["selector"]["matchLabels"]


def test_every_process_runs_at_least_twice_and_the_migration_once(manifests: Manifests) -> None:
    """SPEC: every process kind runs at least twice in production (issue 20)."""
    hpa = find(manifests, "HorizontalPodAutoscaler", "tessera-api")
    assert hpa["spec"]["minReplicas"] >= 2
    for name in ("tessera-worker", "tessera-scheduler"):
        deployment = find(manifests, "Deployment", name)
        assert deployment["spec"]["replicas"] >= 2, name
        # Apart where the nodes allow it: one node's loss leaves one running.
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        hosts = [rule for rule in spread if rule["topologyKey"] == "kubernetes.io/hostname"]
        assert hosts, name
        assert hosts[0]["labelSelector"]["matchLabels"].items() <= labels.items(), name
        # Node drains take one at a time.
        pdb = find(manifests, "PodDisruptionBudget", name)["spec"]
        assert pdb["maxUnavailable"] == 1, name
        assert pdb["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    job = find(manifests, "Job", "tessera-migrate")["spec"]
    assert job.get("parallelism", 1) == job.get("completions", 1) == 1


def _redis_variants() -> dict[str, dict[str, str]]:
    """secrets.env.example's Redis settings: the one set, and each commented alternative."""
    text = (PRODUCTION_OVERLAY / "secrets.env.example").read_text()
    variants: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        setting = line.removeprefix("#")
        name, equals, value = setting.partition("=")
        if equals and name.startswith("REDIS_"):
            kind = "cluster" if "CLUSTER" in name else "sentinel" if "SENTINEL" in name else "one"
            variants.setdefault(kind, {})[name] = value.replace("REPLACE-ME", "pw")
    return variants


def test_every_redis_topology_in_the_secrets_example_passes_the_settings_validation(
    production_manifests: Manifests,
) -> None:
    variants = _redis_variants()
    assert set(variants) == {"one", "sentinel", "cluster"}
    policy = find(production_manifests, "NetworkPolicy", "tessera-egress-backing-services")
    allowed = {port["port"] for port in policy["spec"]["egress"][0]["ports"]}
    expected = {"one": SingleTopology, "sentinel": SentinelTopology, "cluster": ClusterTopology}
    for kind, redis_settings in variants.items():
        environ = config_map(production_manifests)["data"] | real_looking_secrets()
        del environ["REDIS_URL"]
        topology = load_settings(environ | redis_settings, dotenv_path=None).redis
        assert isinstance(topology, expected[kind]), kind
        # The network policy lets the pods reach every address the variant names.
        if isinstance(topology, SentinelTopology):
            ports = {port for _host, port in topology.sentinels}
        else:
            assert topology is not None, kind
            ports = {urlsplit(topology.url).port or 6379}
        assert ports <= allowed, kind


def test_every_reference_to_config_and_secrets_resolves(manifests: Manifests) -> None:
    config_name = config_map(manifests)["metadata"]["name"]
    secret_keys = {
        doc["metadata"]["name"]: set(secret_values(doc))
        for doc in manifests
        if doc["kind"] == "Secret"
    }
    for name, pod in pod_specs(manifests):
        for box in pod["containers"]:
            sources = box["envFrom"]
            assert {"configMapRef": {"name": config_name}} in sources, name
            assert {"secretRef": {"name": "tessera-secrets"}} in sources, name
            for variable in box.get("env", []):
                ref = variable["valueFrom"]["secretKeyRef"]
                assert ref["key"] in secret_keys[ref["name"]], (name, ref)


def test_config_and_secret_keys_are_settings_tessera_reads(manifests: Manifests) -> None:
    keys = set(config_map(manifests)["data"])
    for doc in manifests:
        if doc["kind"] == "Secret":
            keys |= set(secret_values(doc))
    assert keys - SETTING_NAMES == set()


def test_production_config_with_real_secrets_passes_the_settings_validation(
    production_manifests: Manifests,
) -> None:
    environ = config_map(production_manifests)["data"] | real_looking_secrets()
    settings = load_settings(environ, dotenv_path=None)
    assert settings.is_production
    assert not settings.is_embedded
    assert settings.uses_object_store
    assert settings.smtp_host == "smtp.example.com"


def test_secret_placeholders_stop_tessera_at_start_up(manifests: Manifests) -> None:
    app_secrets = secret_values(find(manifests, "Secret", "tessera-secrets"))
    assert all("REPLACE-ME" in value for value in app_secrets.values())
    environ = config_map(manifests)["data"] | app_secrets
    with pytest.raises(ConfigError) as refused:
        load_settings(environ, dotenv_path=None)
    assert refused.value.variable in {"JWT_SECRET_KEY", "DATA_ENCRYPTION_KEY"}


def test_only_the_migration_job_holds_the_table_owners_credentials(manifests: Manifests) -> None:
    job = container(manifests, "tessera-migrate")
    (database_url,) = job["env"]
    assert database_url["name"] == "DATABASE_URL"
    assert database_url["valueFrom"]["secretKeyRef"]["name"] == "tessera-migration-secrets"
    for name, pod in pod_specs(manifests):
        if name != "tessera-migrate":
            assert "tessera-migration-secrets" not in str(pod), name


def test_service_hpa_and_pdb_all_select_the_api_pods(manifests: Manifests) -> None:
    api = find(manifests, "Deployment", "tessera-api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    service = find(manifests, "Service", "tessera-api")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = find(manifests, "PodDisruptionBudget", "tessera-api")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = find(manifests, "HorizontalPodAutoscaler", "tessera-api")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "tessera-api")
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    # The HPA owns the count: a replicas field would reset it on every apply.
    assert "replicas" not in api["spec"]


def test_websockets_get_an_ingress_that_keeps_them_open(manifests: Manifests) -> None:
    socket = find(manifests, "Ingress", "tessera-websocket")
    paths = socket["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["pathType"]) for p in paths] == [
        ("/api/v1/ws", "Prefix"),
        ("/ws", "Prefix"),
    ]
    for path in paths:
        assert path["backend"]["service"] == {"name": "tessera-api", "port": {"name": "http"}}
    annotations = socket["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    api = find(manifests, "Ingress", "tessera-api")
    assert api["spec"]["rules"][0]["host"] == socket["spec"]["rules"][0]["host"]
    assert api["spec"]["tls"][0]["hosts"] == [api["spec"]["rules"][0]["host"]]


def test_metrics_and_health_are_not_routed_from_outside(manifests: Manifests) -> None:
    public = [
        path["path"]
        for ingress in (i for i in manifests if i["kind"] == "Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert sorted(public) == ["/api", "/api/v1/ws", "/docs", "/schema", "/ws"]


def test_network_policies_deny_by_default_and_open_only_what_each_process_needs(
    manifests: Manifests,
) -> None:
    policies = {d["metadata"]["name"]: d["spec"] for d in manifests if d["kind"] == "NetworkPolicy"}
    deny = policies["tessera-default-deny"]
    assert deny["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "tessera"}}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    (from_ingress,) = policies["tessera-api-ingress"]["ingress"]
    namespaces = [peer["namespaceSelector"]["matchLabels"] for peer in from_ingress["from"]]
    assert {"kubernetes.io/metadata.name": "ingress-nginx"} in namespaces
    # Only the API and the workers' metrics take connections at all.
    receiving = {
        policy["podSelector"]["matchLabels"].get("app.kubernetes.io/component")
        for policy in policies.values()
        if "ingress" in policy
    }
    assert receiving == {"api", "worker"}
    (dns,) = policies["tessera-egress-dns"]["egress"]
    dns_ports = {(p["port"], p["protocol"]) for p in dns["ports"]}
    assert dns_ports == {(53, "UDP"), (53, "TCP")}
    backing = {p["port"] for p in policies["tessera-egress-backing-services"]["egress"][0]["ports"]}
    assert {5432, 6379, 443, 587} <= backing
    webhooks = policies["tessera-worker-webhooks-egress"]
    assert webhooks["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    (rule,) = webhooks["egress"]
    assert {p["port"] for p in rule["ports"]} == {80, 443}
    blocks = {peer["ipBlock"]["cidr"]: peer["ipBlock"]["except"] for peer in rule["to"]}
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
        blocks["0.0.0.0/0"]
    )


def test_production_overlay_sets_image_replicas_resources_autoscaling_and_host(
    base_manifests: Manifests, production_manifests: Manifests
) -> None:
    images = {
        value
        for doc in production_manifests
        for node in walk(doc)
        if isinstance(node, dict)
        for key, value in node.items()
        if key == "image"
    }
    assert images == {"registry.example.com/tessera/tessera:0.1.0"}
    namespaced = [doc for doc in production_manifests if doc["kind"] != "Namespace"]
    assert {doc["metadata"].get("namespace") for doc in namespaced} == {"tessera"}
    namespace = find(production_manifests, "Namespace", "tessera")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert find(production_manifests, "Deployment", "tessera-worker")["spec"]["replicas"] > 1
    hpa = find(production_manifests, "HorizontalPodAutoscaler", "tessera-api")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    base_api = container(base_manifests, "tessera-api")["resources"]["limits"]
    production_api = container(production_manifests, "tessera-api")["resources"]["limits"]
    assert production_api != base_api
    for name in ("tessera-api", "tessera-websocket"):
        ingress = find(production_manifests, "Ingress", name)["spec"]
        assert ingress["rules"][0]["host"] == "api.tessera.example.com"
        assert ingress["tls"][0]["hosts"] == ["api.tessera.example.com"]
    config = config_map(production_manifests)["data"]
    assert config["PUBLIC_BASE_URL"].startswith("https://")
