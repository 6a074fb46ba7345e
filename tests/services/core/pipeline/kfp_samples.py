"""Pipelines written with the real `kfp` SDK, one per IR feature the converter must handle.

`SAMPLES` maps a short name to a pipeline function; the `compiled` fixture compiles each
with `kfp.compiler.Compiler` once per test session. Component functions are only compiled,
never run. kfp reads the annotations at decoration time, so this module cannot use
`from __future__ import annotations`, and kfp 2.17 needs `Optional[...]` (not `X | None`)
and literal (mutable) defaults.
"""

from collections.abc import Callable
from typing import Any, Optional

from kfp import dsl
from kfp.dsl import Collected, ContainerSpec, Dataset, Input, Model, Output, PipelineTaskFinalStatus

BASE_IMAGE = "python:3.11-slim"

# The `spec_of` fixture: a sample's compiled PipelineSpec as a fresh dict.
SpecOf = Callable[[str], dict[str, Any]]


def component(func: Callable[..., Any]) -> Any:
    """`@dsl.component` with an explicit image (the implicit default warns)."""
    return dsl.component(func, base_image=BASE_IMAGE)


def container_component(func: Callable[..., Any]) -> Any:
    return dsl.container_component(func)


def pipeline(name: str) -> Callable[[Callable[..., Any]], Any]:
    def decorate(func: Callable[..., Any]) -> Any:
        return dsl.pipeline(name=name)(func)

    return decorate


# --- components ---------------------------------------------------------------------------


@component
def add(a: int, b: int) -> int:
    return a + b


@component
def make_list(n: int) -> list[int]:
    return list(range(n))


@component
def total(xs: list[int]) -> int:
    return sum(xs)


@component
def flip() -> str:
    return "heads"


@component
def echo(msg: str) -> str:
    return msg


@component
def all_types(
    s: str,
    i: int,
    f: float,
    b: bool,
    xs: list[int],
    d: dict[str, int],
    o: Optional[str] = None,  # noqa: UP045 - kfp 2.17 cannot read `str | None`
    n: int = 7,
) -> str:
    return s


@component
def produce(n: int, out: Output[Dataset]) -> None:
    with open(out.path, "w") as handle:
        handle.write(str(n))


@component
def train(data: Input[Dataset], model: Output[Model]) -> float:
    return 0.5


@component
def count(datasets: Input[list[Dataset]]) -> int:
    return len(datasets)


@component
def report(status: PipelineTaskFinalStatus) -> str:
    return str(status.state)


@container_component
def shell(msg: str, flag: Optional[str] = None) -> ContainerSpec:  # noqa: UP045
    return ContainerSpec(
        image="alpine:3.20",
        command=["sh", "-c", dsl.ConcatPlaceholder(["echo ", msg])],
        args=[
            dsl.ConcatPlaceholder(["--msg=", msg]),
            dsl.IfPresentPlaceholder(input_name="flag", then=["--flag", flag], else_=["--no-flag"]),
        ],
    )


# --- pipelines ----------------------------------------------------------------------------


@pipeline("linear")
def linear(a: int = 1) -> None:
    first = add(a=a, b=2)
    second = add(a=first.output, b=3)
    add(a=second.output, b=4)


@pipeline("diamond")
def diamond(x: int = 1) -> None:
    top = add(a=x, b=1)
    left = add(a=top.output, b=2)
    right = add(a=top.output, b=3)
    add(a=left.output, b=right.output)


@pipeline("fan-in")
def fan_in() -> None:
    one = echo(msg="one")
    two = echo(msg="two")
    three = flip()
    echo(msg="done").after(one, two, three)


@pipeline("types")
def types(
    s: str,
    i: int,
    f: float = 2.5,
    b: bool = False,
    xs: list[int] = [1, 2, 3],  # noqa: B006 - kfp needs the literal
    d: dict[str, int] = {"k": 1},  # noqa: B006
    o: Optional[str] = None,  # noqa: UP045
) -> None:
    all_types(s=s, i=i, f=f, b=b, xs=xs, d=d, o=o)
    all_types(s="c", i=4, f=0.25, b=True, xs=[5, 6], d={"z": 2})


@pipeline("artifacts")
def artifacts() -> None:
    made = produce(n=3)
    train(data=made.outputs["out"])


@pipeline("loops")
def loops(xs: list[int] = [1, 2]) -> None:  # noqa: B006
    with dsl.ParallelFor([1, 2, 3], parallelism=2) as raw_item:
        add(a=raw_item, b=1)
    with dsl.ParallelFor(xs) as param_item:
        add(a=param_item, b=2)
    listed = make_list(n=4)
    with dsl.ParallelFor(listed.output, parallelism=3) as out_item:
        doubled = add(a=out_item, b=out_item)
    total(xs=Collected(doubled.output))
    with dsl.ParallelFor([1, 2]) as outer, dsl.ParallelFor([10, 20]) as inner:
        add(a=outer, b=inner)
    with dsl.ParallelFor([{"a": 1, "b": 2}, {"a": 3, "b": 4}]) as pair:
        add(a=pair.a, b=pair.b)


@pipeline("collected-artifacts")
def collected_artifacts() -> list[Dataset]:
    with dsl.ParallelFor([1, 2]) as n:
        made = produce(n=n)
    count(datasets=Collected(made.outputs["out"]))
    train(data=produce(n=0).outputs["out"])
    return Collected(made.outputs["out"])  # type: ignore[no-any-return]


@pipeline("conditions")
def conditions() -> None:
    coin = flip()
    with dsl.If(coin.output == "heads"):
        heads = echo(msg="h")
    with dsl.Elif(coin.output == "tails"):
        tails = echo(msg="t")
    with dsl.Else():
        edge = echo(msg="e")
    echo(msg=dsl.OneOf(heads.output, tails.output, edge.output))


@pipeline("exit-handler")
def exit_handler() -> None:
    final = report()
    with dsl.ExitHandler(final):
        echo(msg="work")


@pipeline("inner")
def inner(n: int) -> int:
    return add(a=n, b=1).output  # type: ignore[no-any-return]


@pipeline("nested")
def nested() -> None:
    sub = inner(n=3)
    echo(msg="after").after(sub)
    add(a=sub.output, b=1)


@pipeline("importer")
def importer(uri: str = "gs://bucket/model") -> None:
    data = dsl.importer(
        artifact_uri="gs://bucket/data.csv",
        artifact_class=Dataset,
        reimport=True,
        metadata={"source": "census", "rows": 100},
    )
    dsl.importer(artifact_uri=uri, artifact_class=Model)
    train(data=data.output)


@pipeline("settings")
def settings(cpu: str = "2", image: str = "python:3.12-slim", name: str = "world") -> None:
    task = add(a=1, b=2)
    task.set_retry(num_retries=3, backoff_duration="3s", backoff_factor=1.5, backoff_max_duration="60s")
    task.set_caching_options(False)
    task.set_cpu_limit("500m").set_cpu_request("250m")
    task.set_memory_limit("1G").set_memory_request("512Mi")
    task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(2)
    task.set_env_variable("MODE", "fast")
    task.set_display_name("add with settings")
    # Resources and image from pipeline parameters; kfp injects undeclared task inputs for them.
    add(a=3, b=4).set_cpu_limit(cpu).set_container_image(image)
    # An f-string over a pipeline parameter: a constant with a placeholder plus an injected input.
    greeting = echo(msg=f"hello {name}")
    echo(msg="cleanup").after(greeting).ignore_upstream_failure()


@pipeline("container")
def container(msg: str = "hello") -> None:
    shell(msg=msg)
    shell(msg="x", flag="on")


SAMPLES: dict[str, Any] = {
    "linear": linear,
    "diamond": diamond,
    "fan-in": fan_in,
    "types": types,
    "artifacts": artifacts,
    "loops": loops,
    "collected-artifacts": collected_artifacts,
    "conditions": conditions,
    "exit-handler": exit_handler,
    "nested": nested,
    "importer": importer,
    "settings": settings,
    "container": container,
}
