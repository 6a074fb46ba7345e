"""Compiling pipelines (and single components) to KFP IR YAML files."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sluice.compiler.builder import CompiledPipeline
from sluice.dsl.components import BaseComponent
from sluice.dsl.errors import CompileError, caller_location
from sluice.dsl.interface import ComponentInterface, OutputSpec
from sluice.dsl.pipeline import Pipeline
from sluice.dsl.types import ArtifactType, ParamType, Role, check_constant

_COMMENT_TYPES = {
    "STRING": "str",
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "BOOLEAN": "bool",
    "LIST": "list",
    "STRUCT": "dict",
    "TASK_FINAL_STATUS": "PipelineTaskFinalStatus",
}


def compile_package(
    pipeline_func: Pipeline | BaseComponent,
    *,
    pipeline_name: str | None = None,
    pipeline_parameters: Mapping[str, Any] | None = None,
) -> CompiledPipeline:
    """The IR documents of a pipeline (or of a component, as a one-task pipeline); a fresh copy.

    `pipeline_name` overrides the pipeline's name; `pipeline_parameters` override the
    defaults of its inputs. Raises CompileError.
    """
    pipeline = _as_pipeline(pipeline_func)
    compiled = copy.deepcopy(pipeline.compiled)
    spec = compiled.pipeline_spec
    if pipeline_name is not None:
        spec["pipelineInfo"]["name"] = pipeline_name
    for name, value in (pipeline_parameters or {}).items():
        _override_default(pipeline, spec, name, value)
    return compiled


def compile_pipeline(pipeline_func: Pipeline | BaseComponent) -> dict[str, Any]:
    """The `PipelineSpec` of a pipeline, as plain data (pure: the same pipeline gives equal data)."""
    return compile_package(pipeline_func).pipeline_spec


def to_yaml(compiled: CompiledPipeline) -> str:
    """The YAML package text: KFP's header comment, the PipelineSpec, and the PlatformSpec if any."""
    documents = [compiled.pipeline_spec]
    if compiled.platform_spec is not None:
        documents.append(compiled.platform_spec)
    return _header(compiled) + yaml.safe_dump_all(documents, sort_keys=True)


class Compiler:
    """Compiles a pipeline to an IR YAML file, as `kfp.compiler.Compiler` does.

    Example::

        Compiler().compile(my_pipeline, "my_pipeline.yaml")
    """

    def compile(
        self,
        pipeline_func: Pipeline | BaseComponent,
        package_path: str | Path,
        pipeline_name: str | None = None,
        pipeline_parameters: Mapping[str, Any] | None = None,
        type_check: bool = True,
    ) -> None:
        """Write the pipeline (or a component as a one-task pipeline) to `package_path` (`.yaml`).

        Types are always checked, when the pipeline is defined; `type_check` is accepted for
        KFP compatibility.
        """
        path = Path(package_path)
        if path.suffix not in (".yaml", ".yml"):
            raise CompileError(f"the package path must end with .yaml; got {str(package_path)!r}")
        compiled = compile_package(
            pipeline_func, pipeline_name=pipeline_name, pipeline_parameters=pipeline_parameters
        )
        path.write_text(to_yaml(compiled), encoding="utf-8")


def _as_pipeline(pipeline_func: Pipeline | BaseComponent) -> Pipeline:
    if isinstance(pipeline_func, Pipeline):
        return pipeline_func
    if isinstance(pipeline_func, BaseComponent):
        return _component_pipeline(pipeline_func)
    raise CompileError(
        f"expected a @dsl.pipeline or a component; got {pipeline_func!r}", location=caller_location()
    )


def _component_pipeline(component: BaseComponent) -> Pipeline:
    """A pipeline running one task of `component`, with its inputs and outputs (KFP's shape)."""
    inputs = {
        name: spec for name, spec in component.interface.inputs.items() if spec.role is not Role.FINAL_STATUS
    }
    outputs = {
        name: OutputSpec(name, Role.RETURN, spec.type, spec.is_list)
        for name, spec in component.interface.outputs.items()
    }
    interface = ComponentInterface(
        name=component.interface.name,
        inputs=inputs,
        outputs=outputs,
        description=component.interface.description,
        location=component.interface.location,
        returns="tuple" if outputs else "none",
    )

    def body(**arguments: Any) -> dict[str, Any]:
        task = component(**arguments)
        return dict(task.outputs)

    return Pipeline(
        body, name=None, description=None, display_name=None, pipeline_root=None, interface=interface
    )


def _override_default(pipeline: Pipeline, spec: dict[str, Any], name: str, value: Any) -> None:
    input_spec = pipeline.interface.inputs.get(name)
    if input_spec is None:
        raise CompileError(
            f"{name!r} is not an input of the pipeline", component=pipeline.name, argument=name
        )
    if isinstance(input_spec.type, ArtifactType):
        raise CompileError("an artifact input cannot have a default", component=pipeline.name, argument=name)
    assert isinstance(input_spec.type, ParamType)
    try:
        default = check_constant(value, input_spec.type)
    except TypeError as error:
        raise CompileError(str(error), component=pipeline.name, argument=name) from None
    entry = spec["root"]["inputDefinitions"]["parameters"][name]
    entry["defaultValue"] = default
    entry["isOptional"] = True


def _header(compiled: CompiledPipeline) -> str:
    spec = compiled.pipeline_spec
    lines = ["# PIPELINE DEFINITION", f"# Name: {spec['pipelineInfo']['name']}"]
    if compiled.description:
        lines.append("# Description: " + "\n#              ".join(compiled.description.splitlines()))
    for section, heading in (("inputDefinitions", "# Inputs:"), ("outputDefinitions", "# Outputs:")):
        definitions = spec["root"].get(section)
        if not definitions:
            continue
        lines.append(heading)
        entries = []
        for name, parameter in definitions.get("parameters", {}).items():
            text = f"#    {name}: {_COMMENT_TYPES[parameter['parameterType']]}"
            if "defaultValue" in parameter:
                default = parameter["defaultValue"]
                text += f" [Default: '{default}']" if isinstance(default, str) else f" [Default: {default}]"
            entries.append((name, text))
        for name, artifact in definitions.get("artifacts", {}).items():
            entries.append((name, f"#    {name}: {artifact['artifactType']['schemaTitle']}"))
        lines.extend(text for _, text in sorted(entries))
    return "\n".join(lines) + "\n"
