"""The graph a page draws: a pipeline's DAG from its spec, with a run's tasks laid over it.

Groups (sub-DAGs, conditions, exit handlers, loops and their iterations) hold their own
nodes and edges. A node that a run has reached carries its runtime task id and state; a
node the run has not reached yet is keyed by its place in the spec. Built from plain data
(the IR as a dict and `TaskView`s): the routes convert protobuf at the edge.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NodeKind(StrEnum):
    TASK = "task"
    IMPORTER = "importer"
    DAG = "dag"
    CONDITION = "condition"
    EXIT_HANDLER = "exit-handler"
    LOOP = "loop"
    ITERATION = "iteration"

    @property
    def is_group(self) -> bool:
        return self not in (NodeKind.TASK, NodeKind.IMPORTER)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskView:
    """What the graph needs of a runtime task (`PipelineTaskDetail`)."""

    task_id: str
    parent_task_id: str
    task_name: str
    display_name: str
    kind: str
    state: str
    cached: bool = False


@dataclass(slots=True, kw_only=True)
class Node:
    key: str
    """Unique in the graph and safe in an HTML id: the task id, or ``s-<hash>`` of its spec path."""
    label: str
    kind: NodeKind
    task_id: str = ""
    state: str = ""
    """A RuntimeState name, or "" for a task not started (or a pipeline version's graph)."""
    cached: bool = False
    detail: str = ""
    """A second line: the component, the loop's items, the condition."""
    iterations: int | None = None
    """For a loop: how many iterations (known from the run, or from literal items)."""
    children: list[Node] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    """Between ``children``' keys, producer first."""
    hidden_children: int = 0
    """Children not drawn (iterations past the limit)."""


MAX_DRAWN_ITERATIONS = 12
"""Iterations of one loop drawn at most; the rest are counted in its header."""


def _spec_key(path: str) -> str:
    return "s-" + hashlib.sha1(path.encode(), usedforsecurity=False).hexdigest()[:12]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _producers(task_spec: Mapping[str, Any]) -> list[str]:
    """Tasks this task depends on: `dependentTasks` and the producers of its inputs."""
    names = [str(n) for n in task_spec.get("dependentTasks", []) or []]
    inputs = _as_dict(task_spec.get("inputs"))
    for parameter in _as_dict(inputs.get("parameters")).values():
        producer = _as_dict(_as_dict(parameter).get("taskOutputParameter")).get("producerTask")
        if producer:
            names.append(str(producer))
        final = _as_dict(_as_dict(parameter).get("taskFinalStatus")).get("producerTask")
        if final:
            names.append(str(final))
    for artifact in _as_dict(inputs.get("artifacts")).values():
        producer = _as_dict(_as_dict(artifact).get("taskOutputArtifact")).get("producerTask")
        if producer:
            names.append(str(producer))
    return list(dict.fromkeys(names))


def _literal_items(task_spec: Mapping[str, Any]) -> int | None:
    items = _as_dict(_as_dict(task_spec.get("parameterIterator")).get("items"))
    raw = items.get("raw")
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return None
        return len(parsed) if isinstance(parsed, list) else None
    return None


def _group_kind(name: str, task_spec: Mapping[str, Any]) -> NodeKind:
    if "parameterIterator" in task_spec or "artifactIterator" in task_spec:
        return NodeKind.LOOP
    if name.startswith("exit-handler"):
        return NodeKind.EXIT_HANDLER
    if name.startswith("condition") or "condition" in _as_dict(task_spec.get("triggerPolicy")):
        return NodeKind.CONDITION
    return NodeKind.DAG


class _Builder:
    def __init__(self, spec: Mapping[str, Any], tasks: Sequence[TaskView]) -> None:
        self.components = _as_dict(spec.get("components"))
        self.executors = _as_dict(_as_dict(spec.get("deploymentSpec")).get("executors"))
        self.children: defaultdict[str, list[TaskView]] = defaultdict(list)
        for task in tasks:
            self.children[task.parent_task_id].append(task)

    def runtime_child(self, parent_id: str, name: str) -> TaskView | None:
        if not parent_id:
            return None
        for task in self.children[parent_id]:
            if task.task_name == name:
                return task
        return None

    def dag(
        self, dag_spec: Mapping[str, Any], *, runtime_parent: str, path: str
    ) -> tuple[list[Node], list[tuple[str, str]]]:
        tasks = _as_dict(dag_spec.get("tasks"))
        nodes: list[Node] = []
        key_of: dict[str, str] = {}
        for name, raw in tasks.items():
            node = self.task(str(name), _as_dict(raw), runtime_parent=runtime_parent, path=f"{path}/{name}")
            key_of[str(name)] = node.key
            nodes.append(node)
        edges = [
            (key_of[producer], key_of[str(name)])
            for name, raw in tasks.items()
            for producer in _producers(_as_dict(raw))
            if producer in key_of
        ]
        # Tasks the run has that the spec does not name (should not happen) still show.
        for extra in self.children[runtime_parent] if runtime_parent else ():
            if extra.task_name not in key_of and extra.kind != "ITERATION":
                nodes.append(self.runtime_only(extra))
        return nodes, edges

    def runtime_only(self, task: TaskView) -> Node:
        node = Node(
            key=task.task_id,
            label=task.display_name or task.task_name,
            kind=NodeKind.TASK,
            task_id=task.task_id,
            state=task.state,
            cached=task.cached,
        )
        for child in self.children[task.task_id]:
            node.kind = NodeKind.DAG
            node.children.append(self.runtime_only(child))
        return node

    def task(self, name: str, task_spec: Mapping[str, Any], *, runtime_parent: str, path: str) -> Node:
        runtime = self.runtime_child(runtime_parent, name)
        component_name = str(_as_dict(task_spec.get("componentRef")).get("name", ""))
        component = _as_dict(self.components.get(component_name))
        label = str(_as_dict(task_spec.get("taskInfo")).get("name") or name)
        node = Node(
            key=runtime.task_id if runtime else _spec_key(path),
            label=label,
            kind=NodeKind.TASK,
            task_id=runtime.task_id if runtime else "",
            state=runtime.state if runtime else "",
            cached=runtime.cached if runtime else False,
        )
        if "dag" not in component:
            executor = _as_dict(self.executors.get(str(component.get("executorLabel", ""))))
            if "importer" in executor:
                node.kind = NodeKind.IMPORTER
                node.detail = "importer"
            else:
                node.detail = str(_as_dict(executor.get("container")).get("image", ""))
            return node
        node.kind = _group_kind(name, task_spec)
        dag_spec = _as_dict(component.get("dag"))
        if node.kind is NodeKind.LOOP:
            self.loop(node, dag_spec, task_spec=task_spec, path=path)
        else:
            condition = _as_dict(task_spec.get("triggerPolicy")).get("condition")
            node.detail = str(condition) if condition else ""
            node.children, node.edges = self.dag(dag_spec, runtime_parent=node.task_id, path=path)
        return node

    def loop(
        self, node: Node, dag_spec: Mapping[str, Any], *, task_spec: Mapping[str, Any], path: str
    ) -> None:
        iterations = sorted(
            (t for t in self.children[node.task_id] if t.kind == "ITERATION") if node.task_id else (),
            key=lambda t: (int(t.task_name) if t.task_name.isdigit() else 0, t.task_name),
        )
        limit = _as_dict(task_spec.get("iteratorPolicy")).get("parallelismLimit")
        node.detail = f"parallelism {limit}" if limit else "ParallelFor"
        if not iterations:
            # Not started: the body once, as a template of every iteration.
            node.iterations = _literal_items(task_spec)
            node.children, node.edges = self.dag(dag_spec, runtime_parent="", path=f"{path}/*")
            return
        node.iterations = len(iterations)
        for iteration in iterations[:MAX_DRAWN_ITERATIONS]:
            child = Node(
                key=iteration.task_id,
                label=f"#{iteration.task_name}",
                kind=NodeKind.ITERATION,
                task_id=iteration.task_id,
                state=iteration.state,
            )
            child.children, child.edges = self.dag(
                dag_spec, runtime_parent=iteration.task_id, path=f"{path}/{iteration.task_name}"
            )
            node.children.append(child)
        node.hidden_children = max(len(iterations) - MAX_DRAWN_ITERATIONS, 0)


def build_graph(spec: Mapping[str, Any], tasks: Sequence[TaskView] = ()) -> Node:
    """The root DAG of ``spec`` (a PipelineSpec dict), with ``tasks`` of a run laid over it."""
    builder = _Builder(spec, tasks)
    roots = [t for t in tasks if not t.parent_task_id]
    root_task = roots[0] if roots else None
    root = Node(
        key=root_task.task_id if root_task else "s-root",
        label=str(_as_dict(spec.get("pipelineInfo")).get("name") or "pipeline"),
        kind=NodeKind.DAG,
        task_id=root_task.task_id if root_task else "",
        state=root_task.state if root_task else "",
    )
    dag_spec = _as_dict(_as_dict(spec.get("root")).get("dag"))
    if dag_spec:
        root.children, root.edges = builder.dag(dag_spec, runtime_parent=root.task_id, path="")
    elif root_task is not None:
        root.children = [builder.runtime_only(t) for t in builder.children[root_task.task_id]]
    return root


def iter_nodes(node: Node) -> list[Node]:
    """``node`` and everything under it, depth first."""
    found = [node]
    for child in node.children:
        found.extend(iter_nodes(child))
    return found
