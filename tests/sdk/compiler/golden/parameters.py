"""Parameters of every IR type, with defaults and Optional, through a Python component."""
# mypy: disable-error-code="no-any-return"
# (a pipeline returns task outputs, which are pipeline values, typed Any, not the values they will hold)

from typing import Optional

from sluice import dsl


@dsl.component(base_image="python:3.11")
def describe(
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    items: list[int],
    mapping: dict[str, int],
    note: Optional[str] = None,  # noqa: UP045 - KFP's spelling
    scale: float = 1,
) -> str:
    return f"{text} {count * scale} {ratio} {flag} {items} {mapping} {note}"


@dsl.pipeline(name="parameters", description="Every parameter type, with defaults.")
def parameters_pipeline(
    text: str = "hello",
    count: int = 3,
    ratio: float = 0.5,
    flag: bool = True,
    items: list[int] = [1, 2],  # noqa: B006 - a pipeline default, never mutated
    mapping: dict[str, int] = {"a": 1},  # noqa: B006
    note: Optional[str] = None,  # noqa: UP045
) -> str:
    first = describe(text=text, count=count, ratio=ratio, flag=flag, items=items, mapping=mapping, note=note)
    second = describe(text=first.output, count=7, ratio=2.5, flag=False, items=[3, 4], mapping={"b": 2})
    return second.output


PIPELINE = parameters_pipeline
