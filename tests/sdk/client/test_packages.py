"""What `run_pipeline` and `upload_pipeline` accept: files, data, Sluice and kfp functions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sluice.client import errors
from sluice.client._packages import load_package
from sluice.compiler import Compiler, compile_pipeline

from tests.sdk.client.pipelines import add_pipeline, sleeping_pipeline


def test_a_yaml_file_a_json_file_and_data_give_the_same_package(tmp_path: Path) -> None:
    yaml_file = tmp_path / "add.yaml"
    Compiler().compile(add_pipeline, yaml_file)
    spec = compile_pipeline(add_pipeline)
    json_file = tmp_path / "add.json"
    json_file.write_text(json.dumps(spec))

    packages = [load_package(yaml_file), load_package(str(json_file)), load_package(spec)]

    assert all(package.pipeline_spec == spec for package in packages)
    assert all(package.platform_spec is None and package.name == "client-add" for package in packages)
    assert load_package(add_pipeline).pipeline_spec == spec
    assert load_package(add_pipeline).run_spec() == spec


def test_a_platform_spec_travels_with_the_pipeline_spec(tmp_path: Path) -> None:
    spec = compile_pipeline(sleeping_pipeline)
    platform: dict[str, Any] = {"platforms": {"kubernetes": {}}}
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump_all([spec, platform]))

    package = load_package(path)

    assert package.platform_spec == platform
    assert package.run_spec() == {"pipeline_spec": spec, "platform_spec": platform}
    assert list(yaml.safe_load_all(package.to_yaml())) == [spec, platform]
    assert load_package({"pipeline_spec": spec, "platform_spec": platform}) == package.__class__(
        spec, platform, "pipeline"
    )


def test_with_caching_sets_every_task_of_every_dag() -> None:
    from tests.samples.parity_pipeline import parity

    package = load_package(parity)
    off = package.with_caching(False)

    dags = [off.pipeline_spec["root"], *off.pipeline_spec["components"].values()]
    tasks = [task for dag in dags for task in (dag.get("dag") or {}).get("tasks", {}).values()]
    assert len(tasks) == 6
    assert all(task["cachingOptions"] == {"enableCache": False} for task in tasks)
    # The original is left as it was (the compiler enables caching by default).
    assert package.pipeline_spec["root"]["dag"]["tasks"]["scale"]["cachingOptions"] == {"enableCache": True}
    assert off.with_caching(True).pipeline_spec["root"]["dag"]["tasks"]["scale"]["cachingOptions"] == {
        "enableCache": True
    }


def test_a_kfp_pipeline_is_compiled_by_kfp(tmp_path: Path) -> None:
    from tests.samples.test_kfp_parity import port_to_kfp

    package = load_package(port_to_kfp(tmp_path))

    assert package.name == "parity"
    assert package.pipeline_spec["sdkVersion"].startswith("kfp-")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing.yaml", "cannot read the pipeline package"),
        ({"something": "else"}, "does not hold a pipeline spec"),
        (42, "expected a pipeline function"),
    ],
)
def test_what_is_not_a_pipeline_is_an_invalid_argument(source: object, message: str, tmp_path: Path) -> None:
    if isinstance(source, str):
        source = tmp_path / source
    with pytest.raises(errors.InvalidArgument, match=message):
        load_package(source)


def test_importing_the_client_imports_no_compiler_grpc_or_kfp() -> None:
    code = (
        "import sys, sluice\n"
        "client = sluice.Client('http://127.0.0.1:1')\n"
        "heavy = [m for m in ('kfp', 'grpc', 'sluice.dsl', 'sluice.compiler', 'yaml') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
