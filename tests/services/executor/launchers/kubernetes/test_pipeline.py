"""End to end through pods: a kfp-compiled pipeline whose artifacts pass from one task to the
next, with a Kubernetes platform config as kfp-kubernetes 2.17.3 writes it.

The engine decides, `build_dispatch` makes each task's dispatch, `run_attempt` runs it with
the `KubernetesLauncher` against the kmock emulator (the test plays the kubelet and really
runs each pod's container), and the results go back to the engine. The pipeline root is a
`file://` directory the "pods" cannot see (an empty tmpfs covers it where the kernel allows):
the artifacts reach them only by being staged through the attempt directory.
"""
# mypy: disable-error-code="untyped-decorator"

# No `from __future__ import annotations` here: kfp reads the components' annotations as types.

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output
from sluice.v1 import common_pb2

from services.core.pipeline.ir import parse_pipeline
from services.core.pipeline.model import ContainerExecutor, JsonValue, Pipeline
from services.core.store.records import RuntimeState, TaskRecord
from services.executor.attempt import attempt_dir_for, run_attempt
from services.executor.launchers.kubernetes import KubernetesLauncher
from services.executor.launchers.kubernetes.manifest import ATTEMPT_VOLUME
from services.executor.staging import LocalFileStager, file_uri_to_path
from services.scheduler.dispatch import build_dispatch
from services.scheduler.engine.plan import Launch
from services.scheduler.engine.results import apply_report
from services.scheduler.reports import report_from_result
from services.scheduler.runs import task_spec_at
from tests.services.executor.launchers.kubernetes.fake_kubelet import FakeKubelet, can_isolate, validate
from tests.services.scheduler.engine.harness import Harness


@dsl.component(base_image="python:3.12")
def make_data(text: str, data: Output[Dataset]) -> str:
    with open(data.path, "w") as f:
        f.write(text)
    data.metadata["rows"] = 1
    return "claim-7"


@dsl.component(base_image="python:3.12")
def shout(data: Input[Dataset], loud: Output[Dataset]) -> str:
    import os

    with open(data.path) as f:
        text = f.read()
    with open(loud.path, "w") as f:
        f.write(text.upper())
    return f"{text}|{data.metadata['rows']}|{os.environ['MODE']}"


@dsl.pipeline(name="through-pods")
def through_pods(text: str = "hello pods", secret: str = "db-credentials") -> None:
    made = make_data(text=text)
    shout(data=made.outputs["data"]).set_env_variable("MODE", "pod").set_cpu_limit("1")


# What kfp-kubernetes writes for `use_secret_as_env(task, secret_name=secret, ...)`,
# `mount_pvc(task, pvc_name=made.output, ...)` and `add_node_selector(task, ...)`: names
# from the pipeline's parameters and from the upstream task's output.
SHOUT_PLATFORM: dict[str, JsonValue] = {
    "secretAsEnv": [
        {
            "keyToEnv": [{"envVar": "DB_PASSWORD", "secretKey": "password"}],
            "optional": False,
            "secretNameParameter": {"componentInputParameter": "secret"},
        }
    ],
    "pvcMount": [
        {
            "mountPath": "/data",
            "pvcNameParameter": {
                "taskOutputParameter": {"outputParameterKey": "Output", "producerTask": "make-data"}
            },
            "taskOutputParameter": {"outputParameterKey": "Output", "producerTask": "make-data"},
        }
    ],
    "nodeSelector": {"labels": {"pool": "cpu"}},
}


def compiled_pipeline(tmp_path: Path) -> Pipeline:
    path = tmp_path / "through-pods.yaml"
    compiler.Compiler().compile(through_pods, str(path))
    spec = yaml.safe_load(path.read_text())
    executors = {"exec-shout": SHOUT_PLATFORM}
    return parse_pipeline(spec, {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}})


def launch_of(pipeline: Pipeline, record: TaskRecord) -> Launch:
    """The engine's decision to run `record`, as the scheduler rebuilds it from the store."""
    spec = task_spec_at(pipeline, record.path)
    assert spec is not None
    label = pipeline.component(spec.component).executor
    assert label is not None
    executor = pipeline.executors[label]
    assert isinstance(executor, ContainerExecutor)
    return Launch(task=record, spec=spec, executor_label=label, executor=executor)


async def test_a_pipeline_passes_artifacts_between_tasks_in_pods(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    work_root = tmp_path / "work"
    # The images' python3 is the test's interpreter, which has kfp (KFP's pip install is a no-op).
    kubelet.path_prefix = str(Path(sys.executable).parent)
    kubelet.hidden = [root]
    pipeline = compiled_pipeline(tmp_path)
    harness = Harness(pipeline, {"secret": "team-db"})
    harness.settle()
    pods: dict[str, dict[str, Any]] = {}

    while running := harness.running():
        for record in running:
            dispatch = build_dispatch(
                launch=launch_of(pipeline, record),
                run=harness.run,
                pipeline=pipeline,
                default_root=root.as_uri(),
            )
            harness.start(record)
            attempt = asyncio.create_task(
                run_attempt(
                    dispatch,
                    launcher=launcher,
                    stager=LocalFileStager(),
                    work_root=work_root,
                    stage_local_artifacts=True,
                )
            )
            pod = await kubelet.pod(within=30.0)
            validate(pod)
            pods[record.name] = pod
            assert await kubelet.complete(pod) == 0
            await kubelet.gone(pod["metadata"]["name"])
            result = await attempt
            assert result.state == common_pb2.SUCCEEDED, result.error.message
            assert result.pod_name == pod["metadata"]["name"]
            assert apply_report(record, report_from_result(result), retry=None, canceling=False)
            harness.settle()

    assert harness.run.state is RuntimeState.SUCCEEDED
    shouted = harness.task("shout")
    assert shouted.output_parameters == {"Output": "hello pods|1|pod"}
    assert shouted.pod_name == pods["shout"]["metadata"]["name"]
    (loud,) = shouted.output_artifacts["loud"]
    assert file_uri_to_path(loud.uri).read_text() == "HELLO PODS"
    assert loud.uri.startswith(root.as_uri())

    # The task read its input from its attempt directory, where the executor had staged it.
    shout_dir = attempt_dir_for(work_root, run_id="run-1", task_id=shouted.task_id, attempt=1)
    executor_input = json.loads((shout_dir / "executor_input.json").read_text())
    (data,) = executor_input["inputs"]["artifacts"]["data"]["artifacts"]
    assert Path(data["uri"]).is_relative_to(shout_dir / "staging" / "file")

    # The platform options, resolved by the scheduler, became parts of the pod.
    spec = pods["shout"]["spec"]
    container = spec["containers"][0]
    env = {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}
    assert env["DB_PASSWORD"] == {"secretKeyRef": {"name": "team-db", "key": "password", "optional": False}}
    assert env["MODE"] == "pod"
    assert container["resources"] == {"limits": {"cpu": "1"}}
    claims = [
        volume["persistentVolumeClaim"] for volume in spec["volumes"] if "persistentVolumeClaim" in volume
    ]
    assert claims == [{"claimName": "claim-7"}]
    assert spec["nodeSelector"] == {"pool": "cpu"}


async def test_the_pods_of_this_test_cannot_see_the_pipeline_root(
    kubelet: FakeKubelet, tmp_path: Path
) -> None:
    """What makes the test above prove that the artifacts were staged."""
    if not can_isolate():
        pytest.skip("this kernel gives no private mounts: the pods see every directory")
    root = tmp_path / "root"
    root.mkdir()
    (root / "marker").write_text("x")
    kubelet.hidden = [root]
    pod = {
        "metadata": {"name": "probe"},
        "spec": {
            "containers": [
                {
                    "command": ["sh", "-c"],
                    "args": [f"test ! -e {root / 'marker'}"],
                    "volumeMounts": [{"name": ATTEMPT_VOLUME, "mountPath": str(tmp_path / "attempt")}],
                }
            ]
        },
    }
    (tmp_path / "attempt").mkdir()

    code, _, _ = await kubelet.run(pod)

    assert code == 0
    assert (root / "marker").exists()
