"""Values a task's Kubernetes platform config takes from its pipeline.

kfp-kubernetes writes an object name or a JSON option given as a pipeline channel as a
kfp `InputParameterSpec` (`secretNameParameter`, `pvcNameParameter`, `nodeSelectorJson`,
…) that refers to the scope the task is *in*: `componentInputParameter` names an input of
the enclosing DAG (a pipeline parameter, a nested pipeline's input, a loop item) and
`taskOutputParameter` an output of a sibling task, which kfp-kubernetes also makes an
upstream dependency. Neither is among the task's own inputs.

So the engine resolves them when it starts the task, in that scope
(`resolve_platform_values`), and keeps the values in the task's record
(`scheduling[PLATFORM_VALUES]`, so that a dispatch sent again after a crash has them);
`dispatch.build_dispatch` writes them into the config as constants
(`with_platform_values`), which is what the executor's Kubernetes launcher reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from services.core.pipeline.model import (
    FromComponentInput,
    FromTaskOutput,
    JsonValue,
    ParameterInput,
)
from services.scheduler.engine.inputs import ABSENT, MissingInput, Scope, parameter_value
from services.scheduler.engine.selectors import ExpressionError

PLATFORM_VALUES = "platform_values"
"""The key in `TaskRecord.scheduling` of the resolved values: spec key → value."""

_SPEC_FIELDS = frozenset(
    {
        "componentInputParameter",
        "taskOutputParameter",
        "runtimeValue",
        "taskFinalStatus",
        "parameterExpressionSelector",
    }
)


@dataclass(frozen=True)
class PlatformReference:
    """One `InputParameterSpec` of a platform config that names a pipeline channel."""

    key: str
    """The spec as canonical JSON: where its value is kept in `PLATFORM_VALUES`."""
    where: str
    """Its place in the config, e.g. `secretAsEnv[0].secretNameParameter`."""
    source: ParameterInput
    """What it names, as a task input would."""

    def describe(self) -> str:
        origin = self.source.source
        if isinstance(origin, FromTaskOutput):
            return f"output {origin.key!r} of task {origin.task!r}"
        assert isinstance(origin, FromComponentInput)
        return f"input {origin.name!r} of the enclosing pipeline"


def platform_references(config: Mapping[str, JsonValue] | None) -> list[PlatformReference]:
    """Every parameter spec in `config` that takes its value from a pipeline channel."""
    return list(_references(dict(config or {}), ""))


def resolve_platform_values(
    scope: Scope, config: Mapping[str, JsonValue] | None, *, task_name: str
) -> dict[str, JsonValue]:
    """The value of each reference in `config`, keyed by `PlatformReference.key`.

    Raises MissingInput naming the option and the channel when one has no value.
    """
    values: dict[str, JsonValue] = {}
    for reference in platform_references(config):
        try:
            value = parameter_value(scope, reference.source)
        except ExpressionError as error:
            raise MissingInput(
                f"Kubernetes option {reference.where} of task {task_name!r}: {error}"
            ) from None
        if value is ABSENT:
            raise MissingInput(
                f"Kubernetes option {reference.where} of task {task_name!r} takes its value from "
                f"{reference.describe()}, which has none"
            )
        values[reference.key] = value  # type: ignore[assignment]
    return values


def with_platform_values(
    config: Mapping[str, JsonValue], values: Mapping[str, JsonValue]
) -> dict[str, JsonValue]:
    """A copy of `config` in which each resolved spec is `{"runtimeValue": {"constant": v}}`;
    specs without a value in `values` are left as they are."""
    replaced = _replace(dict(config), values)
    assert isinstance(replaced, dict)
    return replaced


def spec_key(spec: Mapping[str, JsonValue]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _source_of(value: JsonValue) -> ParameterInput | None:
    """What an `InputParameterSpec` names, when it is one and names a channel."""
    if not isinstance(value, dict) or not value or not set(value) <= _SPEC_FIELDS:
        return None
    selector = value.get("parameterExpressionSelector")
    selector = selector if isinstance(selector, str) and selector else None
    name = value.get("componentInputParameter")
    if isinstance(name, str) and name:
        return ParameterInput(source=FromComponentInput(name), selector=selector)
    output = value.get("taskOutputParameter")
    if isinstance(output, dict):
        task, key = output.get("producerTask"), output.get("outputParameterKey")
        if isinstance(task, str) and task and isinstance(key, str) and key:
            return ParameterInput(source=FromTaskOutput(task=task, key=key), selector=selector)
    return None


def _references(value: JsonValue, where: str) -> Iterator[PlatformReference]:
    if isinstance(value, dict):
        for name, item in value.items():
            place = f"{where}.{name}" if where else name
            source = _source_of(item)
            if source is not None:
                assert isinstance(item, dict)
                yield PlatformReference(key=spec_key(item), where=place, source=source)
            else:
                yield from _references(item, place)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _references(item, f"{where}[{index}]")


def _replace(value: JsonValue, values: Mapping[str, JsonValue]) -> JsonValue:
    if isinstance(value, dict):
        replaced: dict[str, JsonValue] = {}
        for name, item in value.items():
            if _source_of(item) is not None and isinstance(item, dict) and spec_key(item) in values:
                replaced[name] = {"runtimeValue": {"constant": values[spec_key(item)]}}
            else:
                replaced[name] = _replace(item, values)
        return replaced
    if isinstance(value, list):
        return [_replace(item, values) for item in value]
    return value
