"""Graph checks of a converted pipeline: every reference resolves, types fit, no cycles.

`find_problems` lists every problem, each naming the DAG, task, component and input
concerned; `validate_pipeline` raises them as one `InvalidArgument`. The checks read only
the model, so they hold for any source of a `Pipeline` (the IR, Sluice's own SDK).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache

import celpy

from services.core.errors import InvalidArgument
from services.core.pipeline.model import (
    ArtifactIterator,
    Component,
    Constant,
    Dag,
    FromComponentInput,
    FromTaskFinalStatus,
    FromTaskOutput,
    ImporterExecutor,
    ParameterIterator,
    ParameterType,
    Pipeline,
    Task,
)
from services.core.pipeline.values import ParameterValueError, coerce_parameter, describe_value

# How many problems one error message lists before it only counts the rest.
MAX_LISTED_PROBLEMS = 20
# Task inputs the kfp compiler adds without declaring them in the component: a channel used
# inside a constant (`f"{param}"`) or a resource / image set from a pipeline parameter becomes
# an input `pipelinechannel--…`, and resources / image become inputs named after the setting.
KFP_INJECTED_PREFIX = "pipelinechannel--"
KFP_INJECTED_INPUTS = frozenset(
    {
        "cpu_limit",
        "cpu_request",
        "memory_limit",
        "memory_request",
        "accelerator_type",
        "accelerator_count",
        "base_image",
    }
)
_CONDITION_INPUT = re.compile(r"""inputs\.parameter_values\[\s*(['"])(.*?)\1\s*\]""")


def validate_pipeline(pipeline: Pipeline) -> None:
    """`InvalidArgument` listing every problem `find_problems` reports; nothing if none."""
    problems = find_problems(pipeline)
    if not problems:
        return
    if len(problems) == 1:
        raise InvalidArgument(f"invalid pipeline: {problems[0]}", field="pipeline_spec")
    listed = "; ".join(problems[:MAX_LISTED_PROBLEMS])
    more = len(problems) - MAX_LISTED_PROBLEMS
    suffix = f"; and {more} more" if more > 0 else ""
    raise InvalidArgument(
        f"invalid pipeline: {len(problems)} problems: {listed}{suffix}", field="pipeline_spec"
    )


def find_problems(pipeline: Pipeline) -> list[str]:
    """Every problem of the pipeline's graph, in a stable order (root first, then by name)."""
    problems: list[str] = []
    every = [pipeline.root, *(pipeline.components[name] for name in sorted(pipeline.components))]
    if pipeline.root.dag is None:
        problems.append("the pipeline root has no dag")
    for component in every:
        problems.extend(_component_problems(pipeline, component))
        if component.dag is not None:
            problems.extend(_dag_problems(pipeline, component, component.dag))
    problems.extend(_component_cycles(pipeline))
    for label in sorted(pipeline.platform):
        if label not in pipeline.executors:
            problems.append(
                f"the platform spec configures executor {label!r}, which deploymentSpec.executors does not "
                f"define ({_names(pipeline.executors)})"
            )
    return problems


# --- components ------------------------------------------------------------------------


def _component_problems(pipeline: Pipeline, component: Component) -> Iterator[str]:
    where = f"component {component.name!r}"
    if component.dag is None and component.executor is None:
        yield f"{where} has neither a dag nor an executorLabel"
    if component.dag is not None and component.executor is not None:
        yield f"{where} has both a dag and an executorLabel"
    if component.executor is not None:
        executor = pipeline.executors.get(component.executor)
        if executor is None:
            yield (
                f"{where} names executorLabel {component.executor!r}, which deploymentSpec.executors "
                f"does not define ({_names(pipeline.executors)})"
            )
        elif isinstance(executor, ImporterExecutor):
            source = executor.artifact_uri.source
            if isinstance(source, FromComponentInput) and source.name not in component.inputs.parameters:
                yield (
                    f"{where}: importer {component.executor!r} reads artifactUri from runtime parameter "
                    f"{source.name!r}, which the component does not declare "
                    f"({_names(component.inputs.parameters)})"
                )
    for name, spec in component.inputs.parameters.items():
        if spec.has_default:
            yield from _type_problem(f"{where}, input parameter {name!r}: default", spec.default, spec.type)


def _component_cycles(pipeline: Pipeline) -> Iterator[str]:
    graph = {
        name: sorted({task.component for task in component.dag.tasks.values()} & pipeline.components.keys())
        for name, component in pipeline.components.items()
        if component.dag is not None
    }
    for cycle in _cycles(graph):
        yield f"components contain themselves: {' -> '.join(cycle)}"


# --- DAGs -------------------------------------------------------------------------------


def _dag_problems(pipeline: Pipeline, owner: Component, dag: Dag) -> Iterator[str]:
    for name in sorted(dag.tasks):
        yield from _task_problems(pipeline, owner, dag, dag.tasks[name])
    yield from _dag_output_problems(pipeline, owner, dag)
    upstream = {name: sorted(_upstream(task) & dag.tasks.keys()) for name, task in dag.tasks.items()}
    downstream: dict[str, list[str]] = {name: [] for name in dag.tasks}
    for name, producers in upstream.items():
        for producer in producers:
            downstream[producer].append(name)
    for cycle in _cycles(downstream):
        yield f"DAG {owner.name!r}: dependency cycle {' -> '.join(cycle)}"


def _task_problems(pipeline: Pipeline, owner: Component, dag: Dag, task: Task) -> Iterator[str]:
    where = f"DAG {owner.name!r}, task {task.name!r}"
    component = pipeline.components.get(task.component)
    if component is None:
        yield (
            f"{where}: componentRef {task.component!r} names no component of the pipeline "
            f"({_names(pipeline.components)})"
        )
    for dependency in task.dependencies:
        if dependency not in dag.tasks:
            yield f"{where}: dependentTasks names unknown task {dependency!r} ({_names(dag.tasks)})"
    yield from _parameter_problems(pipeline, owner, dag, task, component)
    yield from _artifact_problems(pipeline, owner, dag, task, component)
    if component is not None:
        yield from _required_input_problems(task, component, where)
        yield from _iterator_problems(task, component, where)
    if task.parallelism < 0:
        yield f"{where}: iteratorPolicy.parallelismLimit is negative ({task.parallelism})"
    if task.retry is not None and task.retry.max_retry_count < 0:
        yield f"{where}: retryPolicy.maxRetryCount is negative ({task.retry.max_retry_count})"
    if task.condition is not None:
        yield from _cel_problems(f"{where}: triggerPolicy.condition", task.condition)
        for match in _CONDITION_INPUT.finditer(task.condition):
            if match.group(2) not in task.parameters:
                yield (
                    f"{where}: triggerPolicy.condition reads input parameter {match.group(2)!r}, "
                    f"which the task does not have ({_names(task.parameters)})"
                )


def _parameter_problems(
    pipeline: Pipeline, owner: Component, dag: Dag, task: Task, component: Component | None
) -> Iterator[str]:
    for name, parameter in task.parameters.items():
        where = f"DAG {owner.name!r}, task {task.name!r}, input parameter {name!r}"
        declared = component.inputs.parameters.get(name) if component is not None else None
        if component is not None and declared is None and not _kfp_injected(name):
            also = " (it is an artifact input)" if name in component.inputs.artifacts else ""
            yield (
                f"{where}: not declared by component {component.name!r}{also} "
                f"({_names(component.inputs.parameters)})"
            )
        source = parameter.source
        if isinstance(source, FromComponentInput):
            if source.name not in owner.inputs.parameters:
                yield (
                    f"{where}: componentInputParameter {source.name!r} is not an input parameter of "
                    f"the enclosing component {owner.name!r} ({_names(owner.inputs.parameters)})"
                )
        elif isinstance(source, FromTaskOutput):
            yield from _producer_problems(pipeline, dag, where, "taskOutputParameter", source, artifact=False)
        elif isinstance(source, FromTaskFinalStatus):
            if source.task not in dag.tasks:
                yield f"{where}: taskFinalStatus names unknown task {source.task!r} ({_names(dag.tasks)})"
            if declared is not None and declared.type is not ParameterType.TASK_FINAL_STATUS:
                yield (
                    f"{where}: taskFinalStatus feeds a {declared.type.value} parameter, "
                    "not a TASK_FINAL_STATUS one"
                )
        elif isinstance(source, Constant) and declared is not None:
            yield from _type_problem(f"{where}: constant", source.value, declared.type)
        if parameter.selector is not None:
            yield from _cel_problems(f"{where}: parameterExpressionSelector", parameter.selector)


def _artifact_problems(
    pipeline: Pipeline, owner: Component, dag: Dag, task: Task, component: Component | None
) -> Iterator[str]:
    for name, artifact in task.artifacts.items():
        where = f"DAG {owner.name!r}, task {task.name!r}, input artifact {name!r}"
        if component is not None and name not in component.inputs.artifacts:
            also = " (it is a parameter input)" if name in component.inputs.parameters else ""
            yield (
                f"{where}: not declared by component {component.name!r}{also} "
                f"({_names(component.inputs.artifacts)})"
            )
        source = artifact.source
        if isinstance(source, FromComponentInput):
            if source.name not in owner.inputs.artifacts:
                yield (
                    f"{where}: componentInputArtifact {source.name!r} is not an input artifact of "
                    f"the enclosing component {owner.name!r} ({_names(owner.inputs.artifacts)})"
                )
        else:
            yield from _producer_problems(pipeline, dag, where, "taskOutputArtifact", source, artifact=True)


def _producer_problems(
    pipeline: Pipeline, dag: Dag, where: str, what: str, source: FromTaskOutput, *, artifact: bool
) -> Iterator[str]:
    producer = dag.tasks.get(source.task)
    if producer is None:
        yield f"{where}: {what} names unknown producer task {source.task!r} ({_names(dag.tasks)})"
        return
    component = pipeline.components.get(producer.component)
    if component is None:
        return  # reported at the producer
    outputs = component.outputs.artifacts if artifact else component.outputs.parameters
    if source.key not in outputs:
        noun = "artifact" if artifact else "parameter"
        yield (
            f"{where}: {what} reads output {noun} {source.key!r} of task {source.task!r}, which its "
            f"component {component.name!r} does not declare ({_names(outputs)})"
        )


def _required_input_problems(task: Task, component: Component, where: str) -> Iterator[str]:
    item_input = task.iterator.item_input if task.iterator is not None else None
    for name, spec in component.inputs.parameters.items():
        if spec.optional or spec.has_default or name in task.parameters:
            continue
        if name == item_input and isinstance(task.iterator, ParameterIterator):
            continue
        yield f"{where}: required input parameter {name!r} of component {component.name!r} has no source"
    for name, artifact_spec in component.inputs.artifacts.items():
        if artifact_spec.optional or name in task.artifacts:
            continue
        if name == item_input and isinstance(task.iterator, ArtifactIterator):
            continue
        yield f"{where}: required input artifact {name!r} of component {component.name!r} has no source"


def _iterator_problems(task: Task, component: Component, where: str) -> Iterator[str]:
    iterator = task.iterator
    if iterator is None:
        return
    if isinstance(iterator, ParameterIterator):
        declared: Mapping[str, object] = component.inputs.parameters
        kind, noun = "parameterIterator", "parameter"
    else:
        declared = component.inputs.artifacts
        kind, noun = "artifactIterator", "artifact"
    if iterator.item_input not in declared:
        yield (
            f"{where}: {kind}.itemInput {iterator.item_input!r} is not an input {noun} of component "
            f"{component.name!r} ({_names(declared)})"
        )


def _dag_output_problems(pipeline: Pipeline, owner: Component, dag: Dag) -> Iterator[str]:
    outputs: list[tuple[str, str, tuple[FromTaskOutput, ...]]] = [
        ("parameter", name, output.sources) for name, output in sorted(dag.parameter_outputs.items())
    ]
    outputs += [("artifact", name, output.sources) for name, output in sorted(dag.artifact_outputs.items())]
    for noun, name, sources in outputs:
        where = f"DAG {owner.name!r}, output {noun} {name!r}"
        declared = owner.outputs.artifacts if noun == "artifact" else owner.outputs.parameters
        if name not in declared:
            yield f"{where}: not declared by component {owner.name!r} ({_names(declared)})"
        if not sources:
            yield f"{where}: no producer selected"
        for source in sources:
            yield from _producer_problems(
                pipeline, dag, where, "selector", source, artifact=noun == "artifact"
            )


def _type_problem(where: str, value: object, type_: ParameterType) -> Iterator[str]:
    try:
        coerce_parameter(value, type_)  # type: ignore[arg-type]
    except ParameterValueError as error:
        yield f"{where} {describe_value(error.value)} is not a valid {type_.value}: {error.reason}"


@lru_cache(maxsize=1024)
def _cel_error(expression: str) -> str | None:
    """Why `expression` does not parse as CEL, or None; cached, as pipelines repeat them."""
    try:
        celpy.Environment().compile(expression)
    except Exception as error:  # celpy's parse errors share no public base class
        return " ".join(str(error).split())
    return None


def _cel_problems(where: str, expression: str) -> Iterator[str]:
    detail = _cel_error(expression)
    if detail is not None:
        yield f"{where} is not a valid CEL expression: {expression!r} ({detail})"


# --- helpers ----------------------------------------------------------------------------


def _kfp_injected(name: str) -> bool:
    return name.startswith(KFP_INJECTED_PREFIX) or name in KFP_INJECTED_INPUTS


def _upstream(task: Task) -> set[str]:
    names = set(task.dependencies)
    for parameter in task.parameters.values():
        if isinstance(parameter.source, FromTaskOutput | FromTaskFinalStatus):
            names.add(parameter.source.task)
    for artifact in task.artifacts.values():
        if isinstance(artifact.source, FromTaskOutput):
            names.add(artifact.source.task)
    return names


def _cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The cycles a depth-first walk meets, each once, as a path `a, b, …, a` from its
    smallest name; iterative, so long chains cannot exhaust the recursion limit."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        state[start] = 1
        stack = [iter(sorted(graph.get(start, ())))]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(step) == 1:
                loop = path[path.index(step) :]
                if frozenset(loop) not in seen:
                    seen.add(frozenset(loop))
                    first = loop.index(min(loop))
                    rotated = loop[first:] + loop[:first]
                    found.append([*rotated, rotated[0]])
            elif step not in state:
                state[step] = 1
                path.append(step)
                stack.append(iter(sorted(graph.get(step, ()))))
    return found


def _names(mapping: Iterable[str]) -> str:
    """The names a reference could have used, for the parenthesis of a message."""
    names = sorted(mapping)
    if not names:
        return "there are none"
    shown = ", ".join(repr(name) for name in names[:10])
    return "known: " + shown + (", ..." if len(names) > 10 else "")
