"""Reading a component's interface from its function, and how each kind of component compiles."""

from __future__ import annotations

import re
from typing import Any, Dict, List, NamedTuple, Optional  # noqa: UP035 - KFP users write Dict and List

import pytest
from sluice import dsl
from sluice.compiler import compile_pipeline
from sluice.dsl import (
    Artifact,
    ClassificationMetrics,
    CompileError,
    Dataset,
    Input,
    InputPath,
    Model,
    Output,
    OutputPath,
    PipelineTaskFinalStatus,
)
from sluice.dsl.types import ParameterType, ParamType, Role

from tests.sdk.dsl.lines import line_of


class Scores(NamedTuple):
    best: float
    names: list[str]


@dsl.component(base_image="python:3.12", packages_to_install=["numpy"])
def everything(
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    items: list[int],
    mapping: dict[str, float],
    data: Input[Dataset],
    datasets: Input[list[Dataset]],
    bare: Model,
    data_path: InputPath(Dataset),  # type: ignore[valid-type]
    model: Output[Model],
    metrics: Output[ClassificationMetrics],
    summary: OutputPath(str),  # type: ignore[valid-type]
    blob: OutputPath("Artifact"),  # type: ignore[valid-type]
    status: PipelineTaskFinalStatus,
    maybe: Optional[int] = None,  # noqa: UP045
    label: str = "x",
    weights: list[float] = [1.0],  # noqa: B006
) -> Scores:
    """Takes one of everything.

    Args:
        text: some text.
    """
    return Scores(1.0, [text])


def test_every_kind_of_argument_has_its_role_and_type() -> None:
    interface = everything.interface
    roles = {name: spec.role for name, spec in interface.inputs.items()}
    assert roles == {
        "text": Role.PARAMETER,
        "count": Role.PARAMETER,
        "ratio": Role.PARAMETER,
        "flag": Role.PARAMETER,
        "items": Role.PARAMETER,
        "mapping": Role.PARAMETER,
        "data": Role.INPUT_ARTIFACT,
        "datasets": Role.INPUT_ARTIFACT,
        "bare": Role.INPUT_ARTIFACT,
        "data_path": Role.INPUT_PATH,
        "status": Role.FINAL_STATUS,
        "maybe": Role.PARAMETER,
        "label": Role.PARAMETER,
        "weights": Role.PARAMETER,
    }
    outputs = {name: spec.role for name, spec in interface.outputs.items()}
    assert outputs == {
        "model": Role.OUTPUT_ARTIFACT,
        "metrics": Role.OUTPUT_ARTIFACT,
        "summary": Role.OUTPUT_PARAMETER_PATH,
        "blob": Role.OUTPUT_ARTIFACT_PATH,
        "best": Role.RETURN,
        "names": Role.RETURN,
    }
    assert interface.name == "everything"
    assert interface.description == "Takes one of everything."
    assert interface.returns == "tuple"
    assert interface.inputs["datasets"].is_list
    assert interface.inputs["maybe"].optional
    assert interface.inputs["maybe"].default is None
    assert interface.inputs["weights"].default == [1.0]
    assert str(interface.location) == f"{__file__}:{everything.python_func.__code__.co_firstlineno}"


def test_input_parameter_definitions() -> None:
    @dsl.component
    def typed(
        text: str,
        count: int,
        ratio: float,
        flag: bool,
        items: list[int],
        mapping: dict[str, int],
        maybe: Optional[str] = None,  # noqa: UP045
        scale: float = 2,
    ) -> None:
        pass

    @dsl.pipeline
    def single() -> None:
        typed(text="a", count=1, ratio=0.5, flag=False, items=[1, 2], mapping={"k": 1})

    spec = compile_pipeline(single)
    parameters = spec["components"]["comp-typed"]["inputDefinitions"]["parameters"]
    assert parameters == {
        "text": {"parameterType": "STRING"},
        "count": {"parameterType": "NUMBER_INTEGER"},
        "ratio": {"parameterType": "NUMBER_DOUBLE"},
        "flag": {"parameterType": "BOOLEAN"},
        "items": {"parameterType": "LIST"},
        "mapping": {"parameterType": "STRUCT"},
        "maybe": {"parameterType": "STRING", "isOptional": True},
        "scale": {"parameterType": "NUMBER_DOUBLE", "isOptional": True, "defaultValue": 2.0},
    }
    constants = spec["root"]["dag"]["tasks"]["typed"]["inputs"]["parameters"]
    assert constants["items"] == {"runtimeValue": {"constant": [1, 2]}}
    assert constants["ratio"] == {"runtimeValue": {"constant": 0.5}}


@pytest.mark.parametrize(
    ("annotation_source", "message"),
    [
        ("value", "missing type annotation"),
        ("value: object", "unsupported type <class 'object'>"),
        ("value: int = 'x'", "bad default value: expected int, got str 'x'"),
        ("value: Input[Dataset] = 3", "an input artifact can only default to None"),
        ("value: Output[Dataset] = None", "outputs cannot have a default value"),
        ("*values: int", "*args and **kwargs are not supported"),
        ("Output: int", "'Output' is reserved for the returned output"),
    ],
)
def test_definition_errors_name_the_argument(annotation_source: str, message: str) -> None:
    namespace: dict[str, Any] = {"Input": Input, "Output": Output, "Dataset": Dataset}
    exec(f"def broken({annotation_source}) -> None:\n    pass\n", namespace)

    with pytest.raises(CompileError, match=re.escape(message)):
        dsl.component(namespace["broken"])


def test_an_unsupported_return_type() -> None:
    with pytest.raises(CompileError) as error:

        @dsl.component  # bad-return
        def returns_set() -> set[int]:
            return {1}

    assert error.value.argument == "Output"
    assert "unsupported return type" in str(error.value)
    assert str(error.value.location).startswith(__file__)


def test_container_component_placeholders() -> None:
    @dsl.container_component
    def tool(
        name: str,
        data: Input[Dataset],
        out: Output[Artifact],
        report: OutputPath(str),  # type: ignore[valid-type]
        flag: Optional[str] = None,  # noqa: UP045
    ) -> dsl.ContainerSpec:
        return dsl.ContainerSpec(
            image="busybox",
            command=["tool", f"--name={name}", 3, 1.5],
            args=[
                data.uri,
                data.metadata,
                out.path,
                report,
                dsl.ConcatPlaceholder(["a", dsl.IfPresentPlaceholder("flag", then=flag)]),
                dsl.IfPresentPlaceholder(input_name="flag", then=["--flag", flag]),
                dsl.PIPELINE_ROOT_PLACEHOLDER,
            ],
        )

    assert tool.command == ["tool", "--name={{$.inputs.parameters['name']}}", "3", "1.5"]
    assert tool.args == [
        "{{$.inputs.artifacts['data'].uri}}",
        "{{$.inputs.artifacts['data'].metadata}}",
        "{{$.outputs.artifacts['out'].path}}",
        "{{$.outputs.parameters['report'].output_file}}",
        '{"Concat": ["a", {"IfPresent": {"InputName": "flag", '
        '"Then": ["{{$.inputs.parameters[\'flag\']}}"]}}]}',
        '{"IfPresent": {"InputName": "flag", "Then": ["--flag", "{{$.inputs.parameters[\'flag\']}}"]}}',
        "{{$.pipeline_root}}",
    ]


def test_container_components_need_input_output_markers() -> None:
    with pytest.raises(CompileError, match=r"container components take artifacts as Input\[...\]"):

        @dsl.container_component
        def tool(data: Dataset) -> dsl.ContainerSpec:
            return dsl.ContainerSpec(image="busybox")


def test_container_component_must_return_a_container_spec() -> None:
    with pytest.raises(CompileError, match=r"returns a dsl\.ContainerSpec; got None"):

        @dsl.container_component  # type: ignore[arg-type]
        def tool(name: str) -> None:
            print(name)


def test_structured_placeholders_cannot_be_formatted() -> None:
    with pytest.raises(CompileError, match="ConcatPlaceholder cannot be formatted into a string") as error:

        @dsl.container_component  # fstring-concat
        def tool(name: str) -> dsl.ContainerSpec:
            return dsl.ContainerSpec(image="busybox", args=[f"{dsl.ConcatPlaceholder([name])}"])

    assert str(error.value.location) == line_of(__file__, "fstring-concat")


def test_python_func_can_be_called_directly() -> None:
    arguments: dict[str, object] = dict.fromkeys(everything.python_func.__code__.co_varnames)

    assert everything.python_func(**{**arguments, "text": "hi"}) == Scores(1.0, ["hi"])


def test_runtime_interface_tells_the_runtime_how_to_feed_the_function() -> None:
    import json

    interface = json.loads(everything.runtime_interface())

    assert interface["returns"] == "tuple"
    assert interface["outputs"] == [
        {"kind": "parameter", "name": "best", "type": "NUMBER_DOUBLE"},
        {"kind": "parameter", "name": "names", "type": "LIST"},
    ]
    assert interface["inputs"]["datasets"] == {"kind": "input_artifact", "list": True}
    assert interface["inputs"]["maybe"] == {"kind": "parameter", "optional": True, "type": "NUMBER_INTEGER"}
    assert interface["inputs"]["summary"] == {"kind": "output_parameter_path"}
    assert interface["inputs"]["blob"] == {"kind": "output_artifact_path"}
    assert interface["inputs"]["status"] == {"kind": "final_status"}


def test_parameter_types_of_annotations() -> None:
    from sluice.dsl.types import parse_parameter_annotation

    assert parse_parameter_annotation(list[dict[str, int]]) is not None
    listed = parse_parameter_annotation(list[dict[str, int]])
    assert listed is not None
    assert listed.kind is ParameterType.LIST
    assert listed.item is not None
    assert listed.item.kind is ParameterType.STRUCT
    assert listed.item.item is not None
    assert listed.item.item.kind is ParameterType.NUMBER_INTEGER


def test_typing_list_and_dict_annotations() -> None:
    @dsl.component
    def legacy(items: List[int], mapping: Dict[str, List[str]]) -> List[str]:  # noqa: UP006
        return [str(item) for item in items]

    types = {name: spec.type for name, spec in legacy.interface.inputs.items()}
    assert types["items"] == ParamType(ParameterType.LIST, ParamType(ParameterType.NUMBER_INTEGER))
    assert types["mapping"] == ParamType(
        ParameterType.STRUCT, ParamType(ParameterType.LIST, ParamType(ParameterType.STRING))
    )
    assert legacy.interface.outputs["Output"].type == ParamType(
        ParameterType.LIST, ParamType(ParameterType.STRING)
    )
