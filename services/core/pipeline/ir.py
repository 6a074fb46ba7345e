"""Load a KFP pipeline package and convert its IR into Sluice's typed model, once, at the edge.

`load_pipeline_package` (from `services.core.pipeline.package`, re-exported here) finds the
`PipelineSpec` and the optional `PlatformSpec` in what a user uploads or a client sends;
`parse_pipeline` checks them against the reference schema
(the `kfp-pipeline-spec` protobuf classes, via `json_format`), converts the protobuf
messages into `services.core.pipeline.model` and validates the graph
(`services.core.pipeline.validation`). Everything wrong surfaces as `InvalidArgument`.

IR details the conversion settles, so nothing downstream has to:

- numbers are protobuf doubles: constants and defaults are coerced to the declared
  parameter type (`3.0` for a `NUMBER_INTEGER` becomes `3`), integral numbers inside lists
  and structs become ints;
- structured placeholders (`{"Concat": …}`, `{"IfPresent": …}`), which kfp writes as JSON
  text inside `command`/`args`, become JSON objects;
- resources: CPU in cores and memory in bytes, from the `resource…` strings (`"500m"`,
  `"512Mi"`) or else the legacy numbers (`cpuLimit` cores, `memoryLimit` in GB); a
  placeholder string (resources from a pipeline parameter) is kept as the string;
- a missing `cachingOptions.enableCache` means caching is off, as in KFP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from services.core.errors import InvalidArgument
from services.core.pipeline.model import (
    ArtifactInput,
    ArtifactIterator,
    ArtifactSpec,
    Component,
    Constant,
    ContainerExecutor,
    Dag,
    DagArtifactOutput,
    DagParameterOutput,
    Executor,
    FromComponentInput,
    FromTaskFinalStatus,
    FromTaskOutput,
    ImporterExecutor,
    Interface,
    JsonValue,
    ParameterInput,
    ParameterIterator,
    ParameterSpec,
    ParameterType,
    Pipeline,
    Resources,
    RetryPolicy,
    Task,
    TriggerStrategy,
)
from services.core.pipeline.package import check_pipeline_spec_shape, describe_keys, load_pipeline_package
from services.core.pipeline.validation import validate_pipeline
from services.core.pipeline.values import (
    ParameterValueError,
    coerce_parameter,
    normalize_numbers,
    parse_cpu,
    parse_memory,
)

__all__ = ["ROOT_COMPONENT", "load_pipeline", "load_pipeline_package", "parse_pipeline"]

ROOT_COMPONENT = "root"
_STRUCTURED_PLACEHOLDERS = frozenset({"Concat", "IfPresent"})
# Legacy (schemaVersion 2.0.0) `type` of a parameter, used when `parameterType` is unset.
_PRIMITIVE_TYPES = {
    "INT": ParameterType.NUMBER_INTEGER,
    "DOUBLE": ParameterType.NUMBER_DOUBLE,
    "STRING": ParameterType.STRING,
}
_BYTES_PER_GB = 1e9
_DEFAULT_SCHEMA_VERSION = "0.0.1"

_Input = TypeVar("_Input", ParameterInput, ArtifactInput)
_Number = TypeVar("_Number", int, float)


# --- parsing with the reference schema -----------------------------------------------------


def load_pipeline(data: bytes | str) -> Pipeline:
    """`load_pipeline_package` then `parse_pipeline`: package bytes to a validated `Pipeline`."""
    spec, platform = load_pipeline_package(data)
    return parse_pipeline(spec, platform)


def parse_pipeline(spec: Mapping[str, Any], platform: Mapping[str, Any] | None = None) -> Pipeline:
    """Check `spec` (and `platform`) against the KFP protobuf schema, convert, validate.

    Raises `InvalidArgument` for unknown fields or wrong value kinds (with protobuf's message),
    for IR the model cannot express, and for every graph problem `validate_pipeline` finds."""
    check_pipeline_spec_shape(spec)
    spec_pb = _parse_message(spec, pipeline_spec_pb2.PipelineSpec(), "pipeline_spec")
    schema_version: str = spec_pb.schema_version
    if not schema_version.startswith("2."):
        raise InvalidArgument(
            f"unsupported schemaVersion {schema_version!r}: Sluice runs KFP v2 pipelines (2.x)",
            field="pipeline_spec.schemaVersion",
        )
    deployment = _deployment_config(spec_pb)
    converter = _Converter(spec_pb)
    info = spec_pb.pipeline_info
    pipeline = Pipeline(
        name=info.name,
        display_name=info.display_name,
        description=info.description,
        root=converter.root,
        components=converter.components,
        executors={
            label: _executor(label, deployment.executors[label]) for label in sorted(deployment.executors)
        },
        default_pipeline_root=spec_pb.default_pipeline_root,
        platform=_platform_executors(platform),
        schema_version=schema_version,
        sdk_version=spec_pb.sdk_version,
    )
    validate_pipeline(pipeline)
    return pipeline


def _parse_message(data: Mapping[str, Any], message: Any, field: str) -> Any:
    try:
        json_format.ParseDict(dict(data), message)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as error:
        raise InvalidArgument(f"invalid {field}: {' '.join(str(error).split())}", field=field) from None
    except RecursionError:
        raise InvalidArgument(f"invalid {field}: nested too deeply", field=field) from None
    return message


def _deployment_config(spec_pb: Any) -> Any:
    # `deploymentSpec` is a free-form Struct in PipelineSpec; its schema is PipelineDeploymentConfig.
    deployment = _struct_to_dict(spec_pb.deployment_spec)
    executors = deployment.get("executors")
    if isinstance(executors, dict):
        for executor in executors.values():
            container = executor.get("container") if isinstance(executor, dict) else None
            if isinstance(container, dict):
                for key in ("command", "args"):
                    if isinstance(container.get(key), list):
                        container[key] = [_placeholder_text(item) for item in container[key]]
    return _parse_message(
        deployment, pipeline_spec_pb2.PipelineDeploymentConfig(), "pipeline_spec.deploymentSpec"
    )


def _placeholder_text(item: JsonValue) -> JsonValue:
    """A structured placeholder given as a JSON object becomes the JSON text kfp writes."""
    return json.dumps(item) if isinstance(item, dict) else item


def _struct_to_dict(struct: Any) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(struct)
    return result


def _value(value_pb: Any) -> JsonValue:
    """A `google.protobuf.Value` as JSON; numbers stay doubles until coerced."""
    result: JsonValue = json_format.MessageToDict(value_pb)
    return result


def _platform_executors(platform: Mapping[str, Any] | None) -> dict[str, Mapping[str, JsonValue]]:
    if platform is None:
        return {}
    platform_pb = _parse_message(platform, pipeline_spec_pb2.PlatformSpec(), "platform_spec")
    if "kubernetes" not in platform_pb.platforms:
        return {}
    executors = platform_pb.platforms["kubernetes"].deployment_spec.executors
    result: dict[str, Mapping[str, JsonValue]] = {}
    for label in sorted(executors):
        result[label] = _normalized(_struct_to_dict(executors[label]))
    return result


def _normalized(mapping: Mapping[str, Any]) -> dict[str, JsonValue]:
    return {key: normalize_numbers(value) for key, value in mapping.items()}


# --- components and DAGs -------------------------------------------------------------------


class _Converter:
    """Converts the components; interfaces first, so constants can be coerced by target type."""

    def __init__(self, spec_pb: Any) -> None:
        components_pb = {name: spec_pb.components[name] for name in sorted(spec_pb.components)}
        self._interfaces: dict[str, tuple[Interface, Interface]] = {
            name: _interfaces(f"component {name!r}", component_pb)
            for name, component_pb in components_pb.items()
        }
        self.components = {
            name: self._component(name, component_pb) for name, component_pb in components_pb.items()
        }
        self._interfaces[ROOT_COMPONENT] = _interfaces("the pipeline (root)", spec_pb.root)
        self.root = self._component(ROOT_COMPONENT, spec_pb.root)

    def _component(self, name: str, component_pb: Any) -> Component:
        inputs, outputs = self._interfaces[name]
        implementation = component_pb.WhichOneof("implementation")
        return Component(
            name=name,
            inputs=inputs,
            outputs=outputs,
            dag=self._dag(name, component_pb.dag) if implementation == "dag" else None,
            executor=component_pb.executor_label if implementation == "executor_label" else None,
        )

    def _dag(self, dag_name: str, dag_pb: Any) -> Dag:
        tasks = {name: self._task(dag_name, name, dag_pb.tasks[name]) for name in sorted(dag_pb.tasks)}
        outputs = dag_pb.outputs
        parameter_outputs = {
            name: _dag_parameter_output(dag_name, name, outputs.parameters[name])
            for name in sorted(outputs.parameters)
        }
        artifact_outputs = {
            name: DagArtifactOutput(
                sources=tuple(
                    FromTaskOutput(task=selector.producer_subtask, key=selector.output_artifact_key)
                    for selector in outputs.artifacts[name].artifact_selectors
                )
            )
            for name in sorted(outputs.artifacts)
        }
        return Dag(tasks=tasks, parameter_outputs=parameter_outputs, artifact_outputs=artifact_outputs)

    def _task(self, dag_name: str, name: str, task_pb: Any) -> Task:
        where = f"DAG {dag_name!r}, task {name!r}"
        component = task_pb.component_ref.name
        declared = self._interfaces.get(component)
        declared_parameters = declared[0].parameters if declared else {}
        parameters = {
            key: _parameter_input(
                f"{where}, input parameter {key!r}",
                task_pb.inputs.parameters[key],
                declared_parameters[key].type if key in declared_parameters else None,
            )
            for key in sorted(task_pb.inputs.parameters)
        }
        artifacts = {
            key: _artifact_input(f"{where}, input artifact {key!r}", task_pb.inputs.artifacts[key])
            for key in sorted(task_pb.inputs.artifacts)
        }
        trigger = task_pb.trigger_policy
        strategy = TriggerStrategy.ALL_UPSTREAM_TASKS_SUCCEEDED
        if trigger.strategy:
            strategy = TriggerStrategy(_enum_name(trigger.TriggerStrategy, trigger.strategy))
        return Task(
            name=name,
            component=component,
            display_name=task_pb.task_info.name,
            dependencies=tuple(task_pb.dependent_tasks),
            parameters=parameters,
            artifacts=artifacts,
            enable_cache=task_pb.caching_options.enable_cache,
            cache_key=task_pb.caching_options.cache_key,
            condition=trigger.condition or None,
            strategy=strategy,
            iterator=_iterator(where, task_pb, parameters, artifacts),
            parallelism=task_pb.iterator_policy.parallelism_limit,
            retry=_retry(task_pb.retry_policy) if task_pb.HasField("retry_policy") else None,
        )


def _interfaces(where: str, component_pb: Any) -> tuple[Interface, Interface]:
    inputs_pb = component_pb.input_definitions
    outputs_pb = component_pb.output_definitions
    inputs = Interface(
        parameters={
            name: _input_parameter_spec(
                f"{where}, input parameter {name!r}", name, inputs_pb.parameters[name]
            )
            for name in sorted(inputs_pb.parameters)
        },
        artifacts={
            name: _artifact_spec(
                name, inputs_pb.artifacts[name], optional=inputs_pb.artifacts[name].is_optional
            )
            for name in sorted(inputs_pb.artifacts)
        },
    )
    outputs = Interface(
        parameters={
            name: ParameterSpec(
                name=name,
                type=_parameter_type(f"{where}, output parameter {name!r}", outputs_pb.parameters[name]),
                description=outputs_pb.parameters[name].description,
            )
            for name in sorted(outputs_pb.parameters)
        },
        artifacts={
            name: _artifact_spec(name, outputs_pb.artifacts[name], optional=False)
            for name in sorted(outputs_pb.artifacts)
        },
    )
    return inputs, outputs


def _input_parameter_spec(where: str, name: str, parameter_pb: Any) -> ParameterSpec:
    type_ = _parameter_type(where, parameter_pb)
    default: JsonValue = None
    has_default = False
    if parameter_pb.HasField("default_value"):
        default = _value(parameter_pb.default_value)
        # A null default means "may be absent", which is what `isOptional` says.
        has_default = default is not None
        if has_default:
            default = _coerce_or_keep(default, type_)
    return ParameterSpec(
        name=name,
        type=type_,
        default=default,
        has_default=has_default,
        optional=parameter_pb.is_optional or (parameter_pb.HasField("default_value") and not has_default),
        description=parameter_pb.description,
    )


def _parameter_type(where: str, parameter_pb: Any) -> ParameterType:
    enum = pipeline_spec_pb2.ParameterType.ParameterTypeEnum
    if parameter_pb.parameter_type:
        name = _enum_name(enum, parameter_pb.parameter_type)
        if name in ParameterType.__members__:
            return ParameterType(name)
        raise InvalidArgument(f"{where}: parameterType {name} is not supported", field="pipeline_spec")
    if parameter_pb.type:
        legacy = _enum_name(pipeline_spec_pb2.PrimitiveType.PrimitiveTypeEnum, parameter_pb.type)
        if legacy in _PRIMITIVE_TYPES:
            return _PRIMITIVE_TYPES[legacy]
    raise InvalidArgument(f"{where}: no parameterType", field="pipeline_spec")


def _artifact_spec(name: str, artifact_pb: Any, *, optional: bool) -> ArtifactSpec:
    type_pb = artifact_pb.artifact_type
    return ArtifactSpec(
        name=name,
        # `schemaUri` / `instanceSchema` types predate schema titles; treat them as generic.
        schema_title=type_pb.schema_title or "system.Artifact",
        schema_version=type_pb.schema_version or _DEFAULT_SCHEMA_VERSION,
        is_list=artifact_pb.is_artifact_list,
        optional=optional,
        description=artifact_pb.description,
    )


def _coerce_or_keep(value: JsonValue, type_: ParameterType | None) -> JsonValue:
    """Coerced to `type_` when it fits; otherwise kept (normalised) for validation to report."""
    if type_ is not None:
        try:
            return coerce_parameter(value, type_)
        except ParameterValueError:
            pass
    return normalize_numbers(value)


def _parameter_input(where: str, input_pb: Any, declared: ParameterType | None) -> ParameterInput:
    kind = input_pb.WhichOneof("kind")
    selector = input_pb.parameter_expression_selector or None
    if kind == "component_input_parameter":
        return ParameterInput(FromComponentInput(input_pb.component_input_parameter), selector)
    if kind == "task_output_parameter":
        output = input_pb.task_output_parameter
        return ParameterInput(FromTaskOutput(output.producer_task, output.output_parameter_key), selector)
    if kind == "task_final_status":
        return ParameterInput(FromTaskFinalStatus(input_pb.task_final_status.producer_task), selector)
    if kind == "runtime_value":
        value = _constant(where, input_pb.runtime_value)
        return ParameterInput(Constant(_coerce_or_keep(value, declared)), selector)
    raise InvalidArgument(
        f"{where}: no source (componentInputParameter, taskOutputParameter, runtimeValue or taskFinalStatus)",
        field="pipeline_spec",
    )


def _constant(where: str, value_pb: Any) -> JsonValue:
    kind = value_pb.WhichOneof("value")
    if kind == "constant":
        return _value(value_pb.constant)
    if kind == "constant_value":
        # schemaVersion 2.0.0: a typed ml_pipelines.Value.
        legacy = value_pb.constant_value
        legacy_kind = legacy.WhichOneof("value")
        return None if legacy_kind is None else getattr(legacy, legacy_kind)
    if kind == "runtime_parameter":
        raise InvalidArgument(
            f"{where}: runtimeValue.runtimeParameter is not supported in task inputs; "
            "use componentInputParameter",
            field="pipeline_spec",
        )
    raise InvalidArgument(f"{where}: no constant value", field="pipeline_spec")


def _artifact_input(where: str, input_pb: Any) -> ArtifactInput:
    kind = input_pb.WhichOneof("kind")
    if kind == "component_input_artifact":
        return ArtifactInput(FromComponentInput(input_pb.component_input_artifact))
    if kind == "task_output_artifact":
        output = input_pb.task_output_artifact
        return ArtifactInput(FromTaskOutput(output.producer_task, output.output_artifact_key))
    raise InvalidArgument(
        f"{where}: no source (componentInputArtifact or taskOutputArtifact)", field="pipeline_spec"
    )


def _iterator(
    where: str,
    task_pb: Any,
    parameters: Mapping[str, ParameterInput],
    artifacts: Mapping[str, ArtifactInput],
) -> ParameterIterator | ArtifactIterator | None:
    kind = task_pb.WhichOneof("iterator")
    if kind == "parameter_iterator":
        iterator_pb = task_pb.parameter_iterator
        item_input = _item_input(where, "parameterIterator", iterator_pb)
        items_kind = iterator_pb.items.WhichOneof("kind")
        if items_kind == "raw":
            return ParameterIterator(
                items=ParameterInput(Constant(_raw_items(where, iterator_pb.items.raw))),
                item_input=item_input,
            )
        if items_kind == "input_parameter":
            name = iterator_pb.items.input_parameter
            return ParameterIterator(
                items=_iterated(where, "parameterIterator", name, parameters, "parameter"),
                item_input=item_input,
                items_input=name,
            )
        raise InvalidArgument(
            f"{where}: parameterIterator.items has neither raw nor inputParameter", field="pipeline_spec"
        )
    if kind == "artifact_iterator":
        iterator_pb = task_pb.artifact_iterator
        name = iterator_pb.items.input_artifact
        return ArtifactIterator(
            items=_iterated(where, "artifactIterator", name, artifacts, "artifact"),
            item_input=_item_input(where, "artifactIterator", iterator_pb),
            items_input=name,
        )
    return None


def _item_input(where: str, kind: str, iterator_pb: Any) -> str:
    if not iterator_pb.item_input:
        raise InvalidArgument(f"{where}: {kind} has no itemInput", field="pipeline_spec")
    name: str = iterator_pb.item_input
    return name


def _iterated(where: str, kind: str, name: str, inputs: Mapping[str, _Input], noun: str) -> _Input:
    if name not in inputs:
        raise InvalidArgument(
            f"{where}: {kind} iterates over input {noun} {name!r}, which the task does not have "
            f"(it has {describe_keys(inputs)})",
            field="pipeline_spec",
        )
    return inputs[name]


def _raw_items(where: str, raw: str) -> JsonValue:
    try:
        items: JsonValue = json.loads(raw)
    except ValueError:
        raise InvalidArgument(
            f"{where}: parameterIterator.items.raw is not valid JSON: {raw!r}", field="pipeline_spec"
        ) from None
    if not isinstance(items, list):
        raise InvalidArgument(
            f"{where}: parameterIterator.items.raw is not a JSON list: {raw!r}", field="pipeline_spec"
        )
    return normalize_numbers(items)


def _retry(policy_pb: Any) -> RetryPolicy:
    defaults = RetryPolicy()
    return RetryPolicy(
        max_retry_count=policy_pb.max_retry_count,
        backoff_seconds=_seconds(policy_pb, "backoff_duration", defaults.backoff_seconds),
        backoff_factor=policy_pb.backoff_factor or defaults.backoff_factor,
        backoff_max_seconds=_seconds(policy_pb, "backoff_max_duration", defaults.backoff_max_seconds),
    )


def _seconds(message: Any, field: str, default: float) -> float:
    if not message.HasField(field):
        return default
    seconds: float = getattr(message, field).ToTimedelta().total_seconds()
    return seconds


def _dag_parameter_output(dag_name: str, name: str, output_pb: Any) -> DagParameterOutput:
    kind = output_pb.WhichOneof("kind")
    if kind == "value_from_parameter":
        selectors = [output_pb.value_from_parameter]
    elif kind == "value_from_oneof":
        selectors = list(output_pb.value_from_oneof.parameter_selectors)
    else:
        raise InvalidArgument(
            f"DAG {dag_name!r}, output parameter {name!r}: neither valueFromParameter nor valueFromOneof",
            field="pipeline_spec",
        )
    return DagParameterOutput(
        sources=tuple(FromTaskOutput(task=s.producer_subtask, key=s.output_parameter_key) for s in selectors)
    )


def _enum_name(enum: Any, number: int) -> str:
    name: str = enum.Name(number)
    return name


# --- executors ---------------------------------------------------------------------------


def _executor(label: str, executor_pb: Any) -> Executor:
    kind = executor_pb.WhichOneof("spec")
    where = f"executor {label!r}"
    if kind == "container":
        return _container(where, executor_pb.container)
    if kind == "importer":
        return _importer(where, executor_pb.importer)
    if kind is None:
        raise InvalidArgument(f"{where}: neither container nor importer", field="pipeline_spec")
    raise InvalidArgument(
        f"{where}: {kind} executors are not supported (only container and importer)", field="pipeline_spec"
    )


def _container(where: str, container_pb: Any) -> ContainerExecutor:
    return ContainerExecutor(
        image=container_pb.image,
        command=tuple(_structured(item) for item in container_pb.command),
        args=tuple(_structured(item) for item in container_pb.args),
        env={variable.name: variable.value for variable in container_pb.env},
        resources=_resources(where, container_pb.resources),
    )


def _structured(item: str) -> JsonValue:
    """kfp writes Concat / IfPresent placeholders as JSON text; turn them into JSON objects."""
    if not item.lstrip().startswith("{"):
        return item
    try:
        value = json.loads(item)
    except ValueError:
        return item
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _STRUCTURED_PLACEHOLDERS:
        return value
    return item


def _resources(where: str, resources_pb: Any) -> Resources:
    accelerator = resources_pb.accelerator
    count: int | str | None = None
    count_text: str = accelerator.resource_count
    if count_text:
        count = _quantity(where, "accelerator count", count_text, int)
    elif accelerator.count:
        count = int(accelerator.count)
    return Resources(
        cpu_limit=_amount(
            where, "CPU limit", resources_pb.resource_cpu_limit, resources_pb.cpu_limit, parse_cpu
        ),
        cpu_request=_amount(
            where, "CPU request", resources_pb.resource_cpu_request, resources_pb.cpu_request, parse_cpu
        ),
        memory_limit=_amount(
            where,
            "memory limit",
            resources_pb.resource_memory_limit,
            resources_pb.memory_limit * _BYTES_PER_GB,
            parse_memory,
        ),
        memory_request=_amount(
            where,
            "memory request",
            resources_pb.resource_memory_request,
            resources_pb.memory_request * _BYTES_PER_GB,
            parse_memory,
        ),
        accelerator_type=accelerator.resource_type or accelerator.type or None,
        accelerator_count=count,
    )


def _amount(
    where: str, what: str, text: str, number: float, parse: Callable[[str], float]
) -> float | str | None:
    if text:
        return _quantity(where, what, text, parse)
    return number or None


def _quantity(where: str, what: str, text: str, parse: Callable[[str], _Number]) -> _Number | str:
    if "{{$" in text:
        return text  # resolved per task, from a pipeline parameter
    try:
        return parse(text)
    except ValueError:
        raise InvalidArgument(f"{where}: invalid {what} {text!r}", field="pipeline_spec") from None


def _importer(where: str, importer_pb: Any) -> ImporterExecutor:
    uri_pb = importer_pb.artifact_uri
    if uri_pb.WhichOneof("value") == "runtime_parameter":
        artifact_uri = ParameterInput(FromComponentInput(uri_pb.runtime_parameter))
    else:
        uri = _constant(f"{where}, artifactUri", uri_pb)
        if not isinstance(uri, str):
            raise InvalidArgument(f"{where}: artifactUri is not a string", field="pipeline_spec")
        artifact_uri = ParameterInput(Constant(uri))
    return ImporterExecutor(
        artifact_uri=artifact_uri,
        schema_title=importer_pb.type_schema.schema_title or "system.Artifact",
        schema_version=importer_pb.type_schema.schema_version or _DEFAULT_SCHEMA_VERSION,
        metadata=_normalized(_struct_to_dict(importer_pb.metadata)),
        reimport=importer_pb.reimport,
    )
