"""Pipelines compiled by the real `kfp` SDK for the compatibility tests (besides the
end-to-end ones in `tests.e2e.kfp_pipelines`)."""
# mypy: ignore-errors
# kfp reads the annotations at definition time.

from kfp import dsl

from tests.e2e.kfp_pipelines import IMAGE, add


@dsl.component(base_image=IMAGE)
def nap(seconds: int) -> int:
    import time

    time.sleep(seconds)
    return seconds


@dsl.pipeline(name="sleepy")
def sleepy(seconds: int = 60):
    nap(seconds=seconds)


@dsl.pipeline(name="pair")
def pair(x: int = 1):
    first = add(a=x, b=1)
    add(a=first.output, b=1)
