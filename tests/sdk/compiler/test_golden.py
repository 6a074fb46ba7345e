"""Golden files: each `golden/<name>.py` pipeline compiles to exactly `golden/<name>.yaml`.

Run with `SLUICE_UPDATE_GOLDEN=1` to rewrite the YAML files after an intended change. The
compiled files are also checked against the two validators that matter: the real `kfp`
package loads them, and Sluice's own IR parser accepts them.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
from pathlib import Path

import pytest
from kfp import components
from sluice.compiler import Compiler, compile_package
from sluice.dsl import Pipeline

from services.core.pipeline.ir import load_pipeline

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN_NAMES = sorted(path.stem for path in GOLDEN_DIR.glob("*.py") if path.stem != "__init__")
UPDATE = os.environ.get("SLUICE_UPDATE_GOLDEN") == "1"


def golden_pipeline(name: str) -> Pipeline:
    module = importlib.import_module(f"tests.sdk.compiler.golden.{name}")
    pipeline: Pipeline = module.PIPELINE
    return pipeline


@functools.cache
def compiled_text(name: str, directory: Path) -> str:
    package = directory / f"{name}.yaml"
    Compiler().compile(golden_pipeline(name), package)
    return package.read_text()


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compiled")


def test_every_feature_has_a_golden_file() -> None:
    assert len(GOLDEN_NAMES) >= 10


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_compiles_to_the_golden_file(name: str, out_dir: Path) -> None:
    expected_path = GOLDEN_DIR / f"{name}.yaml"

    actual = compiled_text(name, out_dir)

    if UPDATE:
        expected_path.write_text(actual)
    assert expected_path.exists(), (
        f"no golden file; run with SLUICE_UPDATE_GOLDEN=1 to create {expected_path}"
    )
    assert actual == expected_path.read_text()


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_compiling_twice_gives_the_same_data_in_the_same_order(name: str) -> None:
    pipeline = golden_pipeline(name)
    first, second = compile_package(pipeline), compile_package(pipeline)

    assert json.dumps([first.pipeline_spec, first.platform_spec]) == json.dumps(
        [second.pipeline_spec, second.platform_spec]
    )


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_kfp_loads_the_compiled_file(name: str, out_dir: Path) -> None:
    compiled_text(name, out_dir)

    component = components.load_component_from_file(str(out_dir / f"{name}.yaml"))

    assert component.name == golden_pipeline(name).name


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_sluice_accepts_the_compiled_file(name: str, out_dir: Path) -> None:
    pipeline = load_pipeline(compiled_text(name, out_dir))

    assert pipeline.name == golden_pipeline(name).name


def test_compiled_data_is_a_fresh_copy() -> None:
    pipeline = golden_pipeline("parameters")
    first = compile_package(pipeline)
    first.pipeline_spec["pipelineInfo"]["name"] = "changed"

    assert compile_package(pipeline).pipeline_spec["pipelineInfo"]["name"] == "parameters"
