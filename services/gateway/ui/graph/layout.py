"""A layered (Sugiyama-style) layout of one DAG of boxes, top to bottom.

Layers come from the longest path from the sources; edges that span several layers get
dummy points so they route around the boxes in between; each layer is ordered by a few
barycenter sweeps (down, then up), keeping the order with the fewest crossings; then
boxes are placed under the middle of their predecessors where there is room. Pure code:
no I/O, no SVG.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_SWEEPS = 4
_DUMMY_WIDTH = 8.0


@dataclass(frozen=True, slots=True)
class Box:
    key: str
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Placed:
    """A box's top-left corner."""

    x: float
    y: float
    width: float
    height: float

    @property
    def center_x(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True, slots=True)
class Layout:
    boxes: Mapping[str, Placed]
    edges: Mapping[tuple[str, str], tuple[Point, ...]]
    """Each edge as points from the bottom of its source to the top of its target."""
    width: float
    height: float
    layers: tuple[tuple[str, ...], ...]
    """Box keys per layer, in their final order (dummies left out)."""


def longest_path_layers(keys: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Layer of each key: 0 for sources, else one more than its deepest predecessor.

    Edges that would close a cycle are ignored (a DAG has none; this keeps a bad input from
    looping forever).
    """
    preds: defaultdict[str, list[str]] = defaultdict(list)
    for source, target in edges:
        preds[target].append(source)
    layer: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(key: str) -> int:
        if key in layer:
            return layer[key]
        visiting.add(key)
        value = 0
        for pred in preds[key]:
            if pred not in visiting:
                value = max(value, depth(pred) + 1)
        visiting.discard(key)
        layer[key] = value
        return value

    for key in keys:
        depth(key)
    return layer


def count_crossings(upper: Sequence[str], lower: Sequence[str], edges: Sequence[tuple[str, str]]) -> int:
    """Crossings between two adjacent layers for the edges that join them."""
    up = {key: i for i, key in enumerate(upper)}
    down = {key: i for i, key in enumerate(lower)}
    pairs = sorted((up[s], down[t]) for s, t in edges if s in up and t in down)
    crossings = 0
    for i, (a_up, a_down) in enumerate(pairs):
        for b_up, b_down in pairs[i + 1 :]:
            if b_up > a_up and b_down < a_down:
                crossings += 1
    return crossings


def _total_crossings(layers: list[list[str]], edges: Sequence[tuple[str, str]]) -> int:
    return sum(count_crossings(layers[i], layers[i + 1], edges) for i in range(len(layers) - 1))


def _barycenter_order(
    layer: list[str], neighbours: Mapping[str, list[str]], position: Mapping[str, int]
) -> list[str]:
    def key(item: tuple[int, str]) -> tuple[float, int]:
        index, node = item
        around = [position[n] for n in neighbours.get(node, ()) if n in position]
        # A box without neighbours in the fixed layer keeps its place.
        return (sum(around) / len(around) if around else float(index), index)

    return [node for _, node in sorted(enumerate(layer), key=key)]


def _order_layers(layers: list[list[str]], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    preds: defaultdict[str, list[str]] = defaultdict(list)
    succs: defaultdict[str, list[str]] = defaultdict(list)
    for source, target in edges:
        preds[target].append(source)
        succs[source].append(target)
    best = [list(layer) for layer in layers]
    best_crossings = _total_crossings(best, edges)
    current = [list(layer) for layer in layers]
    for _ in range(_SWEEPS):
        if best_crossings == 0:
            break
        for i in range(1, len(current)):
            position = {key: j for j, key in enumerate(current[i - 1])}
            current[i] = _barycenter_order(current[i], preds, position)
        for i in range(len(current) - 2, -1, -1):
            position = {key: j for j, key in enumerate(current[i + 1])}
            current[i] = _barycenter_order(current[i], succs, position)
        crossings = _total_crossings(current, edges)
        if crossings < best_crossings:
            best, best_crossings = [list(layer) for layer in current], crossings
    return best


def layered_layout(
    boxes: Sequence[Box],
    edges: Sequence[tuple[str, str]],
    *,
    h_gap: float = 24.0,
    v_gap: float = 40.0,
) -> Layout:
    """Place ``boxes`` in layers so every edge points down. Edges naming unknown boxes
    and duplicate edges are ignored."""
    sizes = {box.key: box for box in boxes}
    keys = [box.key for box in boxes]
    unique_edges = list(dict.fromkeys((s, t) for s, t in edges if s in sizes and t in sizes and s != t))
    layer_of = longest_path_layers(keys, unique_edges)
    forward = [(s, t) for s, t in unique_edges if layer_of[t] > layer_of[s]]

    # Long edges become chains through one dummy per layer crossed.
    chains: dict[tuple[str, str], list[str]] = {}
    short_edges: list[tuple[str, str]] = []
    widths = {key: sizes[key].width for key in keys}
    for source, target in forward:
        chain = [source]
        for layer in range(layer_of[source] + 1, layer_of[target]):
            dummy = f"\x00{source}\x00{target}\x00{layer}"
            layer_of[dummy] = layer
            widths[dummy] = _DUMMY_WIDTH
            chain.append(dummy)
        chain.append(target)
        chains[(source, target)] = chain
        short_edges.extend(itertools.pairwise(chain))

    depth = max(layer_of.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(depth)]
    for key in (*keys, *(k for k in layer_of if k not in sizes)):
        layers[layer_of[key]].append(key)
    layers = _order_layers(layers, short_edges)

    heights = [max((sizes[k].height for k in layer if k in sizes), default=0.0) for layer in layers]
    tops: list[float] = []
    y = 0.0
    for height in heights:
        tops.append(y)
        y += height + v_gap
    total_height = max(y - v_gap, 0.0)

    preds: defaultdict[str, list[str]] = defaultdict(list)
    for source, target in short_edges:
        preds[target].append(source)
    left: dict[str, float] = {}
    for row in layers:
        cursor = 0.0
        for key in row:
            around = [left[p] + widths[p] / 2 for p in preds[key] if p in left]
            wanted = sum(around) / len(around) - widths[key] / 2 if around else cursor
            left[key] = max(wanted, cursor)
            cursor = left[key] + widths[key] + h_gap
    shift = -min(left.values(), default=0.0)
    total_width = max((left[k] + widths[k] + shift for k in left), default=0.0)

    placed = {
        key: Placed(
            x=left[key] + shift,
            y=tops[layer_of[key]],
            width=sizes[key].width,
            height=sizes[key].height,
        )
        for key in keys
    }

    def dummy_point(key: str) -> Point:
        index = layer_of[key]
        return Point(left[key] + shift + widths[key] / 2, tops[index] + heights[index] / 2)

    routed: dict[tuple[str, str], tuple[Point, ...]] = {}
    for (source, target), chain in chains.items():
        start, end = placed[source], placed[target]
        points = [Point(start.center_x, start.y + start.height)]
        points.extend(dummy_point(key) for key in chain[1:-1])
        points.append(Point(end.center_x, end.y))
        routed[(source, target)] = tuple(points)
    final_layers = tuple(tuple(k for k in layer if k in sizes) for layer in layers)
    return Layout(boxes=placed, edges=routed, width=total_width, height=total_height, layers=final_layers)
