# mypy: disable-error-code="no-any-return"
"""Sluice pipelines the client and CLI tests run: small, quick, one behaviour each."""

from __future__ import annotations

from sluice import dsl
from sluice.dsl import Dataset, Metrics, Output


@dsl.component
def add(a: int, b: int) -> int:
    return a + b


@dsl.component
def shout(text: str) -> str:
    print(text.upper())
    return text.upper()


@dsl.component
def measure(x: int, data: Output[Dataset], metrics: Output[Metrics]) -> None:
    with open(data.path, "w") as handle:
        handle.write(f"x={x}\n")
    data.metadata["x"] = x
    metrics.log_metric("x", x)
    metrics.log_metric("double", 2 * x)


@dsl.pipeline(name="client-add")
def add_pipeline(a: int = 1, b: int = 2) -> int:
    total = add(a=a, b=b)
    shout(text="sum computed")
    measure(x=total.output)
    return total.output


@dsl.component
def fail(message: str) -> None:
    raise RuntimeError(message)


@dsl.pipeline(name="client-fail")
def failing_pipeline(message: str = "boom") -> None:
    fail(message=message)


@dsl.component
def sleep_for(seconds: float) -> None:
    import time

    time.sleep(seconds)


@dsl.pipeline(name="client-sleep")
def sleeping_pipeline(seconds: float = 30.0) -> None:
    sleep_for(seconds=seconds)


@dsl.component
def fail_until_marker(marker: str) -> str:
    """Fails the first time (leaving `marker`), succeeds once `marker` exists."""
    import os

    if not os.path.exists(marker):
        with open(marker, "w"):
            pass
        raise RuntimeError("the first attempt fails")
    return "recovered"


@dsl.pipeline(name="client-flaky")
def flaky_pipeline(marker: str) -> str:
    return fail_until_marker(marker=marker).output


@dsl.component
def talk_until_released(release: str) -> None:
    """Prints a line, then waits (at most two minutes) for the file `release` to exist."""
    import os
    import time

    print("halfway there", flush=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} never appeared")
        time.sleep(0.05)
    print("released, done")


@dsl.pipeline(name="client-talk")
def talking_pipeline(release: str) -> None:
    talk_until_released(release=release)
