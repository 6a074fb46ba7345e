"""Container components: placeholders, Concat, IfPresent, output paths, artifact paths and URIs."""
# mypy: disable-error-code="no-any-return"
# (a pipeline returns task outputs, which are pipeline values, typed Any, not the values they will hold)

from typing import Optional

from sluice import dsl
from sluice.dsl import Dataset, Input, Model, Output, OutputPath


@dsl.container_component
def greet(
    name: str,
    count: int,
    data: Input[Dataset],
    model: Output[Model],
    greeting: OutputPath(str),  # type: ignore[valid-type]
    suffix: Optional[str] = None,  # noqa: UP045
) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="alpine:3.20",
        command=["sh", "-c", 'printf "%s" "$0" > "$1"; cp "$2" "$3"'],
        args=[
            dsl.ConcatPlaceholder(["hello ", name, " x", count]),
            greeting,
            data.path,
            model.path,
            data.uri,
            f"--name={name}",
            dsl.IfPresentPlaceholder(input_name="suffix", then=["--suffix", suffix], else_=["--no-suffix"]),
            dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
            dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        ],
    )


@dsl.container_component
def make_data(out: Output[Dataset]) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(image="alpine:3.20", command=["sh", "-c", 'echo data > "$0"'], args=[out.path])


@dsl.pipeline(name="containers")
def containers_pipeline(name: str = "world") -> str:
    data = make_data()
    greeted = greet(name=name, count=2, data=data.outputs["out"], suffix="!")
    return greeted.outputs["greeting"]


PIPELINE = containers_pipeline
