"""Sluice in its distributed shape, for tests: every service its own OS process.

A `Cluster` runs nats-server (JetStream, file storage), the artifact service on S3
(SeaweedFS), two schedulers and two executors sharing a MongoDB database (nx-27017), and
the gateway, all on free loopback ports, each started as ``sluice service NAME`` with
``SLUICE_*`` variables, as an operator would. Each service's output goes to its own log
file in the cluster's directory; a failed wait names the service and ends with its log.

Every process the cluster starts carries the variable ``SLUICE_TEST_CLUSTER`` (inherited by
whatever it starts in turn: fork servers, tasks), so that `Cluster.leftover_processes`
finds anything that outlived its parent, and `Cluster.stop` kills it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import nats
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.core.events import NatsServer
from services.core.events.subjects import DISPATCH_CONSUMER, DISPATCH_STREAM, RESULTS_CONSUMER, RESULTS_STREAM
from tests.fixtures.processes import ChildServer

HOST = "127.0.0.1"
CLUSTER_ENV = "SLUICE_TEST_CLUSTER"
ACK_WAIT_SECONDS = 3.0
"""The dispatch consumer's ack_wait: an executor that stops heart-beating (every second)
loses its task after this long."""

_POLL = 0.05
_READY_TIMEOUT = 60.0
_STOP_GRACE = 10.0
_KILL_WAIT = 5.0
# Random ports below Linux's ephemeral range (32768+), which outgoing connections use: a
# port chosen there could be taken by a client socket before the service binds it.
_PORT_RANGE = (23000, 32700)


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that nothing listens on right now."""
    chosen: list[int] = []
    for _ in range(count * 100):
        if len(chosen) == count:
            break
        port = random.randint(*_PORT_RANGE)
        if port in chosen:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
        chosen.append(port)
    if len(chosen) < count:
        raise RuntimeError(f"found only {len(chosen)} of {count} free ports")
    return chosen


def grpc_serving(address: str) -> Callable[[], bool]:
    """A readiness probe: the gRPC health service at `address` answers SERVING."""

    def probe() -> bool:
        with grpc.insecure_channel(address) as channel:
            try:
                response = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=1.0
                )
            except grpc.RpcError:
                return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    return probe


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness probe: GET `url` answers 200."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


class ServiceProcess(ChildServer):
    """One ``sluice service NAME`` process, startable again after it stopped or was killed.

    Its log (stdout and stderr) is ``<log_dir>/<name>.log``, appended to across restarts,
    so the log of a killed process stays next to the log of its successor.
    """

    def __init__(
        self, *, name: str, service: str, env: Mapping[str, str], log_dir: Path, ready: Callable[[], bool]
    ) -> None:
        super().__init__(data_dir=log_dir, stop_grace=_STOP_GRACE)
        self.name = name
        self.service = service
        self.env = dict(env)
        self._ready = ready
        self.starts = 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the process (not waiting for it to be ready); no-op when it runs."""
        if self.running:
            return
        argv = [str(Path(sys.executable).parent / "sluice"), "service", self.service]
        with self.log_path.open("ab") as log:
            log.write(f"--- {self.name}: start #{self.starts + 1} ---\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1

    def wait_ready(self, timeout: float = _READY_TIMEOUT) -> None:
        """Wait until the readiness probe passes; raise with the log if the process exits
        or the probe keeps failing for `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise RuntimeError(
                    f"{self.name} exited (code {code}) before it was ready:\n{self.log_tail()}"
                )
            if self._ready():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} was not ready within {timeout}s:\n{self.log_tail()}")
            time.sleep(_POLL)

    def kill(self) -> None:
        """SIGKILL, as a crash would; waits until the process is gone."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(_KILL_WAIT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass(frozen=True)
class Backends:
    """The servers the cluster uses but does not own: shared by the test session."""

    mongo_port: int
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str


class Cluster:
    """nats-server plus the services as separate processes; see the module docstring.

    Attributes:
        schedulers, executors: two of each; ``schedulers[0]`` and ``[1]`` are both behind
            the gateway (gRPC ``pick_first`` over the two addresses).
        bucket: the S3 bucket of the artifacts; ``database``: the MongoDB database.
    """

    def __init__(self, *, directory: Path, backends: Backends) -> None:
        self.directory = directory
        self.backends = backends
        self.cluster_id = uuid.uuid4().hex[:12]
        self.bucket = f"sluice-dist-{self.cluster_id}"
        self.database = f"sluice_dist_{self.cluster_id}"
        (nats_port, artifacts_port, s0, s1, e0, e1, http_port, grpc_port) = free_ports(8)
        self.nats = NatsServer(store_dir=directory / "nats", port=nats_port, host=HOST, sync_always=True)
        self.http_url = f"http://{HOST}:{http_port}"
        self.artifacts_address = f"{HOST}:{artifacts_port}"
        self.store_url = f"mongodb://{HOST}:{backends.mongo_port}/{self.database}?directConnection=true"
        logs = directory / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        common = self._common_env()
        self.artifacts = ServiceProcess(
            name="artifacts",
            service="artifacts",
            env=common
            | {
                "SLUICE_ARTIFACTS_HOST": HOST,
                "SLUICE_ARTIFACTS_PORT": str(artifacts_port),
                "SLUICE_ARTIFACT_BACKEND": "s3",
                "SLUICE_S3_ENDPOINT": backends.s3_endpoint,
                "SLUICE_S3_ACCESS_KEY": backends.s3_access_key,
                "SLUICE_S3_SECRET_KEY": backends.s3_secret_key,
                "SLUICE_S3_BUCKET": self.bucket,
            },
            log_dir=logs,
            ready=grpc_serving(self.artifacts_address),
        )
        self.schedulers = [
            ServiceProcess(
                name=f"scheduler-{index}",
                service="scheduler",
                env=common
                | {
                    "SLUICE_SCHEDULER_HOST": HOST,
                    "SLUICE_SCHEDULER_PORT": str(port),
                    "SLUICE_DEFAULT_PIPELINE_ROOT": f"minio://{self.bucket}/pipelines",
                },
                log_dir=logs,
                ready=grpc_serving(f"{HOST}:{port}"),
            )
            for index, port in enumerate((s0, s1))
        ]
        self.executors = [
            ServiceProcess(
                name=f"executor-{index}",
                service="executor",
                env=common
                | {
                    "SLUICE_EXECUTOR_ID": f"executor-{index}",
                    "SLUICE_EXECUTOR_HEALTH_PORT": str(port),
                    "SLUICE_EXECUTOR_WORK_DIR": str(directory / f"executor-{index}"),
                    "SLUICE_EXECUTOR_MAX_CONCURRENT_TASKS": "4",
                    "SLUICE_EXECUTOR_GRACE_SECONDS": "5",
                },
                log_dir=logs,
                ready=grpc_serving(f"{HOST}:{port}"),
            )
            for index, port in enumerate((e0, e1))
        ]
        self.gateway = ServiceProcess(
            name="gateway",
            service="gateway",
            env=common
            | {
                "SLUICE_HTTP_HOST": HOST,
                "SLUICE_HTTP_PORT": str(http_port),
                "SLUICE_GRPC_HOST": HOST,
                "SLUICE_GRPC_PORT": str(grpc_port),
                "SLUICE_SCHEDULER_ADDRESS": f"ipv4:{HOST}:{s0},{HOST}:{s1}",
            },
            log_dir=logs,
            ready=http_ok(f"{self.http_url}/apis/v2beta1/healthz"),
        )

    @property
    def services(self) -> list[ServiceProcess]:
        return [self.artifacts, *self.schedulers, *self.executors, self.gateway]

    def _common_env(self) -> dict[str, str]:
        # The test runner's own SLUICE_* settings must not leak into the services.
        env = {name: value for name, value in os.environ.items() if not name.startswith("SLUICE_")}
        return env | {
            CLUSTER_ENV: self.cluster_id,
            "SLUICE_NATS_URL": self.nats.url,
            "SLUICE_STORE_URL": self.store_url,
            "SLUICE_ARTIFACTS_ADDRESS": self.artifacts_address,
            "SLUICE_DISPATCH_ACK_WAIT_SECONDS": str(ACK_WAIT_SECONDS),
            "SLUICE_LOG_LEVEL": "INFO",
        }

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """nats-server, then the artifact service, then the other services all at once."""
        try:
            asyncio.run(self.nats.start())
            self.artifacts.start()
            self.artifacts.wait_ready()
            backends = [*self.schedulers, *self.executors]
            for service in backends:
                service.start()
            for service in backends:
                service.wait_ready()
            # Last, as an operator would (it is what users reach), and so that its view of
            # the shared stream settings is the one left in place.
            self.gateway.start()
            self.gateway.wait_ready()
            asyncio.run(self._check_consumers())
        except BaseException:
            self.stop()
            raise

    async def _check_consumers(self) -> None:
        """Every service configures the shared consumers when it starts: they must agree."""
        client = await nats.connect(self.nats.url, name="sluice-test-check")
        try:
            js = client.jetstream()
            for stream, consumer in (
                (DISPATCH_STREAM, DISPATCH_CONSUMER),
                (RESULTS_STREAM, RESULTS_CONSUMER),
            ):
                info = await js.consumer_info(stream, consumer)
                if info.config.ack_wait != ACK_WAIT_SECONDS:
                    raise RuntimeError(
                        f"consumer {stream}/{consumer} has ack_wait {info.config.ack_wait}s, "
                        f"not the {ACK_WAIT_SECONDS}s every service was given"
                    )
        finally:
            await client.close()

    def heal(self) -> None:
        """Start again whatever is not running (after a test killed it) and wait for it."""
        if not self.nats.running:
            asyncio.run(self.nats.start())
        stopped = [service for service in self.services if not service.running]
        for service in stopped:
            service.start()
        for service in stopped:
            service.wait_ready()

    def stop(self) -> list[str]:
        """Stop every service (gateway first, nats-server last), then kill anything left
        behind; returns a description of each leftover process (none is expected)."""
        for service in [self.gateway, *self.executors, *self.schedulers, self.artifacts]:
            service.stop()
        asyncio.run(self.nats.stop())
        leftovers = self.leftover_processes()
        for pid, _ in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return [f"pid {pid}: {command}" for pid, command in leftovers]

    def leftover_processes(self) -> list[tuple[int, str]]:
        """Processes carrying this cluster's tag that are neither one of its running
        services nor started by one (fork servers, tasks): what a crash left behind."""
        services = {service.pid for service in self.services if service.running}
        tag = f"{CLUSTER_ENV}={self.cluster_id}".encode()
        tagged: dict[int, tuple[int, str]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                # The parent's pid is the second field after the parenthesised name.
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile, or not ours to read
            if tag in environ.split(b"\0"):
                tagged[int(entry.name)] = (parent, command.strip())

        def owned(pid: int) -> bool:
            for _ in range(64):  # bounded walk up the tree
                if pid in services:
                    return True
                if pid not in tagged:
                    return False
                pid = tagged[pid][0]
            return False

        return [(pid, command) for pid, (_, command) in tagged.items() if not owned(pid)]

    # --- diagnostics --------------------------------------------------------------------
    def logs(self, lines: int = 40) -> str:
        """The tail of every service's log, for a failure message."""
        parts = [f"== nats-server ==\n{self.nats.log_tail(lines)}"]
        parts += [f"== {service.name} ==\n{service.log_tail(lines)}" for service in self.services]
        return "\n".join(parts)

    def grep_logs(self, text: str) -> dict[str, list[str]]:
        """Lines containing `text`, per service."""
        return {
            service.name: [line for line in service.log_text().splitlines() if text in line]
            for service in self.services
        }


@contextlib.contextmanager
def running_cluster(*, directory: Path, backends: Backends) -> Iterator[Cluster]:
    cluster = Cluster(directory=directory, backends=backends)
    cluster.start()
    leftovers: list[str] = []
    try:
        yield cluster
    finally:
        leftovers = cluster.stop()
    if leftovers:
        raise AssertionError("processes outlived the cluster:\n" + "\n".join(leftovers))


def wait_until(
    condition: Callable[[], Any], *, timeout: float, what: str, cluster: Cluster | None = None
) -> Any:
    """Poll `condition` until it returns something truthy (returned), at most `timeout`
    seconds; the assertion message ends with the services' logs."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = f"\n{cluster.logs()}" if cluster is not None else ""
            raise AssertionError(f"{what}: not reached within {timeout}s{logs}")
        time.sleep(0.1)
