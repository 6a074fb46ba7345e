"""KFP components for the end-to-end tests, written the way KFP users write them.

KFP reads these annotations at runtime (`typing` names, call-style `NamedTuple(...)` and
`OutputPath(...)`) and embeds each function's source in the compiled command, so the
module keeps KFP's conventions rather than this codebase's.
"""
# mypy: disable-error-code="untyped-decorator, valid-type, no-untyped-def"
# ruff: noqa: UP006, UP035, UP045

from typing import Dict, List, NamedTuple, Optional

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

BASE_IMAGE = "python:3.11"


@dsl.component(base_image=BASE_IMAGE)
def add(a: int, b: int) -> int:
    return a + b


@dsl.component(base_image=BASE_IMAGE)
def describe(xs: List[int], d: Dict[str, int], f: float, flag: bool, name: str) -> NamedTuple(
    "Outputs", s=str, i=int, f=float, b=bool, l=list, d=dict
):
    from collections import namedtuple

    Outputs = namedtuple("Outputs", ["s", "i", "f", "b", "l", "d"])
    return Outputs(name.upper(), sum(xs), f * 2, not flag, [*xs, len(d)], {**d, "n": len(xs)})


@dsl.component(base_image=BASE_IMAGE)
def write_dataset(text: str, data: Output[Dataset]) -> None:
    with open(data.path, "w") as f:
        f.write(text)
    data.metadata["rows"] = 1


@dsl.component(base_image=BASE_IMAGE)
def read_dataset(data: Input[Dataset]) -> str:
    with open(data.path) as f:
        return f"{f.read()}|{data.metadata['rows']}|{data.metadata['origin']}"


@dsl.component(base_image=BASE_IMAGE)
def write_model_dir(model: Output[Model]) -> None:
    import os

    os.makedirs(os.path.join(model.path, "sub"))
    with open(os.path.join(model.path, "weights.txt"), "w") as f:
        f.write("w")
    with open(os.path.join(model.path, "sub", "config.txt"), "w") as f:
        f.write("c")


@dsl.component(base_image=BASE_IMAGE)
def explode(message: str) -> int:
    raise ValueError(f"boom: {message}")


@dsl.container_component
def greet(name: str, count: int, greeting: dsl.OutputPath(str), suffix: Optional[str] = None):
    return dsl.ContainerSpec(
        image="alpine:3.20",
        command=["sh", "-c", 'printf "%s%s @%s" "$0" "$2" "$3" > "$1"'],
        args=[
            dsl.ConcatPlaceholder(["hello ", name, " x", count]),
            greeting,
            dsl.IfPresentPlaceholder(input_name="suffix", then=[suffix], else_=["."]),
            dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
        ],
    )


@dsl.container_component
def forget(answer: dsl.OutputPath(int)):
    return dsl.ContainerSpec(image="alpine:3.20", command=["true"], args=[answer])


@dsl.container_component
def nap(seconds: int):
    return dsl.ContainerSpec(image="alpine:3.20", command=["sleep"], args=[seconds])


@dsl.component(
    base_image=BASE_IMAGE,
    packages_to_install=["packaging", "PyYAML>=5"],
    pip_index_urls=["http://127.0.0.1:9/simple", "http://127.0.0.1:10/simple"],
)
def uses_packages() -> str:
    return "ok"


@dsl.component(base_image=BASE_IMAGE, packages_to_install=["surely-not-installed-package>=1"])
def needs_more() -> str:
    return "ok"
