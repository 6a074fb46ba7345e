"""A task: one call of a component inside a pipeline, with its arguments and settings."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice.dsl.channels import (
    ArtifactChannel,
    Channel,
    Collected,
    ConditionOperation,
    LoopArgument,
    LoopArgumentVariable,
    LoopArtifactArgument,
    OneOfArtifact,
    OneOfParameter,
    ParameterChannel,
    channels_in,
    substitute,
)
from sluice.dsl.errors import CompileError, SourceLocation, caller_location
from sluice.dsl.graph import PipelineGraph, current_graph
from sluice.dsl.groups import ExitHandler, GroupKind, TasksGroup
from sluice.dsl.interface import InputSpec, OutputSpec
from sluice.dsl.types import (
    ArtifactType,
    ParameterType,
    ParamType,
    Role,
    artifact_accepts,
    check_constant,
    describe,
    parameter_accepts,
)

if TYPE_CHECKING:
    from sluice.dsl.components import BaseComponent

_CPU = re.compile(r"([0-9]*[.])?[0-9]+m?")
_MEMORY = re.compile(r"[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?")
_DURATION = re.compile(r"\s*(\d+)\s*([a-zA-Z]+)\s*")
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class RetryPolicy:
    """How a failed task is retried (`set_retry`)."""

    max_retry_count: int
    backoff_duration: str | None = None
    backoff_factor: float | None = None
    backoff_max_duration: str | None = None


@dataclass
class Resources:
    """The container resources of a task; quantities as Kubernetes writes them."""

    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    accelerator_type: str | None = None
    accelerator_count: str | None = None


@dataclass
class TaskSettings:
    """What the `set_*` methods of a task change."""

    display_name: str | None = None
    enable_caching: bool = True
    cache_key: str | None = None
    retry: RetryPolicy | None = None
    resources: Resources = field(default_factory=Resources)
    env: dict[str, str] = field(default_factory=dict)
    image: str | None = None
    timeout_seconds: int | None = None
    ignore_upstream_failure: bool = False


class Outputs(Mapping[str, Any]):
    """`task.outputs`: the task's outputs by name; an unknown name is a CompileError."""

    def __init__(self, task: PipelineTask, channels: dict[str, Channel]) -> None:
        self._task = task
        self._channels = channels

    def __getitem__(self, name: str) -> Any:
        if name not in self._channels:
            known = ", ".join(repr(key) for key in self._channels) or "none"
            raise CompileError(
                f"task {self._task.name!r} has no output {name!r} (its outputs: {known})",
                component=self._task.component.name,
                argument=name,
                location=caller_location(),
            )
        return self._channels[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)


class PipelineTask:
    """One call of a component in a pipeline. Created by calling the component."""

    def __init__(self, component: BaseComponent, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.location = caller_location()
        graph = current_graph()
        if graph is None:
            raise CompileError(
                "components can only be called inside a @pipeline function",
                component=component.name,
                location=self.location,
            )
        self.component = component
        self.graph: PipelineGraph = graph
        self.parent: TasksGroup = graph.current_group
        self.settings = TaskSettings()
        self.dependencies: list[PipelineTask | ExitHandler] = []
        """Tasks (and exit handler blocks) named with `.after()`."""
        self.exit_handler: ExitHandler | None = None
        """Set when this task is the exit task of an `ExitHandler`."""
        self.arguments = self._bind(args, kwargs)
        self.name = graph.add_task(self, component_name=component.name)
        self._output_channels = {
            name: self._output_channel(spec) for name, spec in component.interface.outputs.items()
        }
        self.outputs = Outputs(self, self._output_channels)

    # --- outputs -----------------------------------------------------------------------------

    def _output_channel(self, spec: OutputSpec) -> Channel:
        if isinstance(spec.type, ArtifactType):
            return ArtifactChannel(
                spec.name, spec.type, is_list=spec.is_list, producer=self, graph=self.graph
            )
        return ParameterChannel(spec.name, spec.type, producer=self, graph=self.graph)

    @property
    def output(self) -> Any:
        """The task's only output; a CompileError when it has none or several."""
        if len(self._output_channels) != 1:
            known = ", ".join(repr(key) for key in self._output_channels)
            reason = (
                "has no outputs" if not known else f"has several outputs ({known}); use task.outputs[name]"
            )
            raise CompileError(
                f"task {self.name!r} {reason}", component=self.component.name, location=caller_location()
            )
        return next(iter(self._output_channels.values()))

    # --- arguments ----------------------------------------------------------------------------

    def _fail(self, message: str, argument: str | None = None) -> CompileError:
        return CompileError(message, component=self.component.name, argument=argument, location=self.location)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        inputs = {
            name: spec
            for name, spec in self.component.interface.inputs.items()
            if spec.role is not Role.FINAL_STATUS
        }
        if len(args) > len(inputs):
            raise self._fail(f"takes {len(inputs)} inputs but {len(args)} positional arguments were given")
        bound = dict(zip(inputs, args, strict=False))
        for name, value in kwargs.items():
            if name in bound:
                raise self._fail("given twice", name)
            if name not in inputs:
                if name in self.component.interface.inputs:
                    raise self._fail(
                        "a PipelineTaskFinalStatus input is given by the engine, not passed", name
                    )
                if name in self.component.interface.outputs:
                    raise self._fail("is an output of the component; it is not passed", name)
                known = ", ".join(inputs) or "none"
                raise self._fail(f"unknown argument (the component's inputs: {known})", name)
            bound[name] = value
        arguments: dict[str, Any] = {}
        for name, spec in inputs.items():
            value = bound.get(name)
            if value is None:
                if not spec.optional:
                    raise self._fail("missing required argument", name)
                continue
            arguments[name] = self._check_argument(spec, value)
        return arguments

    def _check_argument(self, spec: InputSpec, value: Any) -> Any:
        name = spec.name
        if isinstance(value, PipelineTask):
            raise self._fail(
                f"got task {value.name!r}; pass one of its outputs (task.output or task.outputs[...])", name
            )
        if isinstance(value, ConditionOperation):
            raise self._fail("got a comparison; conditions belong in dsl.If(...)", name)
        if isinstance(value, Channel):
            self._check_channel(spec, value)
            return value
        if spec.is_artifact:
            raise self._fail(
                f"expects {describe(spec.type, is_list=spec.is_list)} artifact from a task, a pipeline input "
                f"or dsl.importer; got {type(value).__name__} {value!r}",
                name,
            )
        assert isinstance(spec.type, ParamType)
        embedded = channels_in(value, self.graph)
        for channel in embedded:
            if channel.is_artifact:
                raise self._fail(f"{channel.describe()} cannot be formatted into a parameter value", name)
            self._check_reachable(channel, name)
        checked = substitute(value, self.graph, lambda channel: "") if embedded else value
        try:
            check_constant(checked, spec.type)
        except TypeError as error:
            raise self._fail(str(error), name) from None
        return value

    def _check_channel(self, spec: InputSpec, channel: Channel) -> None:
        name = spec.name
        if channel.graph is not self.graph:
            raise self._fail(
                f"{channel.describe()} belongs to pipeline {channel.graph.name!r}, "
                f"not to {self.graph.name!r}",
                name,
            )
        self._check_reachable(channel, name)
        given = channel.value_type
        if isinstance(spec.type, ArtifactType):
            if not isinstance(given, ArtifactType):
                raise self._fail(
                    f"expects a {describe(spec.type, is_list=spec.is_list)} artifact; "
                    f"got {channel.describe()}",
                    name,
                )
            if not artifact_accepts(spec.type, given) or spec.is_list != channel.is_list:
                raise self._fail(
                    f"expects {describe(spec.type, is_list=spec.is_list)}; got {channel.describe()}", name
                )
            return
        assert isinstance(spec.type, ParamType)
        if not isinstance(given, ParamType):
            raise self._fail(
                f"expects a parameter of type {spec.type.describe()}; got {channel.describe()}", name
            )
        if not _type_known(channel):
            return
        if not parameter_accepts(spec.type, given):
            raise self._fail(f"expects {spec.type.describe()}; got {channel.describe()}", name)

    def _check_reachable(self, channel: Channel, argument: str | None) -> None:
        """Raise when `channel` cannot reach a task defined where this one is."""
        if channel.graph is not self.graph:
            raise self._fail(f"{channel.describe()} belongs to pipeline {channel.graph.name!r}", argument)
        here = self.graph.stack
        if isinstance(channel, (LoopArgument, LoopArtifactArgument, LoopArgumentVariable)):
            if not any(group is channel.loop for group in here):
                raise self._fail(f"the {channel.describe()} is used outside its loop", argument)
            return
        producer = channel.producer
        if producer is None:
            return
        if isinstance(channel, (OneOfParameter, OneOfArtifact)):
            outside = _uncommon(channel.branches.ancestors(), here)
            if outside and outside[-1] is channel.branches and len(outside) == 1:
                return
            raise self._fail(
                f"{channel.describe()} is used inside its own branches or out of their scope", argument
            )
        if not isinstance(producer, PipelineTask):
            return
        outside = _uncommon(producer.parent.ancestors(), here)
        if isinstance(channel, Collected):
            if not outside or outside[0].kind is not GroupKind.FOR_LOOP:
                raise self._fail(
                    f"{channel.describe()}: dsl.Collected gathers the outputs of a task inside a "
                    "dsl.ParallelFor "
                    f"for a task outside that loop; {producer.name!r} is not in such a loop",
                    argument,
                )
            return
        if producer.exit_handler is not None:
            raise self._fail(f"the outputs of exit task {producer.name!r} cannot be used", argument)
        if outside:
            group = outside[0]
            hint = (
                "; gather them with dsl.Collected(...)"
                if group.kind is GroupKind.FOR_LOOP
                else "; pick the branch that ran with dsl.OneOf(...)"
                if group.kind is GroupKind.CONDITION
                else ""
            )
            raise self._fail(
                f"{channel.describe()} is produced inside {group.kind_description()} {group.name!r}, "
                f"which does not contain this task{hint}",
                argument,
            )

    def upstream_tasks(self) -> list[PipelineTask]:
        """The tasks this one takes outputs from (directly, not through groups), in order."""
        found: dict[int, PipelineTask] = {}
        for value in self.arguments.values():
            for channel in channels_in(value, self.graph):
                if isinstance(channel.producer, PipelineTask):
                    found.setdefault(id(channel.producer), channel.producer)
        for dependency in self.dependencies:
            if isinstance(dependency, PipelineTask):
                found.setdefault(id(dependency), dependency)
        return list(found.values())

    # --- settings -----------------------------------------------------------------------------

    def _needs_container(self, method: str) -> None:
        if not self.component.has_container:
            raise CompileError(
                f".{method}() applies to tasks that run a container; {self.component.name!r} does not",
                component=self.component.name,
                location=caller_location(),
            )

    def after(self, *tasks: PipelineTask | ExitHandler) -> PipelineTask:
        """Run this task only after `tasks` (tasks, or `ExitHandler` blocks) finish."""
        location = caller_location()
        for task in tasks:
            if isinstance(task, ExitHandler):
                if task.graph is not self.graph:
                    raise CompileError("the ExitHandler belongs to another pipeline", location=location)
            elif not isinstance(task, PipelineTask):
                raise CompileError(
                    f".after() takes tasks; got {task!r}", component=self.component.name, location=location
                )
            elif task.graph is not self.graph:
                raise CompileError(
                    f"task {task.name!r} belongs to pipeline {task.graph.name!r}, not to {self.graph.name!r}",
                    component=self.component.name,
                    location=location,
                )
            elif task is self:
                raise CompileError(
                    "a task cannot run after itself", component=self.component.name, location=location
                )
            else:
                outside = _uncommon(task.parent.ancestors(), self.parent.ancestors())
                if outside and outside[0].kind in (GroupKind.CONDITION, GroupKind.EXIT_HANDLER):
                    raise CompileError(
                        f"task {task.name!r} is inside {outside[0].kind_description()} {outside[0].name!r}, "
                        "which does not contain this task",
                        component=self.component.name,
                        location=location,
                    )
            self.dependencies.append(task)
        return self

    def set_caching_options(self, enable_caching: bool, cache_key: str | None = None) -> PipelineTask:
        """Reuse (or not) the outputs of an earlier identical run of this task."""
        self.settings.enable_caching = enable_caching
        self.settings.cache_key = cache_key
        return self

    def set_retry(
        self,
        num_retries: int,
        backoff_duration: str | None = None,
        backoff_factor: float | None = None,
        backoff_max_duration: str | None = None,
    ) -> PipelineTask:
        """Retry a failed task up to `num_retries` times, `backoff_duration` apart (x `backoff_factor`)."""
        location = caller_location()
        for value in (backoff_duration, backoff_max_duration):
            if value is not None:
                _duration_seconds(value, location=location, component=self.component.name)
        self.settings.retry = RetryPolicy(num_retries, backoff_duration, backoff_factor, backoff_max_duration)
        return self

    def set_cpu_request(self, cpu: str) -> PipelineTask:
        """The CPU the task needs (`"500m"`, `"2"`)."""
        self._needs_container("set_cpu_request")
        self.settings.resources.cpu_request = self._quantity(cpu, _CPU, "a CPU amount such as '500m' or '2'")
        return self

    def set_cpu_limit(self, cpu: str) -> PipelineTask:
        """The most CPU the task may use (`"500m"`, `"2"`)."""
        self._needs_container("set_cpu_limit")
        self.settings.resources.cpu_limit = self._quantity(cpu, _CPU, "a CPU amount such as '500m' or '2'")
        return self

    def set_memory_request(self, memory: str) -> PipelineTask:
        """The memory the task needs (`"512Mi"`, `"2G"`)."""
        self._needs_container("set_memory_request")
        self.settings.resources.memory_request = self._quantity(
            memory, _MEMORY, "a memory amount such as '512Mi'"
        )
        return self

    def set_memory_limit(self, memory: str) -> PipelineTask:
        """The most memory the task may use (`"512Mi"`, `"2G"`)."""
        self._needs_container("set_memory_limit")
        self.settings.resources.memory_limit = self._quantity(
            memory, _MEMORY, "a memory amount such as '512Mi'"
        )
        return self

    def set_accelerator_type(self, accelerator: str) -> PipelineTask:
        """The accelerator the task needs, e.g. `"nvidia.com/gpu"` (one unless `set_accelerator_limit`)."""
        self._needs_container("set_accelerator_type")
        resources = self.settings.resources
        resources.accelerator_type = accelerator
        if resources.accelerator_count is None:
            resources.accelerator_count = "1"
        return self

    def set_accelerator_limit(self, limit: int | str) -> PipelineTask:
        """How many accelerators the task needs."""
        self._needs_container("set_accelerator_limit")
        text = str(limit)
        if isinstance(limit, bool) or not text.isdigit():
            raise CompileError(
                f"the accelerator limit must be a non-negative integer; got {limit!r}",
                component=self.component.name,
                location=caller_location(),
            )
        self.settings.resources.accelerator_count = text
        return self

    def set_env_variable(self, name: str, value: str) -> PipelineTask:
        """Set an environment variable in the task's container."""
        self._needs_container("set_env_variable")
        self.settings.env[name] = value
        return self

    def set_display_name(self, name: str) -> PipelineTask:
        """The name shown for the task."""
        self.settings.display_name = name
        return self

    def set_container_image(self, image: str) -> PipelineTask:
        """Run this task in `image` instead of the component's."""
        self._needs_container("set_container_image")
        self.settings.image = image
        return self

    def set_timeout(self, seconds: float) -> PipelineTask:
        """Stop the task after `seconds` (rounded up to whole seconds).

        The IR has no timeout field: the compiler writes it as Kubernetes'
        `activeDeadlineSeconds` of the task's executor in the platform spec, as
        `kfp.kubernetes.set_timeout` does, so KFP and Sluice both honour it.
        """
        self._needs_container("set_timeout")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise CompileError(
                f"the timeout must be a positive number of seconds; got {seconds!r}",
                component=self.component.name,
                location=caller_location(),
            )
        self.settings.timeout_seconds = math.ceil(seconds)
        return self

    def ignore_upstream_failure(self) -> PipelineTask:
        """Run this task even when the tasks it depends on fail (its inputs from them need defaults)."""
        for name, value in self.arguments.items():
            spec = self.component.interface.inputs[name]
            from_tasks = any(
                isinstance(channel.producer, PipelineTask) for channel in channels_in(value, self.graph)
            )
            if from_tasks and not (spec.optional and spec.default is not None):
                raise CompileError(
                    "a task that ignores upstream failures needs a default value for every input taken from "
                    "another task, in case that task fails",
                    component=self.component.name,
                    argument=name,
                    location=caller_location(),
                )
        self.settings.ignore_upstream_failure = True
        return self

    def _quantity(self, value: str, pattern: re.Pattern[str], what: str) -> str:
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            raise CompileError(
                f"expected {what}; got {value!r}", component=self.component.name, location=caller_location()
            )
        return value

    def __repr__(self) -> str:
        return f"<PipelineTask {self.name} ({self.component.name})>"

    def __bool__(self) -> bool:
        return True


def _type_known(channel: Channel) -> bool:
    """Whether a channel's parameter type is known (a loop over an untyped list is not)."""
    if isinstance(channel, LoopArgumentVariable):
        return channel.type_known
    if isinstance(channel, LoopArgument) and not channel.is_literal:
        items = channel.items
        return isinstance(items, ParameterChannel) and items.param_type.item is not None
    return not (
        isinstance(channel, ParameterChannel) and channel.param_type.kind is ParameterType.TASK_FINAL_STATUS
    )


def _uncommon(ancestors: list[TasksGroup], here: list[TasksGroup]) -> list[TasksGroup]:
    """The groups in `ancestors` (outermost first) that are not shared with `here`."""
    common = 0
    for mine, theirs in zip(ancestors, here, strict=False):
        if mine is not theirs:
            break
        common += 1
    return ancestors[common:]


def _duration_seconds(value: str, *, location: SourceLocation | None, component: str) -> int:
    match = _DURATION.fullmatch(value)
    if match is None or match.group(2)[0].lower() not in _SECONDS_PER_UNIT:
        raise CompileError(
            f"expected a duration such as '30s', '5m' or '1h'; got {value!r}",
            component=component,
            location=location,
        )
    return int(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)[0].lower()]


def duration_seconds(value: str) -> int:
    """Seconds in a duration such as `"30s"`, `"5 minutes"`, `"1h"` (KFP's rule: the unit's first letter)."""
    return _duration_seconds(value, location=None, component="")
