"""`sluice service executor`'s wiring: which launcher the settings choose, and how it is built."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import kmock
import pytest

from services.executor.launchers.local import LocalLauncher
from services.executor.main import (
    Settings,
    build_launcher,
    exchange_url_of,
    kubernetes_api_client,
    kubernetes_launcher_config,
    serve,
)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The executor's settings from the environment, as in a pod of the Helm chart."""
    for name, value in {
        "SLUICE_EXECUTOR_LAUNCHER": "kubernetes",
        "SLUICE_KUBERNETES_NAMESPACE": "pipeline-tasks",
        "SLUICE_KUBERNETES_SERVICE_ACCOUNT": "sluice-task",
        "SLUICE_KUBERNETES_EXCHANGE_PORT": "8790",
        "POD_IP": "10.1.2.3",
    }.items():
        monkeypatch.setenv(name, value)
    return Settings()


@pytest.fixture
async def emulator() -> AsyncIterator[kmock.KubernetesEmulator]:
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator):
        emulator.resources["v1/pods"] = kmock.ResourceInfo(kind="Pod", namespaced=True)
        yield emulator


def test_the_launcher_config_comes_from_the_settings(settings: Settings) -> None:
    config = kubernetes_launcher_config(settings, executor_id="sluice-executor-7d9f")

    assert (config.namespace, config.service_account) == ("pipeline-tasks", "sluice-task")
    assert (config.exchange_host, config.exchange_port) == ("0.0.0.0", 8790)
    assert config.exchange_url == "http://10.1.2.3:8790"
    assert config.executor_id == "sluice-executor-7d9f"


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ({"POD_IP": "fd00::5"}, "http://[fd00::5]:8790"),
        ({"SLUICE_KUBERNETES_EXCHANGE_PORT": "9000"}, "http://10.1.2.3:9000"),
        ({"SLUICE_KUBERNETES_EXCHANGE_URL": "http://executor.tasks:8790"}, "http://executor.tasks:8790"),
    ],
)
def test_pods_reach_the_exchange_at_the_pod_ip_unless_told_otherwise(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert exchange_url_of(Settings()) == url


@pytest.mark.parametrize(
    ("pod_ip", "message"),
    [("", "set POD_IP .* or SLUICE_KUBERNETES_EXCHANGE_URL"), ("executor-0", "is not an IP address")],
)
def test_without_an_address_for_the_exchange_the_executor_does_not_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, pod_ip: str, message: str
) -> None:
    monkeypatch.setenv("POD_IP", pod_ip)

    with pytest.raises(SystemExit, match=message):
        exchange_url_of(Settings())


async def test_an_unknown_launcher_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_EXECUTOR_LAUNCHER", "docker")

    with pytest.raises(SystemExit, match="unknown launcher 'docker'; use one of local, kubernetes"):
        await serve(Settings())


async def test_the_local_launcher_is_closed_with_its_lifetime(tmp_path: Path) -> None:
    launcher, lifetime = build_launcher(Settings(), work_dir=tmp_path, executor_id="e")

    assert isinstance(launcher, LocalLauncher)
    async with lifetime:
        pass


async def test_the_kubernetes_launcher_runs_for_its_lifetime(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, emulator: kmock.KubernetesEmulator, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLUICE_KUBERNETES_API_URL", str(emulator.url))
    monkeypatch.setenv("SLUICE_KUBERNETES_EXCHANGE_HOST", "127.0.0.1")
    monkeypatch.setenv("SLUICE_KUBERNETES_EXCHANGE_PORT", "0")
    from services.executor.launchers.kubernetes import KubernetesLauncher

    launcher, lifetime = build_launcher(Settings(), work_dir=tmp_path, executor_id="e")

    assert isinstance(launcher, KubernetesLauncher)
    async with lifetime:
        assert launcher.exchange_url == "http://10.1.2.3:0"
    with pytest.raises(RuntimeError, match="not started"):
        assert launcher.exchange_url


def test_the_api_client_comes_from_the_url_else_the_kubeconfig(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        """
apiVersion: v1
kind: Config
clusters: [{name: lab, cluster: {server: "https://k8s.lab.example:6443"}}]
users: [{name: me, user: {token: "t0ken"}}]
contexts: [{name: lab, context: {cluster: lab, user: me}}]
current-context: lab
"""
    )
    monkeypatch.setenv("SLUICE_KUBERNETES_KUBECONFIG", str(kubeconfig))
    from_kubeconfig = kubernetes_api_client(Settings())
    monkeypatch.setenv("SLUICE_KUBERNETES_API_URL", "http://127.0.0.1:8001/")
    from_url = kubernetes_api_client(Settings())
    try:
        assert from_kubeconfig.configuration.host == "https://k8s.lab.example:6443"
        assert from_url.configuration.host == "http://127.0.0.1:8001"
    finally:
        from_kubeconfig.close()
        from_url.close()


def test_the_kubernetes_client_is_imported_only_for_the_kubernetes_launcher() -> None:
    """The executor builds pod facts for every launch; the `kubernetes` package stays unloaded."""
    code = (
        "import sys, services.executor.main, services.executor.attempt;"
        "from services.executor.launchers.kubernetes import PodTask;"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] == 'kubernetes');"
        "print(loaded)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert output.strip() == "[]"
