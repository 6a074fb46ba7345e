"""The DAG state machine, driven step by step without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.core.pipeline.model import (
    Component,
    Constant,
    ContainerExecutor,
    Dag,
    DagParameterOutput,
    FromComponentInput,
    FromTaskFinalStatus,
    FromTaskOutput,
    Interface,
    ParameterInput,
    ParameterIterator,
    ParameterSpec,
    ParameterType,
    Pipeline,
    RetryPolicy,
    Task,
    TriggerStrategy,
)
from services.core.store.records import ErrorInfo, RunRecord, RuntimeState, TaskRecord
from services.scheduler.engine.dag import advance
from services.scheduler.engine.results import AttemptReport, apply_report

NOW = datetime(2026, 1, 1, tzinfo=UTC)
INT = ParameterType.NUMBER_INTEGER


def _param(name: str, type_: ParameterType = INT, **kwargs: object) -> ParameterSpec:
    return ParameterSpec(name=name, type=type_, **kwargs)  # type: ignore[arg-type]


ADD = Component(
    name="comp-add",
    inputs=Interface(parameters={"a": _param("a"), "b": _param("b", has_default=True, default=1)}),
    outputs=Interface(parameters={"Output": _param("Output")}),
    executor="exec-add",
)
EXECUTORS = {"exec-add": ContainerExecutor(image="python:3.11", command=("python3",), args=("add",))}


def _pipeline(tasks: dict[str, Task], *, components: dict[str, Component] | None = None) -> Pipeline:
    root = Component(
        name="root",
        inputs=Interface(parameters={"x": _param("x")}),
        outputs=Interface(),
        dag=Dag(tasks=tasks),
    )
    return Pipeline(
        name="p",
        display_name="p",
        description="",
        root=root,
        components={"comp-add": ADD, **(components or {})},
        executors=EXECUTORS,
    )


def _add(name: str, a: ParameterInput, *, deps: tuple[str, ...] = (), **kwargs: object) -> Task:
    return Task(name=name, component="comp-add", parameters={"a": a}, dependencies=deps, **kwargs)  # type: ignore[arg-type]


class Harness:
    """Applies plans to an in-memory run, as the scheduler's handlers do with the store."""

    def __init__(self, pipeline: Pipeline, parameters: dict[str, object]) -> None:
        self.pipeline = pipeline
        self.run = RunRecord(
            run_id="run-1",
            experiment_id="e",
            display_name="r",
            created_at=NOW,
            pipeline_spec={},
            parameters=parameters,  # type: ignore[arg-type]
        )
        self.tasks: dict[str, TaskRecord] = {}
        self.launched: list[str] = []
        self.now = NOW

    def settle(self) -> None:
        for _ in range(100):
            plan = advance(self.pipeline, self.run, list(self.tasks.values()), self.now)
            if plan.empty:
                return
            for task in plan.created + plan.updated:
                self.tasks[task.path] = task
            self.launched.extend(launch.task.name for launch in plan.launches)
            if plan.run is not None:
                self.run = plan.run
        raise AssertionError("did not settle")

    def run_state(self) -> RuntimeState:
        return self.run.state

    def task(self, name: str) -> TaskRecord:
        matches = [t for t in self.tasks.values() if t.name == name]
        assert len(matches) == 1, matches
        return matches[0]

    def finish(self, name: str, *, outputs: dict[str, object] | None = None, fail: str = "") -> None:
        task = self.task(name)
        for state in (RuntimeState.RUNNING, RuntimeState.FAILED if fail else RuntimeState.SUCCEEDED):
            report = AttemptReport(
                task_id=task.task_id,
                attempt=task.attempt,
                state=state,
                time=self.now,
                output_parameters=outputs or {},  # type: ignore[arg-type]
                error=ErrorInfo(message=fail) if fail and state is RuntimeState.FAILED else None,
            )
            spec = self.pipeline.root.dag.tasks.get(name) if self.pipeline.root.dag else None
            apply_report(task, report, retry=spec.retry if spec else None, canceling=False)
        self.settle()


def test_linear_pipeline_passes_parameters_and_succeeds() -> None:
    harness = Harness(
        _pipeline(
            {
                "first": _add("first", ParameterInput(FromComponentInput("x"))),
                "second": _add("second", ParameterInput(FromTaskOutput("first", "Output")), deps=("first",)),
            }
        ),
        {"x": 5},
    )
    harness.settle()
    assert harness.run_state() is RuntimeState.RUNNING
    assert harness.launched == ["first"]
    assert harness.task("first").input_parameters == {"a": 5, "b": 1}
    harness.finish("first", outputs={"Output": 6})
    assert harness.launched == ["first", "second"]
    assert harness.task("second").input_parameters == {"a": 6, "b": 1}
    harness.finish("second", outputs={"Output": 7})
    assert harness.run_state() is RuntimeState.SUCCEEDED
    assert harness.run.finished_at == NOW


def test_fan_in_waits_for_every_upstream() -> None:
    harness = Harness(
        _pipeline(
            {
                "left": _add("left", ParameterInput(Constant(1))),
                "right": _add("right", ParameterInput(Constant(2))),
                "join": Task(
                    name="join",
                    component="comp-add",
                    parameters={
                        "a": ParameterInput(FromTaskOutput("left", "Output")),
                        "b": ParameterInput(FromTaskOutput("right", "Output")),
                    },
                ),
            }
        ),
        {"x": 0},
    )
    harness.settle()
    assert sorted(harness.launched) == ["left", "right"]
    harness.finish("left", outputs={"Output": 10})
    assert "join" not in harness.launched
    harness.finish("right", outputs={"Output": 20})
    assert harness.task("join").input_parameters == {"a": 10, "b": 20}


def test_failure_skips_dependants_fails_run_and_lets_exit_task_run() -> None:
    harness = Harness(
        _pipeline(
            {
                "boom": _add("boom", ParameterInput(Constant(1))),
                "after": _add("after", ParameterInput(FromTaskOutput("boom", "Output"))),
                "independent": _add("independent", ParameterInput(Constant(3))),
                "cleanup": Task(
                    name="cleanup",
                    component="comp-add",
                    parameters={
                        "a": ParameterInput(Constant(0)),
                        "b": ParameterInput(FromTaskFinalStatus("boom")),
                    },
                    strategy=TriggerStrategy.ALL_UPSTREAM_TASKS_COMPLETED,
                ),
            }
        ),
        {"x": 0},
    )
    harness.settle()
    harness.finish("boom", fail="ValueError: bad input")
    assert harness.task("after").state is RuntimeState.SKIPPED
    status = harness.task("cleanup").input_parameters["b"]
    assert isinstance(status, dict)
    assert status["state"] == "FAILED"
    assert status["error"] == {"code": 2, "message": "ValueError: bad input"}
    assert harness.run_state() is RuntimeState.RUNNING
    harness.finish("independent", outputs={"Output": 4})
    harness.finish("cleanup", outputs={"Output": 0})
    assert harness.run_state() is RuntimeState.FAILED
    assert harness.run.error is not None
    assert "boom" in harness.run.error.message
    assert "ValueError: bad input" in harness.run.error.message


def test_missing_required_input_fails_the_task_with_its_name() -> None:
    harness = Harness(_pipeline({"t": Task(name="t", component="comp-add")}), {"x": 1})
    harness.settle()
    task = harness.task("t")
    assert task.state is RuntimeState.FAILED
    assert task.error is not None
    assert "'a'" in task.error.message
    assert harness.run_state() is RuntimeState.FAILED


def test_condition_false_skips_the_task_and_run_succeeds() -> None:
    harness = Harness(
        _pipeline(
            {
                "flip": _add("flip", ParameterInput(Constant(1))),
                "heads": Task(
                    name="heads",
                    component="comp-add",
                    parameters={"a": ParameterInput(FromTaskOutput("flip", "Output"))},
                    condition="int(inputs.parameter_values['a']) > 5",
                ),
            }
        ),
        {"x": 0},
    )
    harness.settle()
    harness.finish("flip", outputs={"Output": 2})
    assert harness.task("heads").state is RuntimeState.SKIPPED
    assert harness.run_state() is RuntimeState.SUCCEEDED


def test_retry_policy_relaunches_after_backoff_then_fails_when_exhausted() -> None:
    harness = Harness(
        _pipeline(
            {
                "flaky": _add(
                    "flaky",
                    ParameterInput(Constant(1)),
                    retry=RetryPolicy(max_retry_count=1, backoff_seconds=10),
                )
            }
        ),
        {"x": 0},
    )
    harness.settle()
    harness.finish("flaky", fail="first")
    assert harness.task("flaky").state is RuntimeState.RUNNING
    assert harness.launched == ["flaky"]
    harness.now = NOW + timedelta(seconds=11)
    harness.settle()
    assert harness.launched == ["flaky", "flaky"]
    assert harness.task("flaky").attempt == 2
    harness.finish("flaky", fail="second")
    task = harness.task("flaky")
    assert task.state is RuntimeState.FAILED
    assert [a.state for a in task.attempts] == [RuntimeState.FAILED, RuntimeState.FAILED]
    assert harness.run_state() is RuntimeState.FAILED


def test_loop_honours_parallelism_and_collects_outputs_in_item_order() -> None:
    body = Component(
        name="comp-for-loop-1",
        inputs=Interface(parameters={"item": _param("item")}),
        outputs=Interface(parameters={"Output": _param("Output", ParameterType.LIST)}),
        dag=Dag(
            tasks={"add": _add("add", ParameterInput(FromComponentInput("item")))},
            parameter_outputs={"Output": DagParameterOutput(sources=(FromTaskOutput("add", "Output"),))},
        ),
    )
    loop = Task(
        name="for-loop-1",
        component="comp-for-loop-1",
        iterator=ParameterIterator(items=ParameterInput(Constant("[3, 1, 2]")), item_input="item"),
        parallelism=2,
    )
    harness = Harness(_pipeline({"for-loop-1": loop}, components={"comp-for-loop-1": body}), {"x": 0})
    harness.settle()
    adds = sorted((t for t in harness.tasks.values() if t.name == "add"), key=lambda t: t.path)
    assert [t.input_parameters["a"] for t in adds] == [3, 1]
    first = adds[0]
    for state in (RuntimeState.RUNNING, RuntimeState.SUCCEEDED):
        apply_report(
            first,
            AttemptReport(
                task_id=first.task_id, attempt=1, state=state, time=NOW, output_parameters={"Output": 30}
            ),
            retry=None,
            canceling=False,
        )
    harness.settle()
    adds = sorted((t for t in harness.tasks.values() if t.name == "add"), key=lambda t: t.path)
    assert len(adds) == 3
    for task, value in zip(adds[1:], (10, 20), strict=True):
        for state in (RuntimeState.RUNNING, RuntimeState.SUCCEEDED):
            apply_report(
                task,
                AttemptReport(
                    task_id=task.task_id,
                    attempt=1,
                    state=state,
                    time=NOW,
                    output_parameters={"Output": value},
                ),
                retry=None,
                canceling=False,
            )
    harness.settle()
    assert harness.task("for-loop-1").output_parameters == {"Output": [30, 10, 20]}
    assert harness.run_state() is RuntimeState.SUCCEEDED


def test_the_pod_named_in_the_final_report_is_kept() -> None:
    """The executor names the pod only once it has created it, after reporting RUNNING."""
    harness = Harness(_pipeline({"add": _add("add", ParameterInput(Constant(1)))}), {"x": 0})
    harness.settle()
    task = harness.task("add")
    for state, pod_name in ((RuntimeState.RUNNING, ""), (RuntimeState.FAILED, "p-add-1")):
        apply_report(
            task,
            AttemptReport(task_id=task.task_id, attempt=1, state=state, time=NOW, pod_name=pod_name),
            retry=None,
            canceling=False,
        )

    assert (task.state, task.pod_name) == (RuntimeState.FAILED, "p-add-1")


def test_the_log_named_when_an_attempt_starts_is_kept_unless_its_end_names_another() -> None:
    """The executor says where the log goes when the attempt starts, so it can be followed."""
    harness = Harness(_pipeline({"add": _add("add", ParameterInput(Constant(1)))}), {"x": 0})
    harness.settle()
    task = harness.task("add")
    apply_report(
        task,
        AttemptReport(
            task_id=task.task_id, attempt=1, state=RuntimeState.RUNNING, time=NOW, log_uri="s3://b/1.log"
        ),
        retry=None,
        canceling=False,
    )
    assert (task.log_uri, task.attempts[0].log_uri) == ("s3://b/1.log", "s3://b/1.log")

    # An attempt that ends without a log of its own (it never started a process) keeps it.
    apply_report(
        task,
        AttemptReport(task_id=task.task_id, attempt=1, state=RuntimeState.FAILED, time=NOW),
        retry=None,
        canceling=False,
    )
    assert (task.log_uri, task.attempts[0].log_uri) == ("s3://b/1.log", "s3://b/1.log")
