"""Control flow: `ParallelFor`, `If`/`Elif`/`Else`, `ExitHandler`; each is a group of tasks (a sub-DAG).

Groups are numbered in the order they are entered, as KFP numbers them (`for-loop-2`,
`condition-3`…); an `If` followed by `Elif`/`Else` is wrapped in a `condition-branches-N`
group, which is what a `OneOf` of their outputs comes from.
"""

from __future__ import annotations

import enum
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sluice.dsl.channels import (
    LOOP_ITEM,
    ArtifactChannel,
    Channel,
    ConditionOperation,
    LoopArgument,
    LoopArgumentVariable,
    LoopArtifactArgument,
    ParameterChannel,
)
from sluice.dsl.errors import CompileError, SourceLocation, caller_location
from sluice.dsl.types import ParameterType, ParamType, parameter_type_of_constant, to_json

if TYPE_CHECKING:
    from sluice.dsl.graph import PipelineGraph
    from sluice.dsl.tasks import PipelineTask


class GroupKind(enum.Enum):
    """The kinds of groups; the value prefixes the group's name."""

    PIPELINE = "pipeline"
    FOR_LOOP = "for-loop"
    CONDITION = "condition"
    CONDITION_BRANCHES = "condition-branches"
    EXIT_HANDLER = "exit-handler"


class TasksGroup:
    """A group of tasks and groups: the pipeline itself or a control-flow block."""

    def __init__(
        self,
        kind: GroupKind,
        *,
        graph: PipelineGraph | None = None,
        name: str | None = None,
        display_name: str | None = None,
    ) -> None:
        if graph is None:
            graph = _graph_or_fail(kind)
        self.kind = kind
        self.graph = graph
        self.name = name or ""
        """`for-loop-2` and the like, set when the block is entered."""
        self.display_name = display_name
        """The name shown for the block (`taskInfo.name`), when given."""
        self.tasks: list[PipelineTask] = []
        self.groups: list[TasksGroup] = []
        self.parent: TasksGroup | None = None
        self.location: SourceLocation | None = caller_location()

    def _number(self) -> None:
        self.name = f"{self.kind.value}-{self.graph.next_group_id()}"

    def _push(self) -> None:
        parent = self.graph.current_group
        if self.parent is None:
            self.parent = parent
            parent.groups.append(self)
        self.graph.stack.append(self)

    def _pop(self) -> None:
        popped = self.graph.stack.pop()
        assert popped is self, f"{popped.name} closed out of order"

    def __enter__(self) -> Any:
        if self.graph is not _current():
            raise CompileError(
                f"a {self.kind.value} block belongs inside its own pipeline", location=self.location
            )
        self._number()
        self._push()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._pop()

    def ancestors(self) -> list[TasksGroup]:
        """The groups around this one, outermost first, this one last."""
        chain: list[TasksGroup] = []
        group: TasksGroup | None = self
        while group is not None:
            chain.append(group)
            group = group.parent
        return chain[::-1]

    def kind_description(self) -> str:
        return _DESCRIPTIONS[self.kind]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


_DESCRIPTIONS = {
    GroupKind.PIPELINE: "the pipeline",
    GroupKind.FOR_LOOP: "dsl.ParallelFor",
    GroupKind.CONDITION: "dsl.If",
    GroupKind.CONDITION_BRANCHES: "dsl.If/Elif/Else",
    GroupKind.EXIT_HANDLER: "dsl.ExitHandler",
}


def _current() -> PipelineGraph | None:
    from sluice.dsl.graph import current_graph

    return current_graph()


def _graph_or_fail(kind: GroupKind) -> PipelineGraph:
    graph = _current()
    if graph is None:
        raise CompileError(
            f"{_DESCRIPTIONS[kind]} can only be used inside a @pipeline function", location=caller_location()
        )
    return graph


class ParallelFor(TasksGroup):
    """Run the tasks in the block once per item: `with dsl.ParallelFor(items, parallelism=2) as item:`.

    `items` is a list written in the pipeline, a LIST pipeline input or task output, or a list
    of artifacts (`dsl.Collected`/`Input[List[...]]`). `parallelism` caps how many iterations
    run at once (0: no cap). For dict items, `item.field` is one field.
    """

    def __init__(self, items: Any, parallelism: int | None = None, name: str | None = None) -> None:
        super().__init__(GroupKind.FOR_LOOP, display_name=name)
        parallelism = parallelism or 0
        if not isinstance(parallelism, int) or parallelism < 0:
            raise CompileError(
                f"parallelism must be an int >= 0; got {parallelism!r}", location=self.location
            )
        self.parallelism = parallelism
        self.loop_argument: LoopArgument | LoopArtifactArgument
        if isinstance(items, ArtifactChannel):
            if not items.is_list:
                raise CompileError(
                    f"dsl.ParallelFor needs a list; got {items.describe()}", location=self.location
                )
            self.loop_argument = LoopArtifactArgument(f"{items.name}-{LOOP_ITEM}", loop=self, items=items)
        elif isinstance(items, ParameterChannel):
            if items.param_type.kind is not ParameterType.LIST and not isinstance(
                items, LoopArgumentVariable
            ):
                raise CompileError(
                    f"dsl.ParallelFor needs a list; got {items.describe()}", location=self.location
                )
            item = items.param_type.item if items.param_type.kind is ParameterType.LIST else None
            self.loop_argument = LoopArgument(
                f"{items.name}-{LOOP_ITEM}", item or ParamType(ParameterType.STRING), loop=self, items=items
            )
        elif isinstance(items, Channel):
            raise CompileError(f"dsl.ParallelFor cannot loop over {items.describe()}", location=self.location)
        elif isinstance(items, (list, tuple)) and items:
            try:
                raw = to_json(list(items))
            except TypeError as error:
                raise CompileError(f"dsl.ParallelFor items: {error}", location=self.location) from None
            assert isinstance(raw, list)
            item_type = parameter_type_of_constant(raw[0]) or ParamType(ParameterType.STRING)
            # KFP numbers the loop item before the loop itself.
            name = f"{LOOP_ITEM}-param-{self.graph.next_group_id()}"
            self.loop_argument = LoopArgument(name, item_type, loop=self, items=raw)
        else:
            raise CompileError(
                f"dsl.ParallelFor needs a non-empty list or a list-valued pipeline value; got {items!r}",
                location=self.location,
            )

    def __enter__(self) -> Any:
        super().__enter__()
        return self.loop_argument


class _ConditionGroup(TasksGroup):
    """`If`/`Elif`/`Else`: run the block when all `conditions` hold."""

    def __init__(self, conditions: list[ConditionOperation], name: str | None) -> None:
        super().__init__(GroupKind.CONDITION, display_name=name)
        self.conditions = conditions
        self.negated_so_far: list[ConditionOperation] = []
        """The conditions a following Elif/Else requires to be false."""


def _check_condition(condition: Any, what: str) -> ConditionOperation:
    if isinstance(condition, ConditionOperation):
        return condition
    if isinstance(condition, ParameterChannel) and condition.param_type.kind is ParameterType.BOOLEAN:
        return ConditionOperation("==", condition, True)
    raise CompileError(
        f"{what} needs a comparison involving a pipeline value (such as `task.output == 'x'`); "
        f"got {condition!r}, which was decided when the pipeline was defined",
        location=caller_location(),
    )


class If(_ConditionGroup):
    """Run the block only when `condition` holds: `with dsl.If(task.output == "heads"):`."""

    def __init__(self, condition: Any, name: str | None = None) -> None:
        operation = _check_condition(condition, "dsl.If")
        super().__init__([operation], name)
        self.negated_so_far = [operation.negated()]


Condition = If
"""KFP's older name for `If`."""


class ConditionBranches(TasksGroup):
    """The group holding an `If` and its `Elif`s and `Else`; the producer of their `OneOf`s."""

    def __init__(self, graph: PipelineGraph) -> None:
        super().__init__(GroupKind.CONDITION_BRANCHES, graph=graph)
        self._oneofs = 0
        self.closed = False
        """Whether an `Else` ended the branches."""

    def next_oneof_id(self) -> int:
        self._oneofs += 1
        return self._oneofs


class _Branch(_ConditionGroup):
    """`Elif`/`Else`: joins the `If` before it in a `ConditionBranches` group."""

    _what = "dsl.Elif"

    def _previous(self) -> _ConditionGroup | ConditionBranches:
        siblings = self.graph.current_group.groups
        previous = siblings[-1] if siblings else None
        if isinstance(previous, ConditionBranches) and not previous.closed:
            return previous
        if isinstance(previous, If):
            return previous
        raise CompileError(f"{self._what} must follow a dsl.If or dsl.Elif block", location=self.location)

    def _previous_negations(self) -> list[ConditionOperation]:
        previous = self._previous()
        last = previous.groups[-1] if isinstance(previous, ConditionBranches) else previous
        assert isinstance(last, _ConditionGroup)
        return list(last.negated_so_far)

    def __enter__(self) -> Any:
        previous = self._previous()
        if isinstance(previous, ConditionBranches):
            branches = previous
            branches._push()
        else:
            branches = ConditionBranches(self.graph)
            branches._number()
            # KFP keeps the numbering in source order: the wrapper takes the If's number.
            branches.name, previous.name = (
                f"{GroupKind.CONDITION_BRANCHES.value}-{previous.name.rsplit('-', 1)[1]}",
                f"{GroupKind.CONDITION.value}-{branches.name.rsplit('-', 1)[1]}",
            )
            parent = self.graph.current_group
            parent.groups.remove(previous)
            branches._push()
            previous.parent = branches
            branches.groups.append(previous)
        super().__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, traceback)
        branches = self.graph.current_group
        assert isinstance(branches, ConditionBranches)
        branches._pop()


class Elif(_Branch):
    """Run the block when `condition` holds and the `If`/`Elif`s before it did not."""

    def __init__(self, condition: Any, name: str | None = None) -> None:
        operation = _check_condition(condition, "dsl.Elif")
        graph = _graph_or_fail(GroupKind.CONDITION)
        self.graph = graph
        self.location = caller_location()
        negations = self._previous_negations()
        super().__init__([*negations, operation], name)
        self.negated_so_far = [*negations, operation.negated()]


class Else(_Branch):
    """Run the block when none of the `If`/`Elif`s before it did."""

    _what = "dsl.Else"

    def __init__(self, name: str | None = None) -> None:
        graph = _graph_or_fail(GroupKind.CONDITION)
        self.graph = graph
        self.location = caller_location()
        negations = self._previous_negations()
        super().__init__(negations, name)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        branches = self.parent
        assert isinstance(branches, ConditionBranches)
        branches.closed = True
        super().__exit__(exc_type, exc, traceback)


class ExitHandler(TasksGroup):
    """Run `exit_task` after the tasks in the block, whether they succeeded or failed.

    The exit task is created before the block, at the top level of the pipeline, without
    inputs from other tasks; it may take a `PipelineTaskFinalStatus` argument to learn how
    the block ended.
    """

    def __init__(self, exit_task: PipelineTask, name: str | None = None) -> None:
        super().__init__(GroupKind.EXIT_HANDLER, display_name=name)
        from sluice.dsl.tasks import PipelineTask

        if not isinstance(exit_task, PipelineTask):
            raise CompileError(f"dsl.ExitHandler takes a task; got {exit_task!r}", location=self.location)
        if exit_task.graph is not self.graph:
            raise CompileError("the exit task belongs to another pipeline", location=self.location)
        if self.graph.current_group is not self.graph.root or exit_task.parent is not self.graph.root:
            raise CompileError(
                "dsl.ExitHandler and its exit task must be at the top level of the pipeline",
                location=self.location,
            )
        if exit_task.upstream_tasks():
            raise CompileError(
                f"the exit task {exit_task.name!r} cannot depend on other tasks", location=self.location
            )
        self.exit_task = exit_task
        self.graph.root.tasks.remove(exit_task)
        exit_task.exit_handler = self


def oneof_branches(channels: list[Channel], *, location: SourceLocation | None) -> ConditionBranches:
    """The `ConditionBranches` group whose branches produce `channels`, one per branch ending in an Else."""
    from sluice.dsl.tasks import PipelineTask

    branches: ConditionBranches | None = None
    used: list[TasksGroup] = []
    for channel in channels:
        producer = channel.producer
        if not isinstance(producer, PipelineTask):
            raise CompileError(f"dsl.OneOf takes task outputs; got {channel.describe()}", location=location)
        branch = producer.parent
        parent = branch.parent if branch is not None else None
        if not isinstance(branch, _ConditionGroup) or not isinstance(parent, ConditionBranches):
            raise CompileError(
                f"dsl.OneOf takes outputs of tasks directly inside dsl.If/Elif/Else branches; "
                f"{producer.name!r} is not",
                location=location,
            )
        if branches is not None and parent is not branches:
            raise CompileError(
                "dsl.OneOf outputs must come from the same dsl.If/Elif/Else", location=location
            )
        if any(branch is other for other in used):
            raise CompileError("dsl.OneOf takes one output per branch", location=location)
        branches = parent
        used.append(branch)
    assert branches is not None
    if not isinstance(branches.groups[-1], Else) or not branches.closed:
        raise CompileError(
            "dsl.OneOf needs the branches to end with a dsl.Else, so that one of them always runs",
            location=location,
        )
    return branches
