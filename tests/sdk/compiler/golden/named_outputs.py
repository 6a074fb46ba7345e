"""Several outputs: a NamedTuple class and KFP's call-style NamedTuple."""
# mypy: disable-error-code="no-any-return"
# (a pipeline returns task outputs, which are pipeline values, typed Any, not the values they will hold)

from typing import NamedTuple

from sluice import dsl


class Stats(NamedTuple):
    total: int
    mean: float
    label: str


@dsl.component(base_image="python:3.11")
def stats(values: list[int]) -> Stats:
    return Stats(sum(values), sum(values) / len(values), "stats")


@dsl.component(base_image="python:3.11")
def split(text: str) -> NamedTuple("Parts", head=str, tail=str):  # type: ignore[valid-type]
    head, _, tail = text.partition(" ")
    return (head, tail)


@dsl.component(base_image="python:3.11")
def join(left: str, right: str, total: int) -> str:
    return f"{left}/{right}/{total}"


@dsl.pipeline(name="named-outputs")
def named_outputs_pipeline(values: list[int] = [1, 2, 3], text: str = "a b c") -> str:  # noqa: B006
    computed = stats(values=values)
    parts = split(text=text)
    joined = join(left=parts.outputs["head"], right=parts.outputs["tail"], total=computed.outputs["total"])
    return joined.output


PIPELINE = named_outputs_pipeline
