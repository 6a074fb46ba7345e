"""docker-compose.yaml: parsed and checked structurally (no Docker engine here).

Where a part can be exercised without Docker it is: the gRPC health check the Sluice
containers run is run against a real gRPC server, the NATS configuration is checked by
the real nats-server, and the NATS health URL is asked of a running one.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest
import yaml

from services.core.events import NatsServer
from services.core.events.nats_server import find_nats_server
from tests.deploy.expected_env import REQUIRED_ENV, SERVICES, known_names

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
INFRASTRUCTURE = ("mongodb", "nats", "minio")
ONE_SHOTS = ("minio-init",)
PUBLISHED = {"gateway": {8888, 8889}, "minio": {9001}}
"""Host ports allowed: the gateway's HTTP and gRPC ports and the MinIO console."""
HEALTH_SERVING = b"\x08\x01"
HEALTH_NOT_SERVING = b"\x08\x02"

Service = dict[str, Any]


def interpolate(value: str) -> str:
    """Resolve compose's `${VAR:-default}` to its default and `$$` to `$`, as `compose
    config` does with an empty environment."""
    value = re.sub(r"\$\{(\w+):?-([^}]*)\}", r"\2", value)
    assert "${" not in value, f"variable without a default in {value!r}"
    return value.replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def env_of(service: Service) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment must be a mapping (NAME: value)"
    return {name: interpolate(str(value)) for name, value in environment.items()}


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def test_services_are_the_infrastructure_the_sluice_services_and_one_shots(
    services: dict[str, Service],
) -> None:
    assert set(services) == {*INFRASTRUCTURE, *ONE_SHOTS, *SERVICES}


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Service]) -> None:
    for name, service in services.items():
        if name in ONE_SHOTS:
            assert service.get("restart") == "no", f"{name}: a one-shot must not restart"
            assert "healthcheck" not in service
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name}: healthcheck test must be a command"
        assert not check.get("disable", False)
        assert {"interval", "timeout", "retries"} <= set(check), f"{name}: healthcheck timings missing"
        assert service.get("restart") == "unless-stopped", f"{name} should come back after a crash"


def test_every_dependency_waits_for_health_or_completion(services: dict[str, Service]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must use the long form with conditions"
        for dependency, spec in depends_on.items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            expected = "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            assert spec == {"condition": expected}, f"{name} -> {dependency}"
    for name in SERVICES:
        assert {"mongodb", "nats"} <= set(services[name]["depends_on"]), name
    assert "minio-init" in services["artifacts"]["depends_on"]
    assert {"scheduler", "artifacts"} <= set(services["gateway"]["depends_on"])
    assert "artifacts" in services["executor"]["depends_on"]
    assert "artifacts" in services["scheduler"]["depends_on"]


def test_images_are_pinned_and_the_services_built_from_the_dockerfile(services: dict[str, Service]) -> None:
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: image {image!r} has no tag"
        assert "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
    sluice_images = {services[name]["image"] for name in SERVICES}
    assert len(sluice_images) == 1, "the four services share one image"
    for name in SERVICES:
        build = services[name]["build"]
        assert (REPO / build["context"] / build["dockerfile"]).is_file()
        assert services[name]["command"] == ["service", name]


def test_each_sluice_service_sets_the_variables_it_needs(services: dict[str, Service]) -> None:
    for name in SERVICES:
        env = env_of(services[name])
        missing = REQUIRED_ENV[name] - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}"
        empty = [key for key in REQUIRED_ENV[name] if not env[key]]
        assert not empty, f"{name} sets {empty} to nothing"


def test_each_variable_set_is_a_setting_of_that_service(services: dict[str, Service]) -> None:
    for name in SERVICES:
        unknown = {key for key in env_of(services[name]) if key.startswith("SLUICE_")} - known_names(name)
        assert not unknown, f"{name} does not read {sorted(unknown)}"


def test_scheduler_and_executor_agree_on_the_dispatch_lease(services: dict[str, Service]) -> None:
    # Both build the dispatch consumer's ack_wait from it; they must not disagree.
    values = {env_of(services[name]).get("SLUICE_DISPATCH_ACK_WAIT_SECONDS") for name in SERVICES}
    assert len(values) == 1
    assert None not in values


def test_addresses_point_at_the_services_and_their_ports(services: dict[str, Service]) -> None:
    scheduler_port = int(env_of(services["scheduler"])["SLUICE_SCHEDULER_PORT"])
    artifacts_port = int(env_of(services["artifacts"])["SLUICE_ARTIFACTS_PORT"])
    gateway = env_of(services["gateway"])
    assert host_port(gateway["SLUICE_SCHEDULER_ADDRESS"]) == ("scheduler", scheduler_port)
    assert host_port(gateway["SLUICE_ARTIFACTS_ADDRESS"]) == ("artifacts", artifacts_port)
    for name in ("executor", "scheduler"):
        assert host_port(env_of(services[name])["SLUICE_ARTIFACTS_ADDRESS"]) == ("artifacts", artifacts_port)
    for name in SERVICES:
        nats = urlsplit(env_of(services[name])["SLUICE_NATS_URL"])
        assert (nats.scheme, nats.hostname, nats.port) == ("nats", "nats", 4222)
    for name in ("scheduler", "artifacts"):
        env = env_of(services[name])
        store = urlsplit(env["SLUICE_STORE_URL"])
        assert (store.scheme, store.hostname, store.port) == ("mongodb", "mongodb", 27017)
        # The replica set named in the URL is the one mongod runs and the healthcheck initiates.
        replica_set = parse_qs(store.query)["replicaSet"][0]
        mongodb = services["mongodb"]
        assert mongodb["command"][mongodb["command"].index("--replSet") + 1] == replica_set
        assert f"_id: '{replica_set}'" in mongodb["healthcheck"]["test"][-1]


def test_artifacts_use_the_bucket_and_credentials_of_the_bundled_minio(services: dict[str, Service]) -> None:
    artifacts = env_of(services["artifacts"])
    minio = env_of(services["minio"])
    init = env_of(services["minio-init"])
    assert artifacts["SLUICE_ARTIFACT_BACKEND"] == "s3"
    assert host_port(artifacts["SLUICE_S3_ENDPOINT"]) == ("minio", 9000)
    assert artifacts["SLUICE_S3_SECURE"] == "false"
    assert artifacts["SLUICE_S3_ACCESS_KEY"] == minio["MINIO_ROOT_USER"] == init["MINIO_ROOT_USER"]
    assert artifacts["SLUICE_S3_SECRET_KEY"] == minio["MINIO_ROOT_PASSWORD"] == init["MINIO_ROOT_PASSWORD"]
    assert len(minio["MINIO_ROOT_PASSWORD"]) >= 8, "MinIO refuses shorter passwords"
    assert artifacts["SLUICE_S3_BUCKET"] == init["SLUICE_S3_BUCKET"]
    create_bucket = interpolate(services["minio-init"]["command"][0])
    assert "http://minio:9000" in create_bucket
    assert 'mc mb --ignore-existing "sluice/$SLUICE_S3_BUCKET"' in create_bucket
    bucket = urlsplit(env_of(services["scheduler"])["SLUICE_DEFAULT_PIPELINE_ROOT"])
    assert (bucket.scheme, bucket.netloc) == ("minio", artifacts["SLUICE_S3_BUCKET"])


def test_only_the_gateway_and_the_minio_console_publish_ports_on_loopback(
    services: dict[str, Service],
) -> None:
    for name, service in services.items():
        ports = service.get("ports", [])
        published: set[int] = set()
        for mapping in ports:
            host, host_port_, container_port = str(mapping).split(":")
            assert host == "127.0.0.1", f"{name}: {mapping} is reachable from the network"
            assert host_port_ == container_port
            published.add(int(container_port))
        assert published == PUBLISHED.get(name, set()), name
    gateway = env_of(services["gateway"])
    assert PUBLISHED["gateway"] == {int(gateway["SLUICE_HTTP_PORT"]), int(gateway["SLUICE_GRPC_PORT"])}


def test_scheduler_and_executor_run_two_replicas(services: dict[str, Service]) -> None:
    for name in ("scheduler", "executor"):
        service = services[name]
        assert service["deploy"]["replicas"] == 2, name
        # Fixed names or host ports would make the second replica fail to start.
        assert "container_name" not in service
        assert "ports" not in service


def test_named_volumes_are_declared_and_hold_the_data(compose: dict[str, Any]) -> None:
    services = compose["services"]
    declared = set(compose["volumes"])
    used = {
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith((".", "/"))
    }
    assert used == declared
    assert "mongodb-data:/data/db" in services["mongodb"]["volumes"]
    assert "nats-data:/data" in services["nats"]["volumes"]
    assert "minio-data:/data" in services["minio"]["volumes"]


def nats_config(compose: dict[str, Any]) -> str:
    nats = compose["services"]["nats"]
    (mount,) = nats["configs"]
    assert nats["command"] == ["--config", mount["target"]]
    content = compose["configs"][mount["source"]]["content"]
    assert isinstance(content, str)
    return content


def test_nats_runs_jetstream_on_its_volume_with_fsync_always(compose: dict[str, Any]) -> None:
    config = nats_config(compose)
    assert re.search(r"^\s*store_dir: /data$", config, re.MULTILINE)
    assert re.search(r"^\s*sync_interval: always$", config, re.MULTILINE)
    assert re.search(r"^http_port: 8222$", config, re.MULTILINE)
    check = compose["services"]["nats"]["healthcheck"]["test"]
    assert "http://127.0.0.1:8222/healthz?js-enabled-only=true" in check


def test_the_real_nats_server_accepts_the_configuration(compose: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "nats.conf"
    config.write_text(nats_config(compose))
    result = subprocess.run(
        [find_nats_server(), "--config", str(config), "-t"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


async def test_the_nats_health_url_answers_ok_when_jetstream_is_up(nats_server: NatsServer) -> None:
    assert nats_server.monitor_url is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{nats_server.monitor_url}/healthz?js-enabled-only=true")
    assert response.status_code == 200


@pytest.fixture
def health_server() -> Iterator[Callable[[bytes], int]]:
    """A real gRPC server whose grpc.health.v1 Check answers with the bytes set by the
    test; yields a function that sets them and returns the port."""
    answer = [HEALTH_SERVING]
    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {"Check": grpc.unary_unary_rpc_method_handler(lambda request, context: answer[0])},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()

    def serve(response: bytes) -> int:
        answer[0] = response
        return port

    yield serve
    server.stop(grace=None)


def run_check(test: list[str], port: int) -> int:
    """Run a compose healthcheck command here, on another port, with this interpreter."""
    kind, program, *args = test
    assert (kind, program) == ("CMD", "python")
    *args, _ = args
    return subprocess.run([sys.executable, *args, str(port)], capture_output=True, timeout=30).returncode


@pytest.mark.parametrize("name", ["scheduler", "artifacts", "executor"])
def test_grpc_healthcheck_passes_only_when_the_service_is_serving(
    services: dict[str, Service], name: str, health_server: Callable[[bytes], int]
) -> None:
    test = services[name]["healthcheck"]["test"]
    port_variable = {
        "scheduler": "SLUICE_SCHEDULER_PORT",
        "artifacts": "SLUICE_ARTIFACTS_PORT",
        "executor": "SLUICE_EXECUTOR_HEALTH_PORT",
    }[name]
    assert test[-1] == env_of(services[name])[port_variable], "the check must probe the service's port"
    assert run_check(test, health_server(HEALTH_SERVING)) == 0
    assert run_check(test, health_server(HEALTH_NOT_SERVING)) != 0


def test_grpc_healthcheck_fails_when_nothing_listens(services: dict[str, Service]) -> None:
    # Bound, so no one else takes the port, but not listening: connections are refused.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        assert run_check(services["scheduler"]["healthcheck"]["test"], port) != 0


def test_gateway_healthcheck_asks_the_kfp_healthz_endpoint(services: dict[str, Service]) -> None:
    gateway = services["gateway"]
    port = env_of(gateway)["SLUICE_HTTP_PORT"]
    assert f'"http://127.0.0.1:{port}/apis/v2beta1/healthz"' in gateway["healthcheck"]["test"][-1]
