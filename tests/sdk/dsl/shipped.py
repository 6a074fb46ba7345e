"""Components that use what their module defines; `test_shipping` checks what ships with them."""

import json
import math as m
import os.path
from collections import Counter as Tally
from typing import NamedTuple

from sluice import dsl
from sluice.dsl import Dataset, Metrics, Output

try:
    import tomllib as toml_reader
except ImportError:  # pragma: no cover - Python < 3.11
    toml_reader = None  # type: ignore[assignment]

SCALE = 10
OFFSET = SCALE + 1
UNUSED_CONSTANT = "never shipped"


def unused_helper() -> None:
    raise AssertionError("never shipped")


def _square(value: float) -> float:
    return value * value


def distance(x: float, y: float) -> float:
    return m.sqrt(_square(x) + _square(y)) * SCALE


def factorial(n: int) -> int:
    return 1 if n <= 1 else n * factorial(n - 1)


class Summary(NamedTuple):
    words: int
    top: str


@dsl.component
def helper_used(x: float, y: float) -> float:
    """Uses a helper that uses another helper, a module alias and a constant."""
    return distance(x, y) + OFFSET


@dsl.component
def summarize(text: str, counts: Output[Dataset], metrics: Output[Metrics]) -> Summary:
    tally = Tally(text.split())
    with open(counts.path, "w") as file:
        json.dump(dict(tally), file)
    metrics.log_metric("words", factorial(3))
    return Summary(len(text.split()), tally.most_common(1)[0][0])


@dsl.component
def uses_dsl_in_body(name: str) -> str:
    return dsl.Dataset(name=name).schema_title + os.path.basename("/a/b") + str(toml_reader is not None)
