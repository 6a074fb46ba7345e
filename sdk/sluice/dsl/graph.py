"""The graph a `@pipeline` function builds: its tasks, its groups, and the channels between them."""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections.abc import Container, Iterator
from typing import TYPE_CHECKING

from sluice.dsl.errors import CompileError, SourceLocation, caller_location
from sluice.dsl.groups import GroupKind, TasksGroup
from sluice.dsl.interface import k8s_name

if TYPE_CHECKING:
    from sluice.dsl.channels import Channel
    from sluice.dsl.tasks import PipelineTask

_numbers = itertools.count(1)
_graphs: weakref.WeakValueDictionary[int, PipelineGraph] = weakref.WeakValueDictionary()
_building: list[PipelineGraph] = []


class PipelineGraph:
    """What one `@pipeline` function defined."""

    def __init__(self, name: str, *, location: SourceLocation | None) -> None:
        self.number = next(_numbers)
        """Tells this graph's channels from other graphs' in formatted strings."""
        self.name = name
        """The pipeline's name."""
        self.location = location
        """Where the pipeline function is defined."""
        self.tasks: dict[str, PipelineTask] = {}
        """Every task, by its unique name, in creation order."""
        self.root = TasksGroup(GroupKind.PIPELINE, graph=self, name=name)
        self.stack: list[TasksGroup] = [self.root]
        """The groups being defined, outermost first."""
        self._group_ids = itertools.count(1)
        self._channels: list[Channel] = []
        _graphs[self.number] = self

    @property
    def current_group(self) -> TasksGroup:
        return self.stack[-1]

    def next_group_id(self) -> int:
        return next(self._group_ids)

    def add_task(self, task: PipelineTask, *, component_name: str) -> str:
        """Register a task in the current group; returns its unique name."""
        base = k8s_name(component_name) or "task"
        name = unique_name(base, self.tasks)
        self.tasks[name] = task
        self.current_group.tasks.append(task)
        return name

    def register_channel(self, channel: Channel) -> int:
        self._channels.append(channel)
        return len(self._channels) - 1

    def channel_from_pattern(self, graph_number: int, channel_number: int) -> Channel:
        """The channel a formatted string refers to; raises CompileError for another pipeline's."""
        if graph_number != self.number:
            other = _graphs.get(graph_number)
            owner = f"pipeline {other.name!r}" if other is not None else "another pipeline"
            raise CompileError(
                f"a value of {owner} is formatted into a string in pipeline {self.name!r}",
                location=caller_location(),
            )
        return self._channels[channel_number]


def unique_name(base: str, taken: Container[str]) -> str:
    """`base`, or `base-2`, `base-3`… whichever is free (KFP's rule)."""
    if base not in taken:
        return base
    for index in itertools.count(2):
        candidate = f"{base}-{index}"
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")


def current_graph() -> PipelineGraph | None:
    """The pipeline being defined, if any."""
    return _building[-1] if _building else None


@contextlib.contextmanager
def building(graph: PipelineGraph) -> Iterator[PipelineGraph]:
    """Make `graph` the pipeline being defined while its function runs."""
    _building.append(graph)
    try:
        yield graph
    finally:
        _building.pop()
