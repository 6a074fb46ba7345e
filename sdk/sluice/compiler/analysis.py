"""Where values flow in a pipeline graph: what each group needs, gives, and waits for.

The IR is a tree of DAGs: every control-flow group is a sub-DAG that receives the values
its tasks need as inputs (`pipelinechannel--<producer>-<output>`), gives `dsl.Collected`
lists and `dsl.OneOf` values as outputs, and depends only on its siblings. This module
works those out the way KFP does, so both compilers name and wire things alike:

- a value crosses into every group between its producer's DAG and its consumer;
- a loop's items enter the loop group, the loop item enters the groups inside it;
- a dependency is between the first groups (or tasks) that the producer's and the
  consumer's ancestries do not share.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sluice.dsl.channels import (
    PIPELINE_CHANNEL_PREFIX,
    Channel,
    Collected,
    LoopArgument,
    LoopArgumentVariable,
    LoopArtifactArgument,
    OneOfArtifact,
    OneOfParameter,
    channels_in,
)
from sluice.dsl.errors import CompileError
from sluice.dsl.groups import ExitHandler, ParallelFor, TasksGroup, _ConditionGroup
from sluice.dsl.tasks import PipelineTask
from sluice.dsl.types import ArtifactType, ParameterType, ParamType, ValueType

if TYPE_CHECKING:
    from sluice.dsl.graph import PipelineGraph

Node = PipelineTask | TasksGroup
LOOP_CHANNELS = (LoopArgument, LoopArtifactArgument, LoopArgumentVariable)


@dataclass
class GroupOutput:
    """An output of a group's sub-DAG: a gathered loop output or a `OneOf`."""

    value_type: ValueType
    is_list: bool
    selectors: list[tuple[str, str]]
    """(producer subtask, output key) pairs; several only for a OneOf."""
    oneof: bool = False


@dataclass
class Analysis:
    """The result of `analyze`."""

    groups: list[TasksGroup]
    """Every group, parents before children."""
    chains: dict[int, list[Node]]
    """`id(node)` → its ancestry: the pipeline group first, the node itself last."""
    condition_channels: dict[int, list[Channel]]
    """`id(task)` → the channels the conditions around it compare."""
    inputs: dict[int, dict[tuple[str, str, str], Channel]] = field(default_factory=dict)
    """`id(node)` → the channels that must enter it (keyed to drop duplicates)."""
    outputs: dict[int, dict[str, GroupOutput]] = field(default_factory=dict)
    """`id(group)` → the outputs its sub-DAG gives."""
    dependencies: dict[int, set[str]] = field(default_factory=dict)
    """`id(node)` → the names of the siblings it waits for."""
    references: dict[int, tuple[Node, str]] = field(default_factory=dict)
    """`id(Collected)` → the group that gives the gathered list and the output key."""
    pipeline_outputs: dict[str, tuple[Node, str]] = field(default_factory=dict)
    """Output name → (producer subtask of the pipeline's DAG, output key)."""

    def producer(self, channel: Channel) -> Node | None:
        """The node a consumer reads `channel` from (a gathering group for a Collected)."""
        reference = self.references.get(id(channel))
        return reference[0] if reference is not None else channel.producer

    def key(self, channel: Channel) -> str:
        reference = self.references.get(id(channel))
        return reference[1] if reference is not None else channel.name

    def full_name(self, channel: Channel) -> str:
        producer = self.producer(channel)
        return f"{producer.name}-{self.key(channel)}" if producer is not None else self.key(channel)

    def input_name(self, channel: Channel) -> str:
        """The name of the sub-DAG input `channel` arrives through."""
        return PIPELINE_CHANNEL_PREFIX + self.full_name(channel)

    def uncommon(self, first: Node, second: Node) -> tuple[list[Node], list[Node]]:
        """The ancestries of two nodes below their deepest common group."""
        a, b = self.chains[id(first)], self.chains[id(second)]
        common = 0
        for x, y in zip(a, b, strict=False):
            if x is not y:
                break
            common += 1
        return a[common:], b[common:]


def task_channels(task: PipelineTask, graph: PipelineGraph) -> list[Channel]:
    """The channels a task's arguments use, in argument order, each once."""
    found: dict[int, Channel] = {}
    for value in task.arguments.values():
        for channel in channels_in(value, graph):
            found.setdefault(id(channel), channel)
    return list(found.values())


def analyze(graph: PipelineGraph, returned: dict[str, Channel]) -> Analysis:
    """Work out inputs, outputs and dependencies of every group of `graph` (see the module docstring)."""
    groups: list[TasksGroup] = []
    chains: dict[int, list[Node]] = {}

    def walk(group: TasksGroup, chain: list[Node]) -> None:
        groups.append(group)
        chains[id(group)] = [*chain, group]
        for child in group.groups:
            walk(child, [*chain, group])
        for task in group.tasks:
            chains[id(task)] = [*chain, group, task]

    walk(graph.root, [])
    condition_channels: dict[int, list[Channel]] = {}
    for task in _tasks(graph):
        found: dict[int, Channel] = {}
        for node in chains[id(task)]:
            if isinstance(node, _ConditionGroup):
                for operation in node.conditions:
                    for channel in operation.channels():
                        found.setdefault(id(channel), channel)
        condition_channels[id(task)] = list(found.values())
    analysis = Analysis(groups=groups, chains=chains, condition_channels=condition_channels)
    _inputs(analysis, graph)
    _outputs(analysis, graph, returned)
    _dependencies(analysis, graph)
    return analysis


def _tasks(graph: PipelineGraph) -> list[PipelineTask]:
    return [task for task in graph.tasks.values() if task.exit_handler is None]


def _loop_takes(node: Node, channel: Channel) -> bool:
    """Whether `node` is the loop that turns `channel` into its item (KFP's name test)."""
    return isinstance(node, ParallelFor) and channel.full_name in node.loop_argument.full_name


def _inputs(analysis: Analysis, graph: PipelineGraph) -> None:
    def add(node: Node, channel: Channel) -> None:
        entries = analysis.inputs.setdefault(id(node), {})
        key = (type(channel).__name__, channel.producer_name or "", channel.name)
        entries.setdefault(key, channel)

    for task in _tasks(graph):
        for channel in [*task_channels(task, graph), *analysis.condition_channels[id(task)]]:
            chain: deque[Channel] = deque()
            current: object = channel
            while isinstance(current, LOOP_CHANNELS):
                chain.append(current)
                current = (
                    current.loop_argument if isinstance(current, LoopArgumentVariable) else current.items
                )
            if isinstance(current, Channel):
                chain.append(current)
            producer = channel.producer
            if producer is not None:
                _, downstream = analysis.uncommon(producer, task)
                for node in downstream:
                    add(node, chain[-1])
                    if _loop_takes(node, chain[-1]):
                        chain.pop()
                        if not chain:
                            break
            elif isinstance(channel, LOOP_CHANNELS) and channel.is_literal:
                for node in reversed(analysis.chains[id(task)]):
                    add(node, chain[0])
                    if _loop_takes(node, chain[0]):
                        chain.popleft()
                        if not chain:
                            break
            else:
                for node in analysis.chains[id(task)]:
                    add(node, chain[-1])
                    if _loop_takes(node, chain[-1]):
                        chain.pop()
                        if not chain:
                            break


def _gathered_type(channel: Collected) -> ValueType:
    if isinstance(channel.output.value_type, ArtifactType):
        return channel.output.value_type
    return ParamType(ParameterType.LIST)


def _outputs(analysis: Analysis, graph: PipelineGraph, returned: dict[str, Channel]) -> None:
    def give(group: Node, name: str, output: GroupOutput) -> None:
        analysis.outputs.setdefault(id(group), {})[name] = output

    def gather(channel: Collected, upstream: list[Node]) -> tuple[Node, str]:
        surfaced = PIPELINE_CHANNEL_PREFIX + channel.full_name
        producer: Node = upstream.pop()
        key = channel.name
        for group in reversed(upstream):
            give(
                group, surfaced, GroupOutput(_gathered_type(channel), channel.is_list, [(producer.name, key)])
            )
            producer, key = group, surfaced
        return producer, key

    def pick(channel: OneOfParameter | OneOfArtifact, upstream_of: dict[int, list[Node]]) -> None:
        selectors: list[tuple[str, str]] = []
        for inner in channel.channels:
            assert inner.producer is not None
            producer: Node = inner.producer
            key = inner.name
            surfaced = PIPELINE_CHANNEL_PREFIX + inner.full_name
            for group in reversed(upstream_of[id(inner)]):
                if group is inner.producer:
                    continue
                if group is channel.branches:
                    break
                give(group, surfaced, GroupOutput(inner.value_type, inner.is_list, [(producer.name, key)]))
                producer, key = group, surfaced
            selectors.append((producer.name, key))
        give(
            channel.branches,
            channel.name,
            GroupOutput(channel.value_type, channel.is_list, selectors, oneof=True),
        )

    picked: set[int] = set()
    for task in _tasks(graph):
        for channel in task_channels(task, graph):
            if isinstance(channel, Collected):
                assert channel.producer is not None
                upstream, _ = analysis.uncommon(channel.producer, task)
                analysis.references[id(channel)] = gather(channel, list(upstream))
            elif isinstance(channel, (OneOfParameter, OneOfArtifact)) and id(channel) not in picked:
                picked.add(id(channel))
                pick(
                    channel,
                    {id(inner): analysis.uncommon(_producer(inner), task)[0] for inner in channel.channels},
                )
    for name, channel in returned.items():
        if isinstance(channel, Collected):
            assert channel.producer is not None
            analysis.pipeline_outputs[name] = gather(channel, list(analysis.chains[id(channel.producer)][1:]))
            continue
        if isinstance(channel, (OneOfParameter, OneOfArtifact)) and id(channel) not in picked:
            picked.add(id(channel))
            pick(
                channel, {id(inner): analysis.chains[id(_producer(inner))][1:] for inner in channel.channels}
            )
        producer = channel.producer
        assert producer is not None
        analysis.pipeline_outputs[name] = (producer, channel.name)


def _producer(channel: Channel) -> Node:
    assert channel.producer is not None
    return channel.producer


def _dependencies(analysis: Analysis, graph: PipelineGraph) -> None:
    for task in _tasks(graph):
        upstream: dict[int, Node] = {}
        for channel in [*task_channels(task, graph), *analysis.condition_channels[id(task)]]:
            producer = analysis.producer(channel)
            if producer is not None:
                upstream.setdefault(id(producer), producer)
        for dependency in task.dependencies:
            upstream.setdefault(id(dependency), dependency)
        for node in upstream.values():
            if isinstance(node, PipelineTask) and node.exit_handler is not None:
                raise CompileError(
                    f"task {task.name!r} depends on exit task {node.name!r}, which runs last",
                    component=task.component.name,
                    location=task.location,
                )
            up, down = analysis.uncommon(node, task)
            outer = up[:-1]
            if outer and isinstance(outer[0], (_ConditionGroup, ExitHandler)):
                raise CompileError(
                    f"task {task.name!r} depends on {node.name!r}, which is inside "
                    f"{outer[0].kind_description()} {outer[0].name!r}; move the task inside it too",
                    component=task.component.name,
                    location=task.location,
                )
            if outer and isinstance(outer[0], ParallelFor) and not isinstance(node, TasksGroup):
                uses_data = any(channel.producer is node for channel in task_channels(task, graph))
                if uses_data and not any(
                    isinstance(channel, Collected) and channel.producer is node
                    for channel in task_channels(task, graph)
                ):
                    raise CompileError(
                        f"task {task.name!r} uses an output of {node.name!r} inside {outer[0].name!r}; "
                        "gather it with dsl.Collected(...)",
                        component=task.component.name,
                        location=task.location,
                    )
            analysis.dependencies.setdefault(id(down[0]), set()).add(up[0].name)
