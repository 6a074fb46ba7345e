"""charts/sluice: linted and rendered with helm-python-sdk (Helm 4 as a library), every
rendered object validated against the Kubernetes schemas, key fields asserted."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.expected_env import KUBERNETES_LAUNCHER_ENV, REQUIRED_ENV, SERVICES, known_names

try:
    import helm_python as helm
except ImportError:
    pytest.skip(
        "helm-python-sdk is not installed (it comes with the test extras: pip install -e '.[test]')",
        allow_module_level=True,
    )

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "sluice"
RELEASE = "demo"
NAMESPACE = "pipelines"
PREFIX = f"{RELEASE}-sluice"
OLDEST_KUBERNETES = "1.27"
"""The chart's `kubeVersion` floor (native gRPC probes are GA from 1.27)."""
KUBERNETES_VERSIONS = (OLDEST_KUBERNETES, kubernetes_validate.latest_version())

DEFAULT: dict[str, Any] = {}
EXTERNAL: dict[str, Any] = {
    "mongodb": {"enabled": False},
    "externalMongodb": {
        "url": "mongodb://sluice:s3cret@mongo-0.db:27017,mongo-1.db:27017/sluice?replicaSet=rs0&authSource=admin"
    },
    "nats": {"enabled": False},
    "externalNats": {"existingSecret": "nats-connection", "existingSecretKey": "url"},
    "minio": {"enabled": False},
    "bucket": "team-artifacts",
    "externalS3": {
        "endpoint": "storage.googleapis.com",
        "region": "auto",
        "accessKey": "GOOG1EXAMPLEACCESSID",
        "secretKey": "hmac-secret",
    },
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "hosts": [{"host": "sluice.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
        "tls": [{"secretName": "sluice-tls", "hosts": ["sluice.example.com"]}],
    },
    "gateway": {"replicas": 2},
    "scheduler": {"replicas": 2},
    "executor": {"replicas": 2, "kubernetes": {"namespace": "pipeline-tasks"}},
    "artifacts": {"replicas": 2},
    "logLevel": "DEBUG",
    "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy.internal:3128"}],
}
LOCAL_LAUNCHER: dict[str, Any] = {
    "executor": {"launcher": "local"},
    "minio": {"existingSecret": "minio-root"},
    "externalMongodb": {"existingSecret": "ignored-while-bundled"},
}
VALUE_SETS = {"default": DEFAULT, "external": EXTERNAL, "local-launcher": LOCAL_LAUNCHER}

Object = dict[str, Any]


def render(values: dict[str, Any]) -> dict[str, str]:
    with helm.Chart.load(CHART) as chart:
        return chart.render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE, is_install=True)


def objects_of(manifests: dict[str, str]) -> list[Object]:
    found: list[Object] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document is not None:
                assert isinstance(document, dict), path
                found.append(document)
    return found


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Object]]:
    return {name: objects_of(render(values)) for name, values in VALUE_SETS.items()}


@pytest.fixture(scope="module")
def default(rendered: dict[str, list[Object]]) -> list[Object]:
    return rendered["default"]


@pytest.fixture(scope="module")
def external(rendered: dict[str, list[Object]]) -> list[Object]:
    return rendered["external"]


def find(objects: list[Object], kind: str, name: str) -> Object:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def kinds(objects: list[Object], kind: str) -> list[Object]:
    return [o for o in objects if o["kind"] == kind]


def deployment(objects: list[Object], service: str) -> Object:
    return find(objects, "Deployment", f"{PREFIX}-{service}")


def container(workload: Object) -> Object:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def env_of(workload: Object) -> dict[str, Any]:
    """Name → plain value, or the `valueFrom` mapping."""
    entries = container(workload)["env"]
    names = Counter(entry["name"] for entry in entries)
    duplicated = [name for name, count in names.items() if count > 1]
    assert not duplicated, f"{workload['metadata']['name']} sets {duplicated} twice"
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in entries}


def secret_data(objects: list[Object], name: str) -> dict[str, str]:
    data = find(objects, "Secret", name)["stringData"]
    assert isinstance(data, dict)
    return data


# --- lint and schema validation --------------------------------------------------------


@pytest.mark.parametrize("values", list(VALUE_SETS.values()), ids=list(VALUE_SETS))
def test_lint_is_clean_in_strict_mode(values: dict[str, Any]) -> None:
    report = helm.lint(CHART, copy.deepcopy(values), strict=True, namespace=NAMESPACE)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # Strict: warnings count as errors. Of the informational notes, only the missing icon
    # is accepted (Sluice has no hosted logo to point at).
    notes = [m["error"] for m in report["messages"]]
    assert notes in ([], ["icon is recommended"]), report["messages"]


def validation_cases() -> Iterator[Any]:
    for name in VALUE_SETS:
        for version in KUBERNETES_VERSIONS:
            yield pytest.param(name, version, id=f"{name}-k8s{version}")


@pytest.mark.parametrize(("values_name", "version"), list(validation_cases()))
def test_every_rendered_object_is_valid_kubernetes(
    rendered: dict[str, list[Object]], values_name: str, version: str
) -> None:
    objects = rendered[values_name]
    assert len(objects) > 10
    failures = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")
    assert not failures, "\n".join(failures)


def test_every_object_is_labelled_and_namespaced(rendered: dict[str, list[Object]]) -> None:
    for objects in rendered.values():
        for obj in objects:
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/instance"] == RELEASE
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert labels["helm.sh/chart"] == "sluice-0.1.0"
            assert obj["metadata"]["namespace"] in {NAMESPACE, "pipeline-tasks"}


def test_notes_render_with_the_way_in() -> None:
    notes = render(DEFAULT)["sluice/templates/NOTES.txt"]
    assert f"port-forward service/{PREFIX}-gateway 8888:8888" in notes
    assert "https://sluice.example.com/" in render(EXTERNAL)["sluice/templates/NOTES.txt"]


# --- what is deployed ----------------------------------------------------------------------


def test_default_deploys_the_four_services_and_bundled_backends(default: list[Object]) -> None:
    assert {o["metadata"]["name"] for o in kinds(default, "Deployment")} == {
        f"{PREFIX}-{service}" for service in SERVICES
    }
    assert {o["metadata"]["name"] for o in kinds(default, "StatefulSet")} == {
        f"{PREFIX}-{part}" for part in ("mongodb", "nats", "minio")
    }
    services = {o["metadata"]["name"] for o in kinds(default, "Service")}
    assert services == {
        f"{PREFIX}-{part}" for part in ("gateway", "scheduler", "artifacts", "mongodb", "nats", "minio")
    }
    job = find(default, "Job", f"{PREFIX}-minio-bucket")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert kinds(default, "Ingress") == []


def test_external_values_deploy_no_backends_and_the_ingress(external: list[Object]) -> None:
    assert kinds(external, "StatefulSet") == []
    assert kinds(external, "Job") == []
    assert kinds(external, "ConfigMap") == []
    (ingress,) = kinds(external, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["sluice.example.com"], "secretName": "sluice-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "sluice.example.com"
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": f"{PREFIX}-gateway", "port": {"name": "http"}}
    gateway_service = find(external, "Service", f"{PREFIX}-gateway")
    assert "http" in {port["name"] for port in gateway_service["spec"]["ports"]}


def test_replicas_come_from_values(default: list[Object], external: list[Object]) -> None:
    for service in SERVICES:
        assert deployment(default, service)["spec"]["replicas"] == 1
        assert deployment(external, service)["spec"]["replicas"] == 2


# --- probes, ports, security ---------------------------------------------------------------


def test_every_container_has_liveness_and_readiness_probes(rendered: dict[str, list[Object]]) -> None:
    for objects in rendered.values():
        for workload in kinds(objects, "Deployment") + kinds(objects, "StatefulSet"):
            spec = container(workload)
            for probe in ("livenessProbe", "readinessProbe"):
                assert probe in spec, f"{workload['metadata']['name']} has no {probe}"


def test_gateway_probes_the_kfp_healthz_endpoint_on_its_http_port(default: list[Object]) -> None:
    spec = container(deployment(default, "gateway"))
    ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
    env = env_of(deployment(default, "gateway"))
    assert ports == {"http": int(env["SLUICE_HTTP_PORT"]), "grpc": int(env["SLUICE_GRPC_PORT"])}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert spec[probe]["httpGet"] == {"path": "/apis/v2beta1/healthz", "port": "http"}


@pytest.mark.parametrize(
    ("service", "port_variable"),
    [
        ("scheduler", "SLUICE_SCHEDULER_PORT"),
        ("artifacts", "SLUICE_ARTIFACTS_PORT"),
        ("executor", "SLUICE_EXECUTOR_HEALTH_PORT"),
    ],
)
def test_grpc_services_are_probed_with_grpc_health_on_their_port(
    default: list[Object], service: str, port_variable: str
) -> None:
    workload = deployment(default, service)
    port = int(env_of(workload)[port_variable])
    spec = container(workload)
    # The executor also opens its file exchange to task pods (see the next test).
    assert [p["containerPort"] for p in spec["ports"] if p["name"] != "exchange"] == [port]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert spec[probe]["grpc"] == {"port": port}


def test_task_pods_reach_the_executors_file_exchange_at_its_pod_ip(
    rendered: dict[str, list[Object]],
) -> None:
    workload = deployment(rendered["default"], "executor")
    env = env_of(workload)
    ports = {p["name"]: p["containerPort"] for p in container(workload)["ports"]}
    assert ports["exchange"] == int(env["SLUICE_KUBERNETES_EXCHANGE_PORT"]) == 8790
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    local = container(deployment(rendered["local-launcher"], "executor"))
    assert [p["name"] for p in local["ports"]] == ["health"]


def test_services_route_to_the_container_ports(default: list[Object]) -> None:
    for name in ("gateway", "scheduler", "artifacts"):
        service = find(default, "Service", f"{PREFIX}-{name}")
        workload = deployment(default, name)
        assert (
            service["spec"]["selector"].items() <= workload["spec"]["template"]["metadata"]["labels"].items()
        )
        container_ports = {p["name"]: p["containerPort"] for p in container(workload)["ports"]}
        for port in service["spec"]["ports"]:
            assert port["port"] == container_ports[port["targetPort"]]


def test_sluice_pods_run_as_the_image_user_without_privileges(default: list[Object]) -> None:
    for service in SERVICES:
        pod = deployment(default, service)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        security = container(deployment(default, service))["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]


def test_images_are_pinned(rendered: dict[str, list[Object]]) -> None:
    for objects in rendered.values():
        for workload in kinds(objects, "Deployment") + kinds(objects, "StatefulSet") + kinds(objects, "Job"):
            image = container(workload)["image"]
            _, _, tag = image.rpartition(":")
            assert tag, f"{image} has no tag"
            assert "/" not in tag, f"{image} has no tag"
            assert tag != "latest", image
    assert container(deployment(rendered["default"], "gateway"))["image"] == "sluice:0.1.0"


# --- RBAC ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values_name", "task_namespace"), [("default", NAMESPACE), ("external", "pipeline-tasks")]
)
def test_executor_may_manage_pods_in_the_task_namespace_only(
    rendered: dict[str, list[Object]], values_name: str, task_namespace: str
) -> None:
    objects = rendered[values_name]
    (role,) = kinds(objects, "Role")
    assert role["metadata"]["namespace"] == task_namespace
    rules = {
        (group, resource): sorted(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert rules == {
        ("", "pods"): sorted(["create", "get", "list", "watch", "delete"]),
        ("", "pods/log"): ["get"],
    }
    assert kinds(objects, "ClusterRole") == []
    (binding,) = kinds(objects, "RoleBinding")
    assert binding["metadata"]["namespace"] == task_namespace
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    executor_pod = deployment(objects, "executor")["spec"]["template"]["spec"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": executor_pod["serviceAccountName"], "namespace": NAMESPACE}
    ]
    find(objects, "ServiceAccount", executor_pod["serviceAccountName"])
    # Only the executor mounts the token that carries these rights.
    for service in SERVICES:
        pod = deployment(objects, service)["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is (service == "executor")
    env = env_of(deployment(objects, "executor"))
    assert env["SLUICE_KUBERNETES_NAMESPACE"] == task_namespace
    task_account = find(objects, "ServiceAccount", env["SLUICE_KUBERNETES_SERVICE_ACCOUNT"])
    assert task_account["metadata"]["namespace"] == task_namespace
    assert task_account["automountServiceAccountToken"] is False


def test_local_launcher_gets_no_kubernetes_rights(rendered: dict[str, list[Object]]) -> None:
    objects = rendered["local-launcher"]
    assert kinds(objects, "Role") == kinds(objects, "RoleBinding") == []
    assert [o["metadata"]["name"] for o in kinds(objects, "ServiceAccount")] == [PREFIX]
    executor = deployment(objects, "executor")
    assert executor["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    env = env_of(executor)
    assert env["SLUICE_EXECUTOR_LAUNCHER"] == "local"
    assert not KUBERNETES_LAUNCHER_ENV & set(env)


# --- environment ---------------------------------------------------------------------------


@pytest.mark.parametrize("values_name", list(VALUE_SETS))
def test_each_service_gets_the_variables_it_needs_and_only_known_ones(
    rendered: dict[str, list[Object]], values_name: str
) -> None:
    objects = rendered[values_name]
    for service in SERVICES:
        env = env_of(deployment(objects, service))
        needed = set(REQUIRED_ENV[service])
        if service == "executor" and env["SLUICE_EXECUTOR_LAUNCHER"] == "kubernetes":
            needed |= KUBERNETES_LAUNCHER_ENV
        assert not needed - set(env), f"{service} lacks {sorted(needed - set(env))}"
        assert all(env[name] not in ("", None) for name in needed), service
        unknown = {name for name in env if name.startswith("SLUICE_")} - known_names(service)
        assert not unknown, f"{service} does not read {sorted(unknown)}"


def test_default_env_points_at_the_bundled_backends_and_the_services(default: list[Object]) -> None:
    services = f"{NAMESPACE}.svc"
    for service in SERVICES:
        env = env_of(deployment(default, service))
        assert env["SLUICE_NATS_URL"] == f"nats://{PREFIX}-nats.{services}:4222"
        assert env["SLUICE_LOG_LEVEL"] == "INFO"
        assert env["SLUICE_DISPATCH_ACK_WAIT_SECONDS"] == "30"
        assert ("SLUICE_STORE_URL" in env) is (service in {"scheduler", "artifacts"})
    gateway = env_of(deployment(default, "gateway"))
    assert gateway["SLUICE_SCHEDULER_ADDRESS"] == f"{PREFIX}-scheduler.{services}:50051"
    assert gateway["SLUICE_ARTIFACTS_ADDRESS"] == f"{PREFIX}-artifacts.{services}:50052"
    scheduler = env_of(deployment(default, "scheduler"))
    assert (
        scheduler["SLUICE_STORE_URL"] == f"mongodb://{PREFIX}-mongodb.{services}:27017/sluice?replicaSet=rs0"
    )
    assert scheduler["SLUICE_DEFAULT_PIPELINE_ROOT"] == "minio://sluice/pipelines"
    artifacts = env_of(deployment(default, "artifacts"))
    assert artifacts["SLUICE_ARTIFACT_BACKEND"] == "s3"
    assert artifacts["SLUICE_S3_ENDPOINT"] == f"{PREFIX}-minio.{services}:9000"
    assert artifacts["SLUICE_S3_SECURE"] == "false"
    assert artifacts["SLUICE_S3_BUCKET"] == "sluice"
    minio_secret = f"{PREFIX}-minio"
    assert artifacts["SLUICE_S3_ACCESS_KEY"] == {"secretKeyRef": {"name": minio_secret, "key": "root-user"}}
    assert artifacts["SLUICE_S3_SECRET_KEY"] == {
        "secretKeyRef": {"name": minio_secret, "key": "root-password"}
    }
    assert set(secret_data(default, minio_secret)) == {"root-user", "root-password"}
    # The replica set the URL names is the one mongod runs.
    mongod = container(find(default, "StatefulSet", f"{PREFIX}-mongodb"))
    assert mongod["args"][mongod["args"].index("--replSet") + 1] == "rs0"


def test_external_env_comes_from_values_and_secrets(external: list[Object]) -> None:
    connections = f"{PREFIX}-connections"
    data = secret_data(external, connections)
    assert data == {
        "mongodb-url": EXTERNAL["externalMongodb"]["url"],
        "s3-access-key": "GOOG1EXAMPLEACCESSID",
        "s3-secret-key": "hmac-secret",
    }
    for service in SERVICES:
        env = env_of(deployment(external, service))
        assert env["SLUICE_LOG_LEVEL"] == "DEBUG"
        assert env["HTTPS_PROXY"] == "http://proxy.internal:3128"
        assert env["SLUICE_NATS_URL"] == {"secretKeyRef": {"name": "nats-connection", "key": "url"}}
    for service in ("scheduler", "artifacts"):
        env = env_of(deployment(external, service))
        assert env["SLUICE_STORE_URL"] == {"secretKeyRef": {"name": connections, "key": "mongodb-url"}}
    artifacts = env_of(deployment(external, "artifacts"))
    assert artifacts["SLUICE_S3_ENDPOINT"] == "storage.googleapis.com"
    assert artifacts["SLUICE_S3_SECURE"] == "true"
    assert artifacts["SLUICE_S3_REGION"] == "auto"
    assert artifacts["SLUICE_S3_BUCKET"] == "team-artifacts"
    assert artifacts["SLUICE_S3_ACCESS_KEY"] == {
        "secretKeyRef": {"name": connections, "key": "s3-access-key"}
    }
    assert artifacts["SLUICE_S3_SECRET_KEY"] == {
        "secretKeyRef": {"name": connections, "key": "s3-secret-key"}
    }
    assert (
        env_of(deployment(external, "scheduler"))["SLUICE_DEFAULT_PIPELINE_ROOT"]
        == "s3://team-artifacts/pipelines"
    )


def test_every_secret_reference_resolves(rendered: dict[str, list[Object]]) -> None:
    existing = {"nats-connection": {"url"}, "minio-root": {"root-user", "root-password"}}
    for objects in rendered.values():
        secrets = {o["metadata"]["name"]: set(o["stringData"]) for o in kinds(objects, "Secret")}
        for workload in kinds(objects, "Deployment") + kinds(objects, "StatefulSet") + kinds(objects, "Job"):
            for entry in container(workload).get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    keys = secrets.get(ref["name"], existing.get(ref["name"]))
                    assert keys is not None, f"{workload['metadata']['name']}: no Secret {ref['name']}"
                    assert ref["key"] in keys, f"{workload['metadata']['name']}: {ref}"


def test_existing_secrets_are_referenced_not_copied() -> None:
    values: dict[str, Any] = {
        **EXTERNAL,
        "externalMongodb": {"existingSecret": "mongo-connection"},
        "externalS3": {
            **EXTERNAL["externalS3"],
            "accessKey": "",
            "secretKey": "",
            "existingSecret": "gcs-hmac",
        },
    }
    objects = objects_of(render(values))
    assert kinds(objects, "Secret") == []
    env = env_of(deployment(objects, "artifacts"))
    assert env["SLUICE_STORE_URL"] == {"secretKeyRef": {"name": "mongo-connection", "key": "mongodb-url"}}
    assert env["SLUICE_S3_ACCESS_KEY"] == {"secretKeyRef": {"name": "gcs-hmac", "key": "s3-access-key"}}
    assert env["SLUICE_S3_SECRET_KEY"] == {"secretKeyRef": {"name": "gcs-hmac", "key": "s3-secret-key"}}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"mongodb": {"enabled": False}},
            "externalMongodb.url or externalMongodb.existingSecret is required",
        ),
        ({"nats": {"enabled": False}}, "externalNats.url or externalNats.existingSecret is required"),
        ({"minio": {"enabled": False}}, "externalS3.accessKey or externalS3.existingSecret is required"),
        (
            {"minio": {"enabled": False}, "externalS3": {"existingSecret": "s3"}},
            "externalS3.endpoint is required",
        ),
        ({"minio": {"rootPassword": "short"}}, "at least 8 characters"),
        ({"executor": {"launcher": "docker"}}, "executor.launcher must be kubernetes or local"),
        ({"executor": {"graceSeconds": 90}}, "must exceed executor.graceSeconds"),
    ],
)
def test_incomplete_values_fail_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(values)


def test_executor_stops_its_tasks_before_kubernetes_kills_it(default: list[Object]) -> None:
    workload = deployment(default, "executor")
    env = env_of(workload)
    grace = float(env["SLUICE_EXECUTOR_GRACE_SECONDS"])
    assert workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace
    assert env["SLUICE_EXECUTOR_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_bundled_nats_config_is_accepted_by_the_real_server(default: list[Object], tmp_path: Path) -> None:
    import subprocess

    from services.core.events.nats_server import find_nats_server

    config_map = find(default, "ConfigMap", f"{PREFIX}-nats")
    config = tmp_path / "nats.conf"
    config.write_text(config_map["data"]["nats.conf"])
    assert "sync_interval: always" in config.read_text()
    result = subprocess.run(
        [find_nats_server(), "--config", str(config), "-t"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
