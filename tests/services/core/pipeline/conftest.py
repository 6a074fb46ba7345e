"""Session fixtures: the sample pipelines compiled once by the real kfp compiler."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kfp import compiler

from tests.services.core.pipeline.kfp_samples import SAMPLES, SpecOf


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Sample name → the pipeline YAML kfp wrote for it."""
    directory = tmp_path_factory.mktemp("kfp-compiled")
    packages: dict[str, bytes] = {}
    for name, pipeline_func in SAMPLES.items():
        path = directory / f"{name}.yaml"
        compiler.Compiler().compile(pipeline_func, str(path))
        packages[name] = path.read_bytes()
    return packages


@pytest.fixture
def spec_of(compiled: dict[str, bytes]) -> SpecOf:
    """A fresh, mutable PipelineSpec dict of a sample, for tests that break it on purpose."""

    def load(name: str) -> dict[str, Any]:
        document: dict[str, Any] = yaml.safe_load(compiled[name])
        return document

    return load
