"""A pipeline written with Sluice's DSL in the subset KFP shares, so that changing its
imports to kfp's gives the same pipeline for kfp's compiler (see `test_kfp_parity`)."""
# mypy: disable-error-code="no-any-return"
# ruff: noqa: UP006, UP035
# kfp reads annotations with typing's names (List, NamedTuple), so both DSLs get those.

from typing import List, NamedTuple

from sluice import dsl
from sluice.dsl import Dataset, Input, Metrics, Output

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def make_numbers(count: int, numbers: Output[Dataset]) -> int:
    with open(numbers.path, "w") as handle:
        handle.write("\n".join(str(number) for number in range(1, count + 1)))
    numbers.metadata["count"] = count
    return count


@dsl.component(base_image=IMAGE)
def scale(numbers: Input[Dataset], factor: float, scaled: Output[Dataset]) -> float:
    with open(numbers.path) as handle:
        values = [float(line) * factor for line in handle.read().split()]
    with open(scaled.path, "w") as handle:
        handle.write("\n".join(f"{value:g}" for value in values))
    scaled.metadata["factor"] = factor
    return sum(values)


@dsl.component(base_image=IMAGE)
def power(base: float, exponent: int) -> float:
    return base**exponent


@dsl.component(base_image=IMAGE)
def add_all(values: List[float]) -> float:
    return sum(values)


@dsl.component(base_image=IMAGE)
def describe(total: float, powers: float, label: str, metrics: Output[Metrics]) -> NamedTuple(  # type: ignore[valid-type]
    "Outputs", summary=str, doubled=float
):
    from collections import namedtuple

    metrics.log_metric("total", total)
    metrics.log_metric("powers", powers)
    Outputs = namedtuple("Outputs", ["summary", "doubled"])
    return Outputs(f"{label}: {total:g} and {powers:g}", total * 2)


@dsl.pipeline(name="parity")
def parity(count: int = 4, factor: float = 2.5, label: str = "sum") -> str:
    numbers = make_numbers(count=count)
    scaled = scale(numbers=numbers.outputs["numbers"], factor=factor)
    with dsl.ParallelFor(items=[1, 2, 3]) as exponent:
        raised = power(base=factor, exponent=exponent)
    powers = add_all(values=dsl.Collected(raised.output))
    summary = describe(total=scaled.outputs["Output"], powers=powers.output, label=label)
    return summary.outputs["summary"]


PIPELINE = parity
