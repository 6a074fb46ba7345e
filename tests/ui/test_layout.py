"""The layered layout and the graph drawn from a compiled KFP pipeline (no browser)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.gateway.ui.graph.layout import (
    Box,
    Placed,
    count_crossings,
    layered_layout,
    longest_path_layers,
)
from services.gateway.ui.graph.model import MAX_DRAWN_ITERATIONS, NodeKind, TaskView, build_graph, iter_nodes
from services.gateway.ui.graph.svg import default_collapsed, render_svg
from tests.ui.pipelines import compile_ui_demo


def boxes(*keys: str) -> list[Box]:
    return [Box(key, 100, 40) for key in keys]


def overlaps(a: Placed, b: Placed) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def test_layers_follow_the_longest_path_from_the_sources() -> None:
    edges = [("a", "b"), ("b", "c"), ("a", "c"), ("d", "c")]
    assert longest_path_layers(["a", "b", "c", "d"], edges) == {"a": 0, "b": 1, "c": 2, "d": 0}


def test_a_cycle_does_not_loop_forever() -> None:
    layers = longest_path_layers(["a", "b"], [("a", "b"), ("b", "a")])
    assert set(layers) == {"a", "b"}


def test_every_edge_points_down_and_no_boxes_overlap() -> None:
    keys = [f"n{i}" for i in range(8)]
    edges = [("n0", "n2"), ("n1", "n2"), ("n2", "n3"), ("n0", "n4"), ("n4", "n5"), ("n1", "n6"), ("n0", "n7")]
    layout = layered_layout(boxes(*keys), edges)
    for source, target in edges:
        assert layout.boxes[target].y > layout.boxes[source].y
        points = layout.edges[(source, target)]
        assert points[0].y == layout.boxes[source].y + 40
        assert points[-1].y == layout.boxes[target].y
    for a, b in itertools.combinations(layout.boxes.values(), 2):
        assert not overlaps(a, b)
    assert layout.width >= max(b.x + b.width for b in layout.boxes.values())


def test_long_edges_route_through_the_layers_they_cross() -> None:
    layout = layered_layout(boxes("a", "b", "c"), [("a", "b"), ("b", "c"), ("a", "c")])
    assert len(layout.edges[("a", "c")]) == 3  # start, one bend in b's layer, end
    assert len(layout.edges[("a", "b")]) == 2


def test_barycenter_ordering_removes_avoidable_crossings() -> None:
    # Given in an order that crosses: a→y, b→x with x before y.
    keys = ["a", "b", "x", "y"]
    edges = [("a", "y"), ("b", "x")]
    assert count_crossings(["a", "b"], ["x", "y"], edges) == 1
    layout = layered_layout(boxes(*keys), edges)
    upper, lower = layout.layers
    assert count_crossings(upper, lower, edges) == 0


def test_unknown_and_duplicate_edges_are_ignored() -> None:
    layout = layered_layout(boxes("a", "b"), [("a", "b"), ("a", "b"), ("a", "zz"), ("a", "a")])
    assert list(layout.edges) == [("a", "b")]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path: Path = compile_ui_demo(tmp_path_factory.mktemp("spec"))
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def test_a_version_graph_has_the_tasks_the_loop_and_their_edges(spec: dict[str, Any]) -> None:
    root = build_graph(spec)
    by_label = {node.label: node for node in iter_nodes(root)}
    assert {"prepare", "evaluate", "for-loop-2", "shard"} <= set(by_label)
    loop = by_label["for-loop-2"]
    assert loop.kind is NodeKind.LOOP
    assert loop.iterations == 2  # literal items [1, 2]
    edges = {(a, b) for a, b in root.edges}
    assert (by_label["prepare"].key, by_label["evaluate"].key) in edges
    assert (by_label["prepare"].key, loop.key) in edges
    svg = render_svg(root, static=True)
    assert "data-task-id" not in svg  # nothing ran: nothing to click or update
    assert "2 iterations" in svg
    assert ">python:3.11<" in svg
    assert "Not started" not in svg


def _task(task_id: str, parent: str, name: str, kind: str, state: str, cached: bool = False) -> TaskView:
    return TaskView(
        task_id=task_id,
        parent_task_id=parent,
        task_name=name,
        display_name=name,
        kind=kind,
        state=state,
        cached=cached,
    )


def test_a_run_graph_carries_task_ids_states_and_one_group_per_iteration(spec: dict[str, Any]) -> None:
    tasks = [
        _task("root", "", "root", "DAG", "RUNNING"),
        _task("prep", "root", "prepare", "CONTAINER", "SUCCEEDED"),
        _task("loop", "root", "for-loop-2", "LOOP", "RUNNING"),
        _task("it0", "loop", "0", "ITERATION", "SUCCEEDED"),
        _task("it1", "loop", "1", "ITERATION", "RUNNING"),
        _task("s0", "it0", "shard", "CONTAINER", "SUCCEEDED", cached=True),
        _task("s1", "it1", "shard", "CONTAINER", "RUNNING"),
    ]
    root = build_graph(spec, tasks)
    loop = next(n for n in iter_nodes(root) if n.kind is NodeKind.LOOP)
    assert [child.task_id for child in loop.children] == ["it0", "it1"]
    assert [child.children[0].task_id for child in loop.children] == ["s0", "s1"]
    svg = render_svg(root)
    assert 'data-task-id="prep"' in svg
    assert "state-succeeded" in svg
    assert "state-running" in svg
    assert "state-cached" in svg
    assert ">Succeeded<" in svg
    assert ">Running<" in svg
    assert ">Cached<" in svg
    evaluate = next(n for n in iter_nodes(root) if n.label == "evaluate")
    assert evaluate.task_id == ""
    assert evaluate.state == ""
    assert ">Not started<" in svg


def test_groups_fold_and_many_iterations_are_counted_not_drawn(spec: dict[str, Any]) -> None:
    count = MAX_DRAWN_ITERATIONS + 5
    tasks = [
        _task("root", "", "root", "DAG", "RUNNING"),
        _task("loop", "root", "for-loop-2", "LOOP", "RUNNING"),
    ]
    for i in range(count):
        tasks.append(_task(f"it{i}", "loop", str(i), "ITERATION", "SUCCEEDED"))
        tasks.append(_task(f"s{i}", f"it{i}", "shard", "CONTAINER", "SUCCEEDED"))
    root = build_graph(spec, tasks)
    loop = next(n for n in iter_nodes(root) if n.kind is NodeKind.LOOP)
    assert loop.iterations == count
    assert len(loop.children) == MAX_DRAWN_ITERATIONS
    assert loop.hidden_children == 5
    assert default_collapsed(root) == {"loop"}
    folded = render_svg(root, collapsed={"loop"})
    assert 'data-toggle="loop"' in folded
    assert 'aria-expanded="false"' in folded
    assert 'data-task-id="s0"' not in folded
    unfolded = render_svg(root, collapsed=set())
    assert 'data-task-id="s0"' in unfolded
    assert 'aria-expanded="true"' in unfolded


def test_labels_are_escaped() -> None:
    spec = {
        "root": {
            "dag": {"tasks": {"<b>x</b>": {"taskInfo": {"name": "<b>x</b>"}, "componentRef": {"name": "c"}}}}
        }
    }
    svg = render_svg(build_graph(spec))
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg
