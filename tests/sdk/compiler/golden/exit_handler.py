"""An exit handler that learns how its block ended, and a task that ignores upstream failures."""

from sluice import dsl
from sluice.dsl import PipelineTaskFinalStatus


@dsl.component(base_image="python:3.11")
def work(fail: bool) -> str:
    if fail:
        raise RuntimeError("asked to fail")
    return "done"


@dsl.component(base_image="python:3.11")
def report(status: PipelineTaskFinalStatus, channel: str) -> None:
    print(channel, status.state, status.pipeline_task_name, status.error_message)


@dsl.component(base_image="python:3.11")
def cleanup(result: str = "none") -> None:
    print(result)


@dsl.pipeline(name="exit-handler")
def exit_handler_pipeline(fail: bool = False, channel: str = "#ops") -> None:
    notify = report(channel=channel)
    with dsl.ExitHandler(notify, name="guarded"):
        first = work(fail=fail)
        work(fail=False).after(first)
    attempt = work(fail=fail)
    cleanup(result=attempt.output).ignore_upstream_failure()


PIPELINE = exit_handler_pipeline
