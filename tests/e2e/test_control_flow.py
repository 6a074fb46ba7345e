"""kfp-compiled control flow on `sluice up`: loops, conditions, exit handlers, nested
pipelines, importer, placeholders, and the failure paths through each.

Most runs are submitted together up front (`batch`) so they share the executor's slots;
each test then waits for its own run and checks exact outputs and task states.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.kfp_control_flow import compile_all
from tests.e2e.run_view import RunView, finished, start_run, when
from tests.fixtures.sluice_server import RunningSluice


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return compile_all(tmp_path_factory.mktemp("control-flow"))


@pytest.fixture(scope="module")
def imported_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("imported") / "data.txt"
    path.write_text("imported bytes")
    return path


# Runs started together: name -> (pipeline, parameters).
BATCH: dict[str, tuple[str, dict[str, Any]]] = {
    "loop-raw": ("loop-raw", {}),
    "loop-parameter": ("loop-parameter", {"xs": [5, 6, 7]}),
    "loop-upstream": ("loop-upstream", {"n": 4}),
    "loop-dicts": ("loop-dicts", {}),
    "loop-nested": ("loop-nested", {}),
    "loop-artifacts": ("loop-artifacts", {}),
    "loop-failure": ("loop-failure", {"bad": 2}),
    "conditions-big": ("conditions", {"n": 9}),
    "conditions-medium": ("conditions", {"n": 4}),
    "conditions-small": ("conditions", {"n": 1}),
    "condition-failure": ("condition-failure", {"n": 1}),
    "exit-success": ("exit-handlers", {}),
    "exit-failure": ("exit-handlers", {"message": "boom"}),
    "ignore-upstream-failure": ("ignore-upstream-failure", {}),
    "nested": ("nested", {"x": 3}),
    "resources": ("resources", {}),
    "combined": ("combined", {"n": 3}),
    "combined-bad": ("combined", {"n": 3, "bad": 4}),
    "combined-else": ("combined", {"n": 1}),
}


@pytest.fixture(scope="module")
def batch(sluice_server: RunningSluice, flows: dict[str, Path], imported_file: Path) -> dict[str, str]:
    runs = {
        name: start_run(sluice_server, flows[pipeline], params) for name, (pipeline, params) in BATCH.items()
    }
    runs["importer"] = start_run(sluice_server, flows["importer"], {"uri": imported_file.as_uri()})
    return runs


def _done(server: RunningSluice, batch: dict[str, str], name: str) -> RunView:
    return finished(server, batch[name], timeout=120)


def _max_overlap(tasks: list[dict[str, Any]]) -> int:
    """The most tasks that were running at the same moment."""
    edges = sorted(
        [(when(task["start_time"]), 1) for task in tasks] + [(when(task["end_time"]), -1) for task in tasks],
        key=lambda edge: (edge[0], edge[1]),
    )
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


# --- loops ------------------------------------------------------------------------------------


def test_parallelism_limit_is_never_exceeded(sluice_server: RunningSluice, flows: dict[str, Path]) -> None:
    # Alone on the server, so that the limit (not the executor's slots) is what bounds it.
    run = finished(sluice_server, start_run(sluice_server, flows["loop-parallelism"]))
    assert run.state == "SUCCEEDED", run.run.get("error")
    naps = run.named("nap")
    assert run.outputs("nap") == [1, 2, 3, 4, 5, 6]
    assert _max_overlap(naps) == 2
    assert _max_overlap(run.iterations("for-loop-2")) == 2


def test_loop_over_raw_items_collects_in_item_order(
    sluice_server: RunningSluice, batch: dict[str, str]
) -> None:
    run = _done(sluice_server, batch, "loop-raw")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.outputs("square") == [1, 4, 9]
    assert run.output("total") == 14
    loop = run.one("for-loop-2")
    assert loop["kind"] == "LOOP"
    iterations = run.iterations("for-loop-2")
    assert [iteration["task_name"] for iteration in iterations] == ["0", "1", "2"]
    for index, iteration in enumerate(iterations):
        assert iteration["parent_task_id"] == loop["task_id"]
        assert iteration["input_parameters"]["pipelinechannel--loop-item-param-1"] == index + 1
        (square,) = run.children(iteration)
        assert square["display_name"] == "square"
        assert square["input_parameters"] == {"x": index + 1}
    assert loop["output_parameters"] == {"pipelinechannel--square-Output": [1, 4, 9]}
    assert run.one("total")["parent_task_id"] == loop["parent_task_id"]


def test_loop_over_a_pipeline_parameter(sluice_server: RunningSluice, batch: dict[str, str]) -> None:
    run = _done(sluice_server, batch, "loop-parameter")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.outputs("square") == [25, 36, 49]
    assert run.output("total") == 110


def test_loop_over_an_upstream_output(sluice_server: RunningSluice, batch: dict[str, str]) -> None:
    run = _done(sluice_server, batch, "loop-upstream")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.output("numbers") == [1, 2, 3, 4]
    assert run.outputs("plus") == [101, 102, 103, 104]
    assert run.output("total") == 410


def test_loop_over_dicts_reads_sub_keys(sluice_server: RunningSluice, batch: dict[str, str]) -> None:
    run = _done(sluice_server, batch, "loop-dicts")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.outputs("describe-text") == ["x:10", "y:20"]
    assert run.outputs("describe") == ["b=2", "a=1"]
    assert run.output("raw-text") == "x:10,y:20"
    assert run.output("param-text") == "b=2,a=1"


def test_nested_loops(sluice_server: RunningSluice, batch: dict[str, str]) -> None:
    run = _done(sluice_server, batch, "loop-nested")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.outputs("plus") == [11, 21, 31, 12, 22, 32]
    outer = run.iterations("for-loop-2")
    assert len(outer) == 2
    for iteration in outer:
        (inner_loop,) = run.children(iteration)
        assert inner_loop["kind"] == "LOOP"
        assert len(run.children(inner_loop)) == 3
    assert len(run.named("for-loop-4")) == 2


def test_loops_over_artifacts_and_collected_artifacts(
    sluice_server: RunningSluice, batch: dict[str, str]
) -> None:
    run = _done(sluice_server, batch, "loop-artifacts")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.outputs("read-text") == ["c", "a", "b"]
    assert run.output("as-text") == "c,a,b"
    assert run.output("join-texts") == "c+a+b"
    assert run.output("join-collected") == "c+a+b"
    written = run.one("write-all")
    assert len(written["outputs"]["Output"]["artifact_ids"]) == 3
    reads = run.named("read-text")
    assert [read["inputs"]["data"]["artifact_ids"] for read in run._in_order(reads)] == [
        [artifact] for artifact in written["outputs"]["Output"]["artifact_ids"]
    ]


def test_task_failing_inside_a_loop_fails_the_loop_and_skips_downstream(
    sluice_server: RunningSluice, batch: dict[str, str]
) -> None:
    run = _done(sluice_server, batch, "loop-failure")
    assert run.state == "FAILED"
    assert "item 2 is bad" in run.run["error"]["message"]
    assert run.states("fail-on") == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert [it["state"] for it in run.iterations("for-loop-2")] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert run.one("for-loop-2")["state"] == "FAILED"
    assert run.one("total")["state"] == "SKIPPED"


# --- conditions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "chosen", "branches"),
    [
        ("conditions-big", "big", ("SUCCEEDED", "SKIPPED", "SKIPPED")),
        ("conditions-medium", "medium", ("SKIPPED", "SUCCEEDED", "SKIPPED")),
        ("conditions-small", "small", ("SKIPPED", "SKIPPED", "SUCCEEDED")),
    ],
)
def test_if_elif_else_and_one_of(
    sluice_server: RunningSluice,
    batch: dict[str, str],
    name: str,
    chosen: str,
    branches: tuple[str, str, str],
) -> None:
    run = _done(sluice_server, batch, name)
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.output("chosen") == chosen
    assert run.output("chosen-data") == f"{chosen} data"
    groups = ("condition-2", "condition-3", "condition-4")
    assert tuple(run.one(group)["state"] for group in groups) == branches
    # Tasks in a branch that was not taken are shown, as skipped.
    assert tuple(run.one(task)["state"] for task in ("big", "medium", "small")) == branches
    for group, task in zip(groups, ("big", "medium", "small"), strict=True):
        assert run.one(task)["parent_task_id"] == run.one(group)["task_id"]
    branches_group = run.one("condition-branches-1")
    assert branches_group["output_parameters"] == {"pipelinechannel--condition-branches-1-oneof-1": chosen}


def test_task_failing_inside_a_condition(sluice_server: RunningSluice, batch: dict[str, str]) -> None:
    run = _done(sluice_server, batch, "condition-failure")
    assert run.state == "FAILED"
    assert "inside the condition" in run.run["error"]["message"]
    assert run.one("condition-1")["state"] == "FAILED"
    assert run.one("fail")["state"] == "FAILED"
    assert run.one("condition-2")["state"] == "SKIPPED"
    assert run.one("not-reached")["state"] == "SKIPPED"


# --- exit handlers ----------------------------------------------------------------------------


def test_exit_handlers_after_success(sluice_server: RunningSluice, batch: dict[str, str]) -> None:
    run = _done(sluice_server, batch, "exit-success")
    assert run.state == "SUCCEEDED", run.run.get("error")
    first = json.loads(run.output("first-exit"))
    assert first == {
        "tag": "first",
        "state": "SUCCEEDED",
        "job": batch["exit-success"],
        "task": "exit-handler-1",
        "code": None,
        "message": None,
    }
    second = json.loads(run.output("second-exit"))
    assert second["state"] == "SUCCEEDED"
    assert second["task"] == "exit-handler-2"
    assert run.one("condition-3")["state"] == "SKIPPED"
    for exit_task, group in (("first-exit", "exit-handler-1"), ("second-exit", "exit-handler-2")):
        assert when(run.one(exit_task)["start_time"]) >= when(run.one(group)["end_time"])


def test_exit_handler_after_failure_gets_the_error(
    sluice_server: RunningSluice, batch: dict[str, str]
) -> None:
    run = _done(sluice_server, batch, "exit-failure")
    assert run.state == "FAILED"
    assert "boom" in run.run["error"]["message"]
    assert json.loads(run.output("first-exit"))["state"] == "SUCCEEDED"
    second = json.loads(run.output("second-exit"))
    assert second["state"] == "FAILED"
    assert second["task"] == "exit-handler-2"
    assert second["job"] == batch["exit-failure"]
    assert second["code"] == 2
    assert "ValueError: boom" in second["message"]
    assert run.one("second-exit")["state"] == "SUCCEEDED"
    assert run.one("exit-handler-2")["state"] == "FAILED"


def test_ignore_upstream_failure(sluice_server: RunningSluice, batch: dict[str, str]) -> None:
    run = _done(sluice_server, batch, "ignore-upstream-failure")
    assert run.state == "FAILED"
    assert run.one("fail")["state"] == "FAILED"
    assert run.one("cleanup")["state"] == "SUCCEEDED"
    assert run.output("cleanup") == "cleanup"
    assert run.one("dependent")["state"] == "SKIPPED"


# --- nested pipelines, importer, placeholders -------------------------------------------------


def test_nested_pipelines_pass_dag_outputs(sluice_server: RunningSluice, batch: dict[str, str]) -> None:
    run = _done(sluice_server, batch, "nested")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.output("after-inner") == 10
    assert run.output("read-text") == "inner"
    assert run.output("after-middle") == 1010
    root = run.one("root")
    inner = run.child(root, "inner-pipeline")
    assert inner["kind"] == "DAG"
    assert inner["output_parameters"] == {"value": 9}
    assert list(inner["outputs"]) == ["data"]
    middle = run.one("middle-pipeline")
    assert middle["output_parameters"] == {"Output": 10}
    nested_inner = run.child(middle, "inner-pipeline")
    assert run.child(nested_inner, "square")["output_parameters"] == {"Output": 9}


def test_importer_brings_in_an_existing_artifact(
    sluice_server: RunningSluice, batch: dict[str, str], imported_file: Path
) -> None:
    run = _done(sluice_server, batch, "importer")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.output("read-text") == "imported bytes"
    importer = run.one("importer")
    assert importer["kind"] == "IMPORTER"
    assert importer["state"] == "SUCCEEDED"
    assert (
        importer["outputs"]["artifact"]["artifact_ids"]
        == run.one("read-text")["inputs"]["data"]["artifact_ids"]
    )


def test_container_placeholders_concat_and_if_present(
    sluice_server: RunningSluice, batch: dict[str, str]
) -> None:
    run = _done(sluice_server, batch, "resources")
    assert run.state == "SUCCEEDED", run.run.get("error")
    run_id = batch["resources"]
    for display_name, greeting in (
        ("with-greeting", ["--greeting", "<hi>"]),
        ("without-greeting", ["--no-greeting"]),
    ):
        task = run.one(display_name)
        words = task["output_parameters"]["out"].split(" ")
        assert words[0] == "hello-" + ("sluice" if greeting[0] == "--greeting" else "bare") + "-x"
        assert words[1].endswith("/data")
        position = 2 + len(greeting)
        assert words[2:position] == greeting
        assert words[position : position + 4] == [task["task_name"], run_id, run_id, task["task_id"]]
        assert words[position + 4].startswith("file://")
        assert words[position + 5] == "resources"
    assert run.one("with-greeting")["kind"] == "CONTAINER"


# --- everything together ----------------------------------------------------------------------


def test_combined_loop_in_condition_in_exit_handler(
    sluice_server: RunningSluice, batch: dict[str, str]
) -> None:
    run = _done(sluice_server, batch, "combined")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.outputs("square") == [1, 4, 9]
    assert run.outputs("fail-on") == [1, 4, 9]
    assert run.output("sum") == 14
    assert run.output("joined") == "sq+sq+sq"
    assert run.output("final") == 1014
    assert run.one("too-few")["state"] == "SKIPPED"
    assert run.one("condition-5")["state"] == "SKIPPED"
    assert run.one("condition-4")["state"] == "SUCCEEDED"
    exit_status = json.loads(run.output("exit"))
    assert exit_status["state"] == "SUCCEEDED"
    assert exit_status["task"] == "exit-handler-1"
    loop = run.one("for-loop-3")
    assert run.parent(loop)["display_name"] == "condition-4"
    assert run.parent(run.parent(loop))["display_name"] == "condition-branches-2"
    assert run.parent(run.parent(run.parent(loop)))["display_name"] == "exit-handler-1"
    assert _max_overlap(run.iterations("for-loop-3")) <= 2
    for task in run.tasks:
        assert task["state"] in ("SUCCEEDED", "SKIPPED"), task["display_name"]


def test_combined_with_a_failing_iteration(sluice_server: RunningSluice, batch: dict[str, str]) -> None:
    run = _done(sluice_server, batch, "combined-bad")
    assert run.state == "FAILED"
    assert "item 4 is bad" in run.run["error"]["message"]
    assert run.states("fail-on") == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert run.states("write-text") == ["SUCCEEDED", "SKIPPED", "SUCCEEDED"]
    for name in ("sum", "joined", "final"):
        assert run.one(name)["state"] == "SKIPPED", name
    for name in ("for-loop-3", "condition-4", "condition-branches-2", "exit-handler-1"):
        assert run.one(name)["state"] == "FAILED", name
    exit_status = json.loads(run.output("exit"))
    assert exit_status["state"] == "FAILED"
    assert "item 4 is bad" in exit_status["message"]
    assert run.one("exit")["state"] == "SUCCEEDED"


def test_combined_else_branch(sluice_server: RunningSluice, batch: dict[str, str]) -> None:
    run = _done(sluice_server, batch, "combined-else")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.output("too-few") == "too few"
    assert run.one("condition-4")["state"] == "SKIPPED"
    assert run.one("for-loop-3")["state"] == "SKIPPED"
    assert json.loads(run.output("exit"))["state"] == "SUCCEEDED"
