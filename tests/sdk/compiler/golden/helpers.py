"""A component using its module's imports, helpers and constants (shipped with it), and packages."""
# mypy: disable-error-code="no-any-return"
# (a pipeline returns task outputs, which are pipeline values, typed Any, not the values they will hold)

import json
import math as m
from collections import Counter

from sluice import dsl
from sluice.dsl import Dataset, Output

SCALE = 10
_UNUSED = "not shipped"


def _scaled(value: float) -> float:
    return value * SCALE


def summarize(words: list[str]) -> dict[str, int]:
    return dict(Counter(words))


class Tally:
    def __init__(self, words: list[str]) -> None:
        self.counts = summarize(words)


@dsl.component(
    base_image="python:3.11", packages_to_install=["PyYAML>=5"], pip_index_urls=["http://mirror.local/simple"]
)
def analyze(text: str, out: Output[Dataset]) -> float:
    tally = Tally(text.split())
    with open(out.path, "w") as file:
        json.dump(tally.counts, file)
    return _scaled(m.sqrt(len(tally.counts)))


@dsl.pipeline(name="helpers")
def helpers_pipeline(text: str = "a b a") -> float:
    return analyze(text=text).outputs["Output"]


PIPELINE = helpers_pipeline
