"""ParallelFor over literals, inputs and task outputs; fields of dict items; nesting; Collected."""
# mypy: disable-error-code="no-any-return"
# (a pipeline returns task outputs, which are pipeline values, typed Any, not the values they will hold)

from sluice import dsl
from sluice.dsl import Dataset, Input, Output


@dsl.component(base_image="python:3.11")
def rows() -> list[dict[str, int]]:
    return [{"a": 1, "b": 2}, {"a": 3, "b": 4}]


@dsl.component(base_image="python:3.11")
def double(x: int) -> int:
    return 2 * x


@dsl.component(base_image="python:3.11")
def write(x: int, out: Output[Dataset]) -> None:
    with open(out.path, "w") as file:
        file.write(str(x))


@dsl.component(base_image="python:3.11")
def total(xs: list[int]) -> int:
    return sum(xs)


@dsl.component(base_image="python:3.11")
def count(datasets: Input[list[Dataset]]) -> int:
    return len(datasets)


@dsl.pipeline(name="loops")
def loops_pipeline(xs: list[int] = [1, 2, 3]) -> list[int]:  # noqa: B006
    with dsl.ParallelFor([1, 2, 3], parallelism=2) as literal:
        doubled = double(x=literal)
        written = write(x=literal)
    total(xs=dsl.Collected(doubled.output))
    count(datasets=dsl.Collected(written.outputs["out"]))
    with dsl.ParallelFor(xs) as x:
        with dsl.ParallelFor([10, 20]) as y:
            double(x=y)
        double(x=x)
    table = rows()
    with dsl.ParallelFor(table.output) as row:
        double(x=row.a)
    with dsl.ParallelFor([{"a": 1, "b": 2}]) as item:
        double(x=item.b)
    return dsl.Collected(doubled.output)


PIPELINE = loops_pipeline
