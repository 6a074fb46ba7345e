"""Pipelines used as components: parameters and artifacts in and out, twice, and inside a loop."""
# mypy: disable-error-code="no-any-return"
# (a pipeline returns task outputs, which are pipeline values, typed Any, not the values they will hold)

from sluice import dsl
from sluice.dsl import Dataset, Input, Output


@dsl.component(base_image="python:3.11")
def add(a: int, b: int) -> int:
    return a + b


@dsl.component(base_image="python:3.11")
def save(value: int, out: Output[Dataset]) -> None:
    with open(out.path, "w") as file:
        file.write(str(value))


@dsl.component(base_image="python:3.11")
def load(data: Input[Dataset]) -> int:
    with open(data.path) as file:
        return int(file.read())


@dsl.pipeline
def add_and_save(a: int, b: int = 1) -> Dataset:
    summed = add(a=a, b=b)
    return save(value=summed.output).outputs["out"]


@dsl.pipeline
def load_and_add(data: Input[Dataset], b: int) -> int:
    loaded = load(data=data)
    return add(a=loaded.output, b=b).output


@dsl.pipeline(name="nested-pipelines")
def nested_pipelines_pipeline(a: int = 1) -> int:
    saved = add_and_save(a=a)
    first = load_and_add(data=saved.output, b=2)
    second = load_and_add(data=saved.output, b=first.output)
    with dsl.ParallelFor([1, 2]) as b:
        add_and_save(a=second.output, b=b)
    return second.output


PIPELINE = nested_pipelines_pipeline
