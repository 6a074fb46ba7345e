"""Control-flow pipelines compiled by the real `kfp` SDK for the end-to-end tests: loops,
conditions, exit handlers, nested pipelines, importer, retries, caching, lifecycle."""
# ruff: noqa: UP006, UP014, UP035, UP045
# mypy: ignore-errors
# kfp reads the annotations at definition time, with typing's names (List, Dict, Optional).

from pathlib import Path
from typing import List, NamedTuple, Optional

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output, OutputPath, PipelineTaskFinalStatus

IMAGE = "python:3.11"


# --- components -----------------------------------------------------------------------------


@dsl.component(base_image=IMAGE)
def square(x: int) -> int:
    return x * x


@dsl.component(base_image=IMAGE)
def plus(a: int, b: int) -> int:
    return a + b


@dsl.component(base_image=IMAGE)
def numbers(n: int) -> List[int]:
    return list(range(1, n + 1))


@dsl.component(base_image=IMAGE)
def total(xs: List[int]) -> int:
    return sum(xs)


@dsl.component(base_image=IMAGE)
def as_text(xs: List[str]) -> str:
    return ",".join(xs)


@dsl.component(base_image=IMAGE)
def describe(label: str, weight: int) -> str:
    return f"{label}={weight}"


@dsl.component(base_image=IMAGE)
def describe_text(label: str, weight: str) -> str:
    return f"{label}:{weight}"


@dsl.component(base_image=IMAGE)
def write_text(text: str, data: Output[Dataset]):
    with open(data.path, "w") as handle:
        handle.write(text)
    data.metadata["text"] = text


@dsl.component(base_image=IMAGE)
def read_text(data: Input[Dataset]) -> str:
    with open(data.path) as handle:
        return handle.read()


@dsl.component(base_image=IMAGE)
def join_texts(datas: Input[List[Dataset]]) -> str:
    parts = []
    for data in datas:
        with open(data.path) as handle:
            parts.append(handle.read())
    return "+".join(parts)


@dsl.component(base_image=IMAGE)
def nap(seconds: float, tag: int) -> int:
    import time

    time.sleep(seconds)
    return tag


@dsl.component(base_image=IMAGE)
def echo(text: str) -> str:
    return text


@dsl.component(base_image=IMAGE)
def fail(message: str) -> str:
    raise ValueError(message)


@dsl.component(base_image=IMAGE)
def fail_on(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"item {x} is bad")
    return x


@dsl.component(base_image=IMAGE)
def final_status(status: PipelineTaskFinalStatus, tag: str) -> str:
    import json

    return json.dumps(
        {
            "tag": tag,
            "state": status.state,
            "job": status.pipeline_job_resource_name,
            "task": status.pipeline_task_name,
            "code": status.error_code,
            "message": status.error_message,
        }
    )


@dsl.component(base_image=IMAGE)
def flaky(marker_dir: str, failures: int) -> int:
    """Fails `failures` times, then succeeds; returns the attempt number (1-based)."""
    import os

    os.makedirs(marker_dir, exist_ok=True)
    attempt = len(os.listdir(marker_dir)) + 1
    with open(os.path.join(marker_dir, f"attempt-{attempt}"), "w") as handle:
        handle.write("x")
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} fails on purpose")
    return attempt


@dsl.component(base_image=IMAGE)
def fail_first_time(marker: str) -> str:
    """Fails when `marker` does not exist yet (creating it), succeeds afterwards."""
    import os

    if not os.path.exists(marker):
        with open(marker, "w") as handle:
            handle.write("seen")
        raise RuntimeError("first run fails")
    return "second time lucky"


@dsl.component(base_image=IMAGE)
def stamp(salt: str) -> str:
    """A different output on every execution, so a test can tell a cache hit from a run."""
    import uuid

    return f"{salt}:{uuid.uuid4().hex}"


@dsl.component(base_image=IMAGE)
def hold(pid_dir: str, tag: int) -> int:
    """Starts a child process, records both pids, then waits: terminate must stop both."""
    import os
    import subprocess
    import time

    child = subprocess.Popen(["sleep", "300"])
    os.makedirs(pid_dir, exist_ok=True)
    with open(os.path.join(pid_dir, f"{tag}.pids"), "w") as handle:
        handle.write(f"{os.getpid()} {child.pid}")
    time.sleep(300)
    return tag


@dsl.component(base_image=IMAGE)
def talk_until_released(release: str) -> str:
    """Prints a line, then waits (at most two minutes) for the file `release` to exist."""
    import os
    import time

    print("halfway there", flush=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} never appeared")
        time.sleep(0.05)
    print("released, done")
    return "done"


@dsl.container_component
def placeholders(
    name: str,
    data: Input[Dataset],
    out: OutputPath(str),
    result: Output[Dataset],
    greeting: Optional[str] = None,
):
    # sh -c: the first argument is $0; everything after the result path goes to `out`.
    script = (
        'out="$0"; res="$1"; data="$3"; shift 1; mkdir -p "$(dirname "$res")"; '
        'printf "%s" "$*" > "$out"; printf "copied:%s" "$(cat "$data")" > "$res"'
    )
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["sh", "-c", script],
        args=[
            out,
            result.path,
            dsl.ConcatPlaceholder(["hello-", name, "-", "x"]),
            data.path,
            dsl.IfPresentPlaceholder(
                input_name="greeting",
                then=["--greeting", dsl.ConcatPlaceholder(["<", greeting, ">"])],
                else_=["--no-greeting"],
            ),
            dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
            dsl.PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER,
            dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            dsl.PIPELINE_TASK_ID_PLACEHOLDER,
            dsl.PIPELINE_ROOT_PLACEHOLDER,
            dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        ],
    )


# --- loops ----------------------------------------------------------------------------------


@dsl.pipeline(name="loop-raw")
def loop_raw():
    with dsl.ParallelFor([1, 2, 3]) as x:
        squared = square(x=x)
    total(xs=dsl.Collected(squared.output))


@dsl.pipeline(name="loop-parameter")
def loop_parameter(xs: List[int] = [5, 6]):  # noqa: B006
    with dsl.ParallelFor(xs, parallelism=2) as x:
        squared = square(x=x)
    total(xs=dsl.Collected(squared.output))


@dsl.pipeline(name="loop-upstream")
def loop_upstream(n: int = 4):
    listed = numbers(n=n)
    with dsl.ParallelFor(listed.output) as x:
        added = plus(a=x, b=100)
    total(xs=dsl.Collected(added.output))


@dsl.pipeline(name="loop-dicts")
def loop_dicts(
    items: List[dict] = [{"label": "b", "weight": 2}, {"label": "a", "weight": 1}],  # noqa: B006
):
    # `.name` would be the channel's own attribute, hence "label".
    # kfp types the sub-keys of raw dict items as strings.
    with dsl.ParallelFor([{"label": "x", "weight": "10"}, {"label": "y", "weight": "20"}]) as raw:
        raw_described = describe_text(label=raw.label, weight=raw.weight)
    with dsl.ParallelFor(items) as item:
        described = describe(label=item.label, weight=item.weight)
    as_text(xs=dsl.Collected(raw_described.output)).set_display_name("raw-text")
    as_text(xs=dsl.Collected(described.output)).set_display_name("param-text")


@dsl.pipeline(name="loop-nested")
def loop_nested():
    with dsl.ParallelFor([1, 2]) as a, dsl.ParallelFor([10, 20, 30]) as b:
        plus(a=a, b=b)


@dsl.pipeline
def write_all(texts: List[str]) -> List[Dataset]:
    with dsl.ParallelFor(texts) as text:
        written = write_text(text=text)
    return dsl.Collected(written.outputs["data"])


@dsl.pipeline(name="loop-artifacts")
def loop_artifacts(texts: List[str] = ["c", "a", "b"]):  # noqa: B006
    written = write_all(texts=texts)
    with dsl.ParallelFor(written.output) as data:
        read = read_text(data=data)
    as_text(xs=dsl.Collected(read.output))
    join_texts(datas=written.output)
    with dsl.ParallelFor(texts) as text:
        inner = write_text(text=text)
    join_texts(datas=dsl.Collected(inner.outputs["data"])).set_display_name("join-collected")


@dsl.pipeline(name="loop-parallelism")
def loop_parallelism(seconds: float = 0.6):
    with dsl.ParallelFor([1, 2, 3, 4, 5, 6], parallelism=2) as tag:
        nap(seconds=seconds, tag=tag)


@dsl.pipeline(name="loop-many")
def loop_many(count: int = 100):
    listed = numbers(n=count)
    with dsl.ParallelFor(listed.output, parallelism=10) as x:
        added = plus(a=x, b=0)
    total(xs=dsl.Collected(added.output))


@dsl.pipeline(name="loop-failure")
def loop_failure(bad: int = 2):
    with dsl.ParallelFor([1, 2, 3]) as x:
        checked = fail_on(x=x, bad=bad)
    total(xs=dsl.Collected(checked.output))


# --- conditions -----------------------------------------------------------------------------


@dsl.pipeline(name="conditions")
def conditions(n: int = 4):
    picked = plus(a=n, b=0)
    with dsl.If(picked.output > 5):
        big = echo(text="big").set_display_name("big")
        big_data = write_text(text="big data").set_display_name("big-data")
    with dsl.Elif(picked.output > 2):
        medium = echo(text="medium").set_display_name("medium")
        medium_data = write_text(text="medium data").set_display_name("medium-data")
    with dsl.Else():
        small = echo(text="small").set_display_name("small")
        small_data = write_text(text="small data").set_display_name("small-data")
    chosen = dsl.OneOf(big.output, medium.output, small.output)
    echo(text=chosen).set_display_name("chosen")
    data = dsl.OneOf(big_data.outputs["data"], medium_data.outputs["data"], small_data.outputs["data"])
    read_text(data=data).set_display_name("chosen-data")


@dsl.pipeline(name="condition-failure")
def condition_failure(n: int = 1):
    with dsl.If(n == 1):
        fail(message="inside the condition")
    with dsl.If(n == 2):
        echo(text="not reached").set_display_name("not-reached")


# --- exit handlers --------------------------------------------------------------------------


@dsl.pipeline(name="exit-handlers")
def exit_handlers(message: str = ""):
    first_exit = final_status(tag="first").set_display_name("first-exit")
    with dsl.ExitHandler(first_exit):
        echo(text="work")
    second_exit = final_status(tag="second").set_display_name("second-exit")
    with dsl.ExitHandler(second_exit), dsl.If(message != ""):
        fail(message=message)


@dsl.pipeline(name="ignore-upstream-failure")
def ignore_upstream_failure(message: str = "broken"):
    broken = fail(message=message)
    echo(text="cleanup").after(broken).ignore_upstream_failure().set_display_name("cleanup")
    echo(text="never").after(broken).set_display_name("dependent")


# --- nested pipelines and importer ----------------------------------------------------------


@dsl.pipeline
def inner_pipeline(x: int) -> NamedTuple("Outputs", [("value", int), ("data", Dataset)]):
    squared = square(x=x)
    written = write_text(text="inner")
    outputs = NamedTuple("Outputs", [("value", int), ("data", Dataset)])
    return outputs(value=squared.output, data=written.outputs["data"])


@dsl.pipeline
def middle_pipeline(x: int) -> int:
    inner = inner_pipeline(x=x)
    return plus(a=inner.outputs["value"], b=1).output


@dsl.pipeline(name="nested")
def nested(x: int = 3):
    inner = inner_pipeline(x=x)
    plus(a=inner.outputs["value"], b=1).set_display_name("after-inner")
    read_text(data=inner.outputs["data"])
    middle = middle_pipeline(x=x)
    plus(a=middle.output, b=1000).set_display_name("after-middle")


@dsl.pipeline(name="importer")
def importer(uri: str):
    imported = dsl.importer(artifact_uri=uri, artifact_class=Dataset, metadata={"origin": "test"})
    read_text(data=imported.output)


# --- retries, caching, lifecycle ------------------------------------------------------------


@dsl.pipeline(name="retries")
def retries(marker_dir: str, failures: int = 2):
    flaky(marker_dir=marker_dir, failures=failures).set_retry(
        num_retries=3, backoff_duration="1s", backoff_factor=2
    ).set_caching_options(False)


@dsl.pipeline(name="retries-exhausted")
def retries_exhausted(marker_dir: str):
    attempt = (
        flaky(marker_dir=marker_dir, failures=10)
        .set_retry(num_retries=1, backoff_duration="0s")
        .set_caching_options(False)
    )
    echo(text="never").after(attempt)


@dsl.pipeline(name="caching")
def caching(salt: str):
    cached = stamp(salt=salt).set_display_name("cached")
    stamp(salt=salt).set_caching_options(False).set_display_name("uncached")
    echo(text=cached.output).set_display_name("downstream")


@dsl.pipeline(name="retry-run")
def retry_run(marker: str, salt: str):
    before = stamp(salt=salt).set_display_name("before")
    side = stamp(salt=f"{salt}-side").set_display_name("side")
    flaky_step = fail_first_time(marker=marker).after(before)
    echo(text=flaky_step.output).set_display_name("after")
    exit_task = final_status(tag="retry").set_display_name("exit")
    with dsl.ExitHandler(exit_task):
        echo(text=side.output).set_display_name("in-group")


@dsl.pipeline(name="terminate")
def terminate(pid_dir: str):
    exit_task = final_status(tag="terminate").set_display_name("exit")
    with dsl.ExitHandler(exit_task):
        with dsl.ParallelFor([1, 2, 3, 4], parallelism=2) as tag:
            held = hold(pid_dir=pid_dir, tag=tag).set_caching_options(False)
        echo(text="after the loop").set_display_name("after-loop").after(held)


@dsl.pipeline(name="timeout")
def timeout():
    nap(seconds=30.0, tag=1).set_caching_options(False)


@dsl.pipeline(name="resources")
def resources(data_text: str = "payload"):
    source = write_text(text=data_text)
    placeholders(name="sluice", data=source.outputs["data"], greeting="hi").set_display_name(
        "with-greeting"
    ).set_cpu_limit("2").set_memory_limit("1G").set_cpu_request("500m").set_memory_request(
        "256Mi"
    ).set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1).set_env_variable("MODE", "test")
    placeholders(name="bare", data=source.outputs["data"]).set_display_name("without-greeting")


# --- everything together --------------------------------------------------------------------


@dsl.pipeline(name="combined")
def combined(n: int = 3, bad: int = 0):
    exit_task = final_status(tag="combined").set_display_name("exit")
    with dsl.ExitHandler(exit_task):
        listed = numbers(n=n)
        with dsl.If(n > 1):
            with dsl.ParallelFor(listed.output, parallelism=2) as x:
                squared = square(x=x)
                checked = fail_on(x=squared.output, bad=bad)
                written = write_text(text="sq").after(checked)
            summed = total(xs=dsl.Collected(checked.output)).set_display_name("sum")
            joined = join_texts(datas=dsl.Collected(written.outputs["data"])).set_display_name("joined")
            plus(a=summed.output, b=1000).set_display_name("final").after(joined)
        with dsl.Else():
            echo(text="too few").set_display_name("too-few")


@dsl.pipeline(name="live-log")
def live_log(release: str):
    talk_until_released(release=release).set_caching_options(False)


PIPELINES = {
    "loop-raw": loop_raw,
    "loop-parameter": loop_parameter,
    "loop-upstream": loop_upstream,
    "loop-dicts": loop_dicts,
    "loop-nested": loop_nested,
    "loop-artifacts": loop_artifacts,
    "loop-parallelism": loop_parallelism,
    "loop-many": loop_many,
    "loop-failure": loop_failure,
    "conditions": conditions,
    "condition-failure": condition_failure,
    "exit-handlers": exit_handlers,
    "ignore-upstream-failure": ignore_upstream_failure,
    "nested": nested,
    "importer": importer,
    "retries": retries,
    "retries-exhausted": retries_exhausted,
    "caching": caching,
    "retry-run": retry_run,
    "terminate": terminate,
    "timeout": timeout,
    "resources": resources,
    "combined": combined,
    "live-log": live_log,
}


def compile_all(directory: Path) -> dict[str, Path]:
    paths = {}
    for name, function in PIPELINES.items():
        path = directory / f"{name}.yaml"
        compiler.Compiler().compile(function, str(path))
        paths[name] = path
    return paths
