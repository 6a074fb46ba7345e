from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.kfp_pipelines import compile_all
from tests.fixtures.sluice_server import RunningSluice


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return compile_all(tmp_path_factory.mktemp("pipelines"))


def load_spec(path: Path) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(path.read_text())
    return spec


def submit(
    server: RunningSluice, path: Path, parameters: dict[str, Any] | None = None, *, cache: bool = False
) -> str:
    """Start a run; caching is off unless asked for, so that runs of the shared server do not
    reuse each other's outputs."""
    body = {
        "display_name": path.stem,
        "pipeline_spec": load_spec(path),
        "runtime_config": {"parameters": parameters or {}},
        "disable_cache": not cache,
    }
    response = httpx.post(f"{server.http_url}/apis/v2beta1/runs", json=body, timeout=30)
    assert response.status_code == 200, response.text
    run_id: str = response.json()["run_id"]
    return run_id


def tasks_by_name(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task["display_name"]: task for task in run["run_details"]["task_details"]}
