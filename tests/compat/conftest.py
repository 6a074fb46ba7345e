"""The real, unmodified `kfp.Client` pointed at a real `sluice up`."""

from __future__ import annotations

import warnings
from pathlib import Path

import kfp
import pytest
from kfp import compiler

from tests.compat.kfp_pipelines import pair, sleepy
from tests.e2e.kfp_pipelines import compile_all
from tests.fixtures.sluice_server import RunningSluice


@pytest.fixture(scope="session")
def kfp_client(sluice_server: RunningSluice) -> kfp.Client:
    with warnings.catch_warnings():
        # kfp.Client warns on construction that it needs KFP >= 2.0.0-beta.2.
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(host=sluice_server.http_url)


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """kfp-compiled pipeline packages by name (YAML)."""
    directory = tmp_path_factory.mktemp("compat-pipelines")
    paths = compile_all(directory)
    for name, function in (("sleepy", sleepy), ("pair", pair)):
        path = directory / f"{name}.yaml"
        compiler.Compiler().compile(function, str(path))
        paths[name] = path
    return paths
