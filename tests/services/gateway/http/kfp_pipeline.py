"""A tiny KFP pipeline for the kfp.Client tests.

No ``from __future__ import annotations`` here: kfp reads the real annotation objects.
"""

# kfp is untyped: its decorators make the functions untyped.
# mypy: disable-error-code="untyped-decorator"

from kfp import dsl


@dsl.component(base_image="python:3.11")
def add(a: int, b: int) -> int:
    return a + b


@dsl.pipeline(name="adder")
def adder(x: int = 1) -> None:
    add(a=x, b=2)
