from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import kmock
import pytest
from kubernetes import client

from services.executor.launchers.kubernetes import (
    KubernetesLauncher,
    KubernetesLauncherConfig,
    make_api_client,
)
from tests.services.executor.launchers.kubernetes.fake_kubelet import FakeKubelet

NAMESPACE = "tasks"


@pytest.fixture
async def emulator() -> AsyncIterator[kmock.KubernetesEmulator]:
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator):
        emulator.resources["v1/pods"] = kmock.ResourceInfo(kind="Pod", namespaced=True)
        yield emulator


@pytest.fixture
def api_client(emulator: kmock.KubernetesEmulator) -> Iterator[Any]:
    api = make_api_client(host=str(emulator.url))
    yield api
    api.close()


@pytest.fixture
def kubelet(api_client: Any, emulator: kmock.KubernetesEmulator, tmp_path: Path) -> FakeKubelet:
    scratch = tmp_path / "kubelet"
    scratch.mkdir()
    return FakeKubelet(client.CoreV1Api(api_client), emulator, namespace=NAMESPACE, scratch=scratch)


def launcher_config(**overrides: Any) -> KubernetesLauncherConfig:
    """Short waits, the test's interpreter as the images' python3, a loopback exchange."""
    settings: dict[str, Any] = {
        "namespace": NAMESPACE,
        "exchange_host": "127.0.0.1",
        "exchange_port": 0,
        "executor_id": "executor-test",
        "python": sys.executable,
        "poll_initial_seconds": 0.05,
        "poll_max_seconds": 0.2,
        "pull_grace_seconds": 0.3,
        "schedule_timeout_seconds": 5.0,
        "node_lost_grace_seconds": 0.3,
        "delete_grace_seconds": 1.0,
        "deadline_margin_seconds": 0.2,
        "api_outage_seconds": 0.5,
        "log_drain_seconds": 1.0,
    }
    settings.update(overrides)
    return KubernetesLauncherConfig(**settings)


@pytest.fixture
async def launcher(api_client: Any) -> AsyncIterator[KubernetesLauncher]:
    async with KubernetesLauncher(api_client, launcher_config()) as launcher:
        yield launcher
