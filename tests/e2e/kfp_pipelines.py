"""Pipelines compiled by the real `kfp` SDK for the end-to-end tests."""
# ruff: noqa: UP006, UP035
# mypy: ignore-errors
# kfp reads the annotations at definition time, with typing's names (List, Dict, NamedTuple).

from pathlib import Path
from typing import Dict, List, NamedTuple

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Model, Output

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def add(a: int, b: int) -> int:
    return a + b


@dsl.component(base_image=IMAGE)
def echo_all(
    text: str, count: int, ratio: float, flag: bool, items: List[int], config: Dict[str, str]
) -> NamedTuple(
    "Outputs",
    [
        ("text", str),
        ("count", int),
        ("ratio", float),
        ("flag", bool),
        ("items", List[int]),
        ("config", Dict[str, str]),
    ],
):
    from collections import namedtuple

    outputs = namedtuple("Outputs", ["text", "count", "ratio", "flag", "items", "config"])
    return outputs(
        text + "!", count * 2, ratio / 2, not flag, [*items, sum(items)], {**config, "seen": "yes"}
    )


@dsl.component(base_image=IMAGE)
def make_dataset(rows: int, data: Output[Dataset]):
    with open(data.path, "w") as handle:
        for index in range(rows):
            handle.write(f"{index},{index * index}\n")
    data.metadata["rows"] = rows


@dsl.component(base_image=IMAGE)
def train(data: Input[Dataset], model: Output[Model]) -> float:
    with open(data.path) as handle:
        pairs = [tuple(int(x) for x in line.split(",")) for line in handle]
    slope = sum(y for _, y in pairs) / max(sum(x for x, _ in pairs), 1)
    with open(model.path, "w") as handle:
        handle.write(str(slope))
    model.metadata["framework"] = "handmade"
    return slope


@dsl.component(base_image=IMAGE)
def read_model(model: Input[Model]) -> str:
    with open(model.path) as handle:
        return handle.read() + "|" + model.metadata["framework"]


@dsl.component(base_image=IMAGE)
def fail(message: str) -> int:
    raise ValueError(message)


@dsl.pipeline(name="linear")
def linear(x: int = 1):
    first = add(a=x, b=1)
    second = add(a=first.output, b=10)
    add(a=second.output, b=100)


@dsl.pipeline(name="diamond")
def diamond(x: int = 2):
    top = add(a=x, b=0)
    left = add(a=top.output, b=1)
    right = add(a=top.output, b=2)
    add(a=left.output, b=right.output)


@dsl.pipeline(name="fan-in")
def fan_in():
    a = add(a=1, b=1)
    b = add(a=2, b=2)
    c = add(a=3, b=3)
    ab = add(a=a.output, b=b.output)
    add(a=ab.output, b=c.output)


@dsl.pipeline(name="all-types")
def all_types(
    text: str = "hi",
    count: int = 3,
    ratio: float = 1.5,
    flag: bool = True,
    items: List[int] = [1, 4],  # noqa: B006
    config: Dict[str, str] = {"a": "b"},  # noqa: B006
):
    echo_all(text=text, count=count, ratio=ratio, flag=flag, items=items, config=config)


@dsl.pipeline(name="artifacts")
def artifacts(rows: int = 4):
    data = make_dataset(rows=rows)
    model = train(data=data.outputs["data"])
    read_model(model=model.outputs["model"])


@dsl.pipeline(name="failing")
def failing(message: str = "bad input"):
    first = add(a=1, b=2)
    broken = fail(message=message).after(first)
    add(a=broken.output, b=1)


@dsl.pipeline(name="required-param")
def required_param(x: int):
    add(a=x, b=1)


PIPELINES = {
    "linear": linear,
    "diamond": diamond,
    "fan-in": fan_in,
    "all-types": all_types,
    "artifacts": artifacts,
    "failing": failing,
    "required-param": required_param,
}


def compile_all(directory: Path) -> dict[str, Path]:
    paths = {}
    for name, function in PIPELINES.items():
        path = directory / f"{name}.yaml"
        compiler.Compiler().compile(function, str(path))
        paths[name] = path
    return paths
