"""One distributed cluster for the module's tests (`cluster.Cluster`), healed after each
test that killed part of it.

Select these tests with ``pytest tests/distributed`` or ``-m distributed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distributed.cluster import Backends, Cluster, running_cluster
from tests.distributed.pipelines import compile_all as compile_distributed
from tests.e2e.kfp_pipelines import compile_all as compile_e2e
from tests.fixtures.mongo import Nx27017Server
from tests.fixtures.s3 import SeaweedServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "distributed: Sluice as separate processes (NATS, nx-27017, SeaweedFS, services)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.distributed)


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, nx_27017: Nx27017Server, seaweedfs: SeaweedServer
) -> Iterator[Cluster]:
    backends = Backends(
        mongo_port=nx_27017.port,
        s3_endpoint=seaweedfs.endpoint,
        s3_access_key=seaweedfs.access_key,
        s3_secret_key=seaweedfs.secret_key,
    )
    with running_cluster(directory=tmp_path_factory.mktemp("cluster"), backends=backends) as running:
        yield running


@pytest.fixture
def healthy_cluster(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster with every process up; whatever the test killed is started again, and
    nothing the test's crashes left running may outlive it."""
    cluster.heal()
    yield cluster
    orphans = cluster.leftover_processes()
    cluster.heal()
    assert not orphans, f"processes outlived the service that started them: {orphans}"


@pytest.fixture(scope="session")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("distributed-pipelines")
    return compile_distributed(directory) | compile_e2e(directory)


@pytest.fixture
def marker_dir(tmp_path: Path) -> Path:
    """Where the tasks of `pipelines.step` leave their traces (see that module)."""
    directory = tmp_path / "markers"
    directory.mkdir()
    return directory
