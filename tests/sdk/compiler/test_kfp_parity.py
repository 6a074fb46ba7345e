"""The same pipeline compiled by `kfp` and by Sluice has the same structure.

Each golden pipeline is written with `from sluice import dsl`; porting it to KFP is changing
that import. Both compilers' outputs must agree on everything but the Python components'
commands (Sluice runs its own task runtime) and the number spelling (`3` and `3.0` are the
same protobuf value): task names, components, executors, inputs, dependencies, conditions,
loops, caching and retries.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler as kfp_compiler
from sluice.compiler import compile_pipeline

from tests.sdk.compiler.test_golden import GOLDEN_DIR, golden_pipeline

PORTABLE = [
    "artifacts",
    "conditions",
    "containers",
    "exit_handler",
    "helpers",
    "importer",
    "loops",
    "named_outputs",
    "nested_pipelines",
    "parameters",
]
"""Golden pipelines that use only what KFP has (`task_settings` sets a timeout, a Sluice addition)."""


def port_to_kfp(name: str, tmp_path: Path) -> Any:
    """Import `golden/<name>.py` with its Sluice imports changed to KFP's; returns its pipeline."""
    source = (GOLDEN_DIR / f"{name}.py").read_text()
    ported = source.replace("from sluice import dsl", "from kfp import dsl").replace(
        "from sluice.dsl import", "from kfp.dsl import"
    )
    assert "sluice" not in ported
    path = tmp_path / f"kfp_{name}.py"
    path.write_text(ported)
    spec = importlib.util.spec_from_file_location(f"kfp_golden_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.PIPELINE


def structure(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec without what legitimately differs: Python commands, SDK version, number spelling."""
    result: dict[str, Any] = normalize(spec)
    result.pop("sdkVersion")
    for executor in result.get("deploymentSpec", {}).get("executors", {}).values():
        container = executor.get("container", {})
        if container.get("args", [""])[0] == "--executor_input":
            container["command"] = "<python component>"
            container["args"] = container["args"][:4]
    return result


def normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: normalize(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@pytest.mark.parametrize("name", PORTABLE)
def test_kfp_compiles_the_ported_pipeline_to_the_same_structure(name: str, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kfp's FutureWarnings about its default image
        kfp_pipeline = port_to_kfp(name, tmp_path)
        package = tmp_path / f"{name}.yaml"
        kfp_compiler.Compiler().compile(kfp_pipeline, str(package))
    kfp_spec: dict[str, Any] = next(yaml.safe_load_all(package.read_text()))

    sluice_spec = compile_pipeline(golden_pipeline(name))

    assert structure(sluice_spec) == structure(kfp_spec)
