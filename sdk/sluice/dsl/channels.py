"""Channels: values that exist only when the pipeline runs (pipeline inputs, task outputs, loop items).

Inside a `@pipeline` function, parameters, task outputs and loop variables are channels.
They can be passed to components, compared to build conditions (`task.output == "heads"`),
and formatted into strings (`f"model-{version}"`), which the compiler turns into
placeholders. They have no value at definition time, so using one in an `if` is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from sluice.dsl.errors import CompileError, caller_location
from sluice.dsl.types import ArtifactType, ParameterType, ParamType, ValueType, describe

if TYPE_CHECKING:
    from sluice.dsl.graph import PipelineGraph
    from sluice.dsl.groups import ConditionBranches, ParallelFor, TasksGroup
    from sluice.dsl.tasks import PipelineTask

Producer: TypeAlias = "PipelineTask | TasksGroup"

PIPELINE_CHANNEL_PREFIX = "pipelinechannel--"
LOOP_ITEM = "loop-item"
_PATTERN = re.compile(r"\{\{channel:(\d+):(\d+)\}\}")


class Channel:
    """A value known only at run time."""

    def __init__(self, name: str, *, producer: Producer | None, graph: PipelineGraph) -> None:
        self.name = name
        """The output key, pipeline parameter name or loop name."""
        self.producer: Producer | None = producer
        """The task (or group) that produces the value; None for pipeline inputs and literal loop items."""
        self.graph = graph
        """The pipeline being defined that owns the channel."""
        self.number = graph.register_channel(self)

    @property
    def producer_name(self) -> str | None:
        return self.producer.name if self.producer is not None else None

    @property
    def full_name(self) -> str:
        """`<producer>-<name>`, or the name for pipeline inputs: unique in the pipeline."""
        return f"{self.producer.name}-{self.name}" if self.producer is not None else self.name

    @property
    def input_name(self) -> str:
        """The name of the input a sub-DAG gets this channel through."""
        return PIPELINE_CHANNEL_PREFIX + self.full_name

    @property
    def value_type(self) -> ValueType:
        raise NotImplementedError

    @property
    def is_artifact(self) -> bool:
        return isinstance(self.value_type, ArtifactType)

    @property
    def is_list(self) -> bool:
        return False

    def describe(self) -> str:
        """`output 'Output' of task 'add'` and the like, for messages."""
        what = f"{describe(self.value_type, is_list=self.is_list)} "
        if self.producer is None:
            return f"{what}pipeline input {self.name!r}"
        return f"{what}output {self.name!r} of {self.producer.name!r}"

    # f-strings and str(): a pattern the compiler replaces with a placeholder.
    def __str__(self) -> str:
        return f"{{{{channel:{self.graph.number}:{self.number}}}}}"

    def __format__(self, format_spec: str) -> str:
        if format_spec:
            raise self._error("a pipeline value cannot be formatted with a format spec; use {value}")
        return str(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.full_name}>"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        raise self._error(
            "a pipeline value has no truth value when the pipeline is defined; "
            "use `with dsl.If(...)` instead of `if`"
        )

    def __iter__(self) -> Any:
        raise self._error(
            "a pipeline value cannot be iterated when the pipeline is defined; use dsl.ParallelFor"
        )

    def _compare(self, operator: str, other: object) -> ConditionOperation:
        return ConditionOperation(operator, self, other)

    def __eq__(self, other: object) -> ConditionOperation:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: object) -> ConditionOperation:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: object) -> ConditionOperation:
        return self._compare("<", other)

    def __le__(self, other: object) -> ConditionOperation:
        return self._compare("<=", other)

    def __gt__(self, other: object) -> ConditionOperation:
        return self._compare(">", other)

    def __ge__(self, other: object) -> ConditionOperation:
        return self._compare(">=", other)

    def _error(self, message: str) -> CompileError:
        return CompileError(f"{self.describe()}: {message}", location=caller_location())


class ParameterChannel(Channel):
    """A parameter value."""

    def __init__(
        self, name: str, param_type: ParamType, *, producer: Producer | None, graph: PipelineGraph
    ) -> None:
        super().__init__(name, producer=producer, graph=graph)
        self.param_type = param_type

    @property
    def value_type(self) -> ParamType:
        return self.param_type


class ArtifactChannel(Channel):
    """An artifact (or a list of artifacts)."""

    def __init__(
        self,
        name: str,
        artifact_type: ArtifactType,
        *,
        is_list: bool = False,
        producer: Producer | None,
        graph: PipelineGraph,
    ) -> None:
        super().__init__(name, producer=producer, graph=graph)
        self.artifact_type = artifact_type
        self._is_list = is_list

    @property
    def value_type(self) -> ArtifactType:
        return self.artifact_type

    @property
    def is_list(self) -> bool:
        return self._is_list


class LoopArgument(ParameterChannel):
    """The item of a `ParallelFor` over parameters; `item.field` reads a field of dict items."""

    def __init__(
        self, name: str, item_type: ParamType, *, loop: ParallelFor, items: list[Any] | Channel
    ) -> None:
        producer = items.producer if isinstance(items, Channel) else None
        super().__init__(name, item_type, producer=producer, graph=loop.graph)
        self.loop = loop
        self.items = items
        self._fields: dict[str, LoopArgumentVariable] = {}

    @property
    def is_literal(self) -> bool:
        """Whether the loop runs over a list written in the pipeline."""
        return not isinstance(self.items, Channel)

    def __getattr__(self, field: str) -> LoopArgumentVariable:
        if field.startswith("_"):
            raise AttributeError(field)
        if field not in self._fields:
            self._fields[field] = LoopArgumentVariable(self, field)
        return self._fields[field]

    def describe(self) -> str:
        return f"loop item of {self.loop.name!r}"


class LoopArtifactArgument(ArtifactChannel):
    """The item of a `ParallelFor` over a list of artifacts."""

    def __init__(self, name: str, *, loop: ParallelFor, items: ArtifactChannel) -> None:
        super().__init__(name, items.artifact_type, producer=items.producer, graph=loop.graph)
        self.loop = loop
        self.items = items

    @property
    def is_literal(self) -> bool:
        return False

    def describe(self) -> str:
        return f"loop item of {self.loop.name!r}"


class LoopArgumentVariable(ParameterChannel):
    """A field of the dict items a `ParallelFor` runs over: `item.name`."""

    def __init__(self, loop_argument: LoopArgument, field: str) -> None:
        if not re.fullmatch(r"[A-Za-z_][0-9A-Za-z_]*", field):
            raise CompileError(f"{field!r} is not a valid loop item field name", location=caller_location())
        item = loop_argument.param_type.item
        super().__init__(
            f"{loop_argument.name}-subvar-{field}",
            item if item is not None else ParamType(ParameterType.STRING),
            producer=loop_argument.producer,
            graph=loop_argument.graph,
        )
        self.loop_argument = loop_argument
        self.field = field
        self.type_known = item is not None

    @property
    def loop(self) -> ParallelFor:
        return self.loop_argument.loop

    @property
    def is_literal(self) -> bool:
        return self.loop_argument.is_literal

    def describe(self) -> str:
        return f"field {self.field!r} of the loop item of {self.loop.name!r}"


LoopChannel = LoopArgument | LoopArtifactArgument | LoopArgumentVariable


class Collected(Channel):
    """`dsl.Collected(task.output)`: the outputs of a task in a `ParallelFor`, gathered into a list."""

    output: Channel

    def __init__(self, output: Channel) -> None:
        if not isinstance(output, (ParameterChannel, ArtifactChannel)) or isinstance(output, Collected):
            raise CompileError("dsl.Collected takes a task output", location=caller_location())
        if output.producer is None:
            raise CompileError(
                f"dsl.Collected takes a task output; got {output.describe()}", location=caller_location()
            )
        super().__init__(output.name, producer=output.producer, graph=output.graph)
        self.output = output

    @property
    def value_type(self) -> ValueType:
        if isinstance(self.output, ArtifactChannel):
            return self.output.artifact_type
        return ParamType(
            ParameterType.LIST,
            self.output.value_type if isinstance(self.output.value_type, ParamType) else None,
        )

    @property
    def is_list(self) -> bool:
        return isinstance(self.output, ArtifactChannel)

    def describe(self) -> str:
        return f"dsl.Collected({self.output.describe()})"


class OneOfParameter(ParameterChannel):
    """`dsl.OneOf(...)` over parameters: the output of whichever branch ran."""

    def __init__(self, channels: list[ParameterChannel], *, branches: ConditionBranches, name: str) -> None:
        super().__init__(name, channels[0].param_type, producer=branches, graph=branches.graph)
        self.channels = channels
        self.branches = branches

    def describe(self) -> str:
        return "dsl.OneOf(" + ", ".join(channel.describe() for channel in self.channels) + ")"


class OneOfArtifact(ArtifactChannel):
    """`dsl.OneOf(...)` over artifacts: the output of whichever branch ran."""

    def __init__(self, channels: list[ArtifactChannel], *, branches: ConditionBranches, name: str) -> None:
        super().__init__(
            name,
            channels[0].artifact_type,
            is_list=channels[0].is_list,
            producer=branches,
            graph=branches.graph,
        )
        self.channels = channels
        self.branches = branches

    def describe(self) -> str:
        return "dsl.OneOf(" + ", ".join(channel.describe() for channel in self.channels) + ")"


def OneOf(*channels: Any) -> Any:
    """The output of whichever `If`/`Elif`/`Else` branch ran; one task output per branch.

    The branches must end with an `Else`, and the outputs must all be parameters or all be
    artifacts of the same type.
    """
    from sluice.dsl.groups import oneof_branches

    location = caller_location()
    if not channels:
        raise CompileError("dsl.OneOf needs at least one task output", location=location)
    for channel in channels:
        if isinstance(channel, (Collected, OneOfParameter, OneOfArtifact)) or not isinstance(
            channel, Channel
        ):
            raise CompileError(f"dsl.OneOf takes task outputs; got {channel!r}", location=location)
        if channel.producer is None:
            raise CompileError(f"dsl.OneOf takes task outputs; got {channel.describe()}", location=location)
    branches: ConditionBranches = oneof_branches(list(channels), location=location)
    name = f"{PIPELINE_CHANNEL_PREFIX}{branches.name}-oneof-{branches.next_oneof_id()}"
    first = channels[0]
    for channel in channels[1:]:
        if type(channel.value_type) is not type(first.value_type):
            raise CompileError("dsl.OneOf mixes parameters and artifacts", location=location)
        if channel.value_type != first.value_type or channel.is_list != first.is_list:
            raise CompileError(
                f"dsl.OneOf outputs must have the same type; got {first.describe()} and {channel.describe()}",
                location=location,
            )
    if isinstance(first, ArtifactChannel):
        return OneOfArtifact(
            [c for c in channels if isinstance(c, ArtifactChannel)], branches=branches, name=name
        )
    return OneOfParameter(
        [c for c in channels if isinstance(c, ParameterChannel)], branches=branches, name=name
    )


class ConditionOperation:
    """A comparison of a channel with a constant or another channel: a condition of `dsl.If`."""

    def __init__(self, operator: str, left: Any, right: Any, *, negate: bool = False) -> None:
        self.operator = operator
        self.left = left
        self.right = right
        self.negate = negate
        self.location = caller_location()

    def negated(self) -> ConditionOperation:
        operation = ConditionOperation(self.operator, self.left, self.right, negate=not self.negate)
        operation.location = self.location
        return operation

    def channels(self) -> list[Channel]:
        return [operand for operand in (self.left, self.right) if isinstance(operand, Channel)]

    def __bool__(self) -> bool:
        raise CompileError(
            "a comparison of pipeline values has no truth value when the pipeline is defined; "
            "use `with dsl.If(...)` instead of `if`",
            location=self.location,
        )

    def __repr__(self) -> str:
        text = f"{self.left!r} {self.operator} {self.right!r}"
        return f"!({text})" if self.negate else text


def channels_in(value: Any, graph: PipelineGraph) -> list[Channel]:
    """The channels in a value: a channel, or channels formatted into strings inside lists and dicts."""
    found: list[Channel] = []

    def visit(item: Any) -> None:
        if isinstance(item, Channel):
            found.append(item)
        elif isinstance(item, str):
            for match in _PATTERN.finditer(item):
                found.append(graph.channel_from_pattern(int(match.group(1)), int(match.group(2))))
        elif isinstance(item, (list, tuple)):
            for element in item:
                visit(element)
        elif isinstance(item, dict):
            for key, element in item.items():
                visit(key)
                visit(element)

    visit(value)
    unique: dict[int, Channel] = {}
    for channel in found:
        unique.setdefault(id(channel), channel)
    return list(unique.values())


def substitute(value: Any, graph: PipelineGraph, placeholder: Callable[[Channel], str]) -> Any:
    """`value` with each channel (an object, or formatted into a string) as `placeholder(channel)`."""
    if isinstance(value, Channel):
        return placeholder(value)
    if isinstance(value, str):
        return _PATTERN.sub(
            lambda match: placeholder(graph.channel_from_pattern(int(match.group(1)), int(match.group(2)))),
            value,
        )
    if isinstance(value, (list, tuple)):
        return [substitute(item, graph, placeholder) for item in value]
    if isinstance(value, dict):
        return {
            substitute(key, graph, placeholder): substitute(item, graph, placeholder)
            for key, item in value.items()
        }
    return value
