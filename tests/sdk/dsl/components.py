"""Components the DSL tests call."""

from typing import NamedTuple

from sluice import dsl
from sluice.dsl import Dataset, Input, Model, Output


@dsl.component
def add(a: int, b: int = 1) -> int:
    return a + b


@dsl.component
def scale(x: float) -> float:
    return x * 2


@dsl.component
def shout(text: str) -> str:
    return text.upper()


@dsl.component
def produce(rows: int, data: Output[Dataset]) -> None:
    with open(data.path, "w") as file:
        file.write("x" * rows)


@dsl.component
def consume(data: Input[Dataset]) -> int:
    with open(data.path) as file:
        return len(file.read())


@dsl.component
def fit(data: Input[Dataset], model: Output[Model]) -> None:
    with open(model.path, "w") as file:
        file.write(data.uri)


@dsl.component
def nothing() -> None:
    pass


class Pair(NamedTuple):
    left: str
    right: str


@dsl.component
def pair() -> Pair:
    return Pair("l", "r")


@dsl.component
def numbers() -> list[int]:
    return [1, 2, 3]


@dsl.component
def final(status: dsl.PipelineTaskFinalStatus) -> None:
    print(status.state)
