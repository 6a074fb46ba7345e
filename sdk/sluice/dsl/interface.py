"""A component's interface: its inputs and outputs, read from a function's signature."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sluice.dsl.errors import CompileError, SourceLocation
from sluice.dsl.types import (
    INPUT_ROLES,
    Annotation,
    ArtifactType,
    JsonValue,
    ParamType,
    Role,
    ValueType,
    check_constant,
    named_tuple_fields,
    parse_annotation,
    parse_output_annotation,
)

SINGLE_OUTPUT = "Output"
"""The name of a component's only returned output, as in KFP."""


@dataclass(frozen=True)
class InputSpec:
    """One input of a component."""

    name: str
    role: Role
    """PARAMETER, INPUT_ARTIFACT, INPUT_PATH or FINAL_STATUS."""
    type: ValueType
    is_list: bool = False
    """An artifact list."""
    optional: bool = False
    """The input may be left out (it has a default, or is `Optional[...]`)."""
    default: JsonValue = None
    """The default value (None: no default, or a default of None)."""

    @property
    def is_artifact(self) -> bool:
        return isinstance(self.type, ArtifactType)


@dataclass(frozen=True)
class OutputSpec:
    """One output of a component."""

    name: str
    role: Role
    """RETURN, OUTPUT_ARTIFACT, OUTPUT_PARAMETER_PATH or OUTPUT_ARTIFACT_PATH."""
    type: ValueType
    is_list: bool = False

    @property
    def is_artifact(self) -> bool:
        return isinstance(self.type, ArtifactType)


@dataclass(frozen=True)
class ComponentInterface:
    """What a component takes and gives."""

    name: str
    """The component's name, Kubernetes-style (`train-model`); tasks are named after it."""
    inputs: dict[str, InputSpec]
    """Inputs in signature order."""
    outputs: dict[str, OutputSpec]
    """Outputs in declaration order."""
    description: str | None
    """The docstring (without its Args/Returns sections), or the description given."""
    location: SourceLocation | None
    """Where the component is defined."""
    returns: str = "none"
    """How the function's return value maps to outputs: `none`, `value` or `tuple`."""


def k8s_name(name: str) -> str:
    """`My_Component 2` → `my-component-2`: the name KFP gives tasks and components."""
    return re.sub("-+", "-", re.sub("[^-0-9a-z]+", "-", name.lower())).strip("-")


def component_name_for(function_name: str) -> str:
    return k8s_name(function_name.replace("_", " "))


def definition_location(func: Callable[..., Any]) -> SourceLocation | None:
    code = getattr(func, "__code__", None)
    if code is None:
        return None
    return SourceLocation(code.co_filename, code.co_firstlineno)


_DOC_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?):\s*$")


def docstring_description(doc: str | None) -> str | None:
    """A docstring without its `Args:`/`Returns:`… sections (KFP's description of a pipeline)."""
    if not doc:
        return None
    lines: list[str] = []
    for line in inspect.cleandoc(doc).splitlines():
        if _DOC_SECTION.match(line):
            break
        lines.append(line)
    short, _, long = "\n".join(lines).strip().partition("\n\n")
    return "\n".join(part for part in (short.strip(), long.strip()) if part) or None


def read_interface(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    container: bool = False,
) -> ComponentInterface:
    """The interface of a component function; raises CompileError pointing at the definition.

    `container` is for `@container_component` functions: their artifacts must be marked with
    `Input[...]`/`Output[...]` and they return a `ContainerSpec` rather than outputs.
    """
    component = name or component_name_for(func.__name__)
    location = definition_location(func)

    def fail(message: str, argument: str | None = None) -> CompileError:
        return CompileError(message, component=component, argument=argument, location=location)

    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as error:  # a NameError or TypeError evaluating an annotation
        raise fail(f"cannot read the type annotations: {error}") from error
    signature = inspect.signature(func)
    inputs: dict[str, InputSpec] = {}
    outputs: dict[str, OutputSpec] = {}
    for parameter in signature.parameters.values():
        argument = parameter.name
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise fail("*args and **kwargs are not supported in components", argument)
        if argument == SINGLE_OUTPUT:
            raise fail(f"{SINGLE_OUTPUT!r} is reserved for the returned output", argument)
        if argument not in hints:
            raise fail("missing type annotation", argument)
        try:
            annotation = parse_annotation(hints[argument], where=f"argument {argument!r}")
        except TypeError as error:
            raise fail(str(error), argument) from None
        if container and annotation.role is Role.INPUT_ARTIFACT and not _is_marked(hints[argument]):
            raise fail("container components take artifacts as Input[...] or Output[...]", argument)
        if annotation.role in INPUT_ROLES:
            inputs[argument] = _input_spec(argument, annotation, parameter.default, fail)
        else:
            if parameter.default is not inspect.Parameter.empty:
                raise fail("outputs cannot have a default value", argument)
            outputs[argument] = OutputSpec(argument, annotation.role, annotation.type, annotation.is_list)
    returns = "none"
    returned = hints.get("return", None)
    if returned is type(None):
        returned = None
    if container:
        from sluice.dsl.placeholders import ContainerSpec

        if returned not in (None, ContainerSpec):
            raise fail("a container component returns a ContainerSpec")
    elif returned is not None:
        fields = named_tuple_fields(returned)
        returned_items = fields.items() if fields is not None else [(SINGLE_OUTPUT, returned)]
        returns = "tuple" if fields is not None else "value"
        for output_name, output_annotation in returned_items:
            if output_name in outputs:
                raise fail("a returned output has the name of an argument", output_name)
            try:
                output_type, is_list = parse_output_annotation(
                    output_annotation, where=f"output {output_name!r}"
                )
            except TypeError as error:
                raise fail(str(error), output_name) from None
            outputs[output_name] = OutputSpec(output_name, Role.RETURN, output_type, is_list)
    return ComponentInterface(
        name=component,
        inputs=inputs,
        outputs=outputs,
        description=description if description is not None else docstring_description(func.__doc__),
        location=location,
        returns=returns,
    )


def _is_marked(annotation: Any) -> bool:
    return typing.get_origin(annotation) is typing.Annotated


def _input_spec(
    argument: str,
    annotation: Annotation,
    default: Any,
    fail: Callable[[str, str | None], CompileError],
) -> InputSpec:
    has_default = default is not inspect.Parameter.empty
    if annotation.role is Role.FINAL_STATUS:
        return InputSpec(argument, annotation.role, annotation.type, optional=True)
    if isinstance(annotation.type, ArtifactType):
        if has_default and default is not None:
            raise fail("an input artifact can only default to None", argument)
        return InputSpec(
            argument,
            annotation.role,
            annotation.type,
            is_list=annotation.is_list,
            optional=annotation.optional or has_default,
        )
    if not has_default or default is None:
        return InputSpec(
            argument, annotation.role, annotation.type, optional=annotation.optional or has_default
        )
    assert isinstance(annotation.type, ParamType)
    try:
        value = check_constant(default, annotation.type)
    except TypeError as error:
        raise fail(f"bad default value: {error}", argument) from None
    return InputSpec(argument, annotation.role, annotation.type, optional=True, default=value)
