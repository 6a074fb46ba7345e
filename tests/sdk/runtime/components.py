"""Components the runtime tests compile and run, using their module's imports and helpers."""

import json
import statistics as stats
from typing import NamedTuple

from sluice import dsl
from sluice.dsl import ClassificationMetrics, Dataset, Input, Metrics, Output, OutputPath

GREETING = "hello"


def greet(name: str) -> str:
    return f"{GREETING} {name}"


class Described(NamedTuple):
    text: str
    total: int
    mean: float
    flipped: bool
    extended: list[int]
    merged: dict[str, int]


@dsl.component
def describe(
    name: str, count: int, ratio: float, flag: bool, values: list[int], extra: dict[str, int]
) -> Described:
    return Described(
        greet(name),
        sum(values) + count,
        stats.mean(values) * ratio,
        not flag,
        [*values, len(extra)],
        {**extra, "n": len(values)},
    )


@dsl.component
def write_rows(rows: int, data: Output[Dataset], metrics: Output[Metrics]) -> None:
    with open(data.path, "w") as file:
        json.dump(list(range(rows)), file)
    data.metadata["rows"] = rows
    metrics.log_metric("rows", rows)


@dsl.component
def read_rows(data: Input[Dataset], evaluation: Output[ClassificationMetrics], note: OutputPath(str)) -> int:  # type: ignore[valid-type]
    with open(data.path) as file:
        rows = json.load(file)
    evaluation.log_confusion_matrix(["even", "odd"], [[len(rows[::2]), 0], [0, len(rows[1::2])]])
    evaluation.log_roc_curve([0.0, 1.0], [0.0, 1.0], [1.0, 0.0])
    with open(note, "w") as file:
        file.write(f"{len(rows)} rows, {data.metadata['rows']} in metadata")
    return sum(rows)


@dsl.component(packages_to_install=["PyYAML>=5"])
def with_packages() -> str:
    import yaml

    return str(yaml.safe_load("a: 1"))


@dsl.component
def explode(message: str) -> int:
    raise ValueError(f"boom: {message}")
