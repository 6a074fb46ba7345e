"""What a task's dispatch carries: resources, env and time limit from a kfp-compiled IR,
even when the local launcher cannot enforce them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.core.pipeline.ir import parse_pipeline
from services.core.store.records import ArtifactRef, RuntimeState
from services.scheduler.dispatch import build_dispatch, timeout_of
from services.scheduler.engine.dag import advance
from tests.e2e.kfp_control_flow import compile_all
from tests.services.scheduler.engine.harness import Harness


@pytest.fixture(scope="module")
def resources_spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    path: Path = compile_all(tmp_path_factory.mktemp("dispatch"))["resources"]
    spec: dict[str, object] = yaml.safe_load(path.read_text())
    return spec


def test_resources_env_and_timeout_travel_with_the_task(resources_spec: dict[str, object]) -> None:
    # What kfp-kubernetes' `set_timeout(task, 90)` adds to the IR's platform document.
    platform = {
        "platforms": {
            "kubernetes": {
                "deploymentSpec": {"executors": {"exec-placeholders": {"activeDeadlineSeconds": "90"}}}
            }
        }
    }
    pipeline = parse_pipeline(resources_spec, platform)
    harness = Harness(pipeline)
    harness.settle()
    harness.report(harness.task("write-text"), RuntimeState.RUNNING)
    data = ArtifactRef(artifact_id="a1", name="data", uri="file:///tmp/data", schema_title="system.Dataset")
    harness.report(harness.task("write-text"), RuntimeState.SUCCEEDED, artifacts={"data": [data]})
    step = advance(pipeline, harness.run, list(harness.tasks.values()), harness.now)
    launches = {launch.task.display_name: launch for launch in step.launches}
    dispatch = build_dispatch(
        launch=launches["with-greeting"], run=harness.run, pipeline=pipeline, default_root="file:///tmp/root"
    )
    resources = dispatch.container.resources
    assert resources.cpu_limit == 2.0
    assert resources.cpu_request == 0.5
    assert resources.memory_limit == 1e9
    assert resources.memory_request == 256 * 1024**2
    assert resources.accelerator_type == "nvidia.com/gpu"
    assert resources.accelerator_count == 1
    assert {env.name: env.value for env in dispatch.container.env} == {"MODE": "test"}
    assert dispatch.timeout_seconds == 90.0
    assert dispatch.platform["activeDeadlineSeconds"] == "90"

    bare = build_dispatch(
        launch=launches["without-greeting"],
        run=harness.run,
        pipeline=pipeline,
        default_root="file:///tmp/root",
    )
    assert bare.timeout_seconds == 0.0
    assert bare.container.resources.cpu_limit == 0.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90", 90.0), (30, 30.0), (1.5, 1.5), ("soon", 0.0), (-5, 0.0), (True, 0.0), (None, 0.0)],
)
def test_timeout_of_reads_active_deadline_seconds(value: object, seconds: float) -> None:
    assert timeout_of({"activeDeadlineSeconds": value}) == seconds  # type: ignore[dict-item]
    assert timeout_of(None) == 0.0
