"""Pipelines compiled by the real `kfp` SDK for the scheduler replica tests."""
# mypy: ignore-errors
# kfp reads the annotations at definition time.

from pathlib import Path

from kfp import compiler, dsl

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def plus(a: int, b: int) -> int:
    return a + b


@dsl.pipeline
def inner(x: int) -> int:
    return plus(a=x, b=1).output


@dsl.pipeline(name="nested-chain")
def nested_chain(x: int = 1):
    """When the inner pipeline's task ends, one plan both finishes the inner DAG (an
    update) and starts the next task (a creation with a launch)."""
    first = inner(x=x)
    plus(a=first.output, b=10).set_display_name("after")


def compile_spec(directory: Path) -> Path:
    path = directory / "nested-chain.yaml"
    compiler.Compiler().compile(nested_chain, str(path))
    return path
