"""Draw a `Node` tree as one SVG: task boxes, collapsible groups, edges with arrows.

Groups are laid out inside out: a group's size is the layout of its children plus a
header and padding, and a collapsed group is a box like a task. Every element that shows
a runtime state carries ``data-task-id`` so the page's script can restyle it from events.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from markupsafe import Markup, escape

from services.gateway.ui.graph.layout import Box, Layout, Point, layered_layout
from services.gateway.ui.graph.model import Node, NodeKind
from services.gateway.ui.status import status_of

NODE_WIDTH = 184.0
NODE_HEIGHT = 54.0
GROUP_HEADER = 30.0
GROUP_PADDING = 14.0
MARGIN = 8.0
_MAX_LABEL = 22
_PLUS, _MINUS = "+", "\u2212"
_TITLE_CHAR_WIDTH = 7.2
_MAX_TITLE_WIDTH = 440.0

_KIND_NAMES = {
    NodeKind.DAG: "sub-DAG",
    NodeKind.CONDITION: "condition",
    NodeKind.EXIT_HANDLER: "exit handler",
    NodeKind.LOOP: "loop",
    NodeKind.ITERATION: "iteration",
    NodeKind.IMPORTER: "importer",
    NodeKind.TASK: "task",
}


def _short(text: str, limit: int = _MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def default_collapsed(root: Node) -> set[str]:
    """Groups folded when a page first shows the graph: loops with many iterations."""
    folded: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.kind is NodeKind.LOOP and (node.iterations or 0) > 4:
            folded.add(node.key)
        stack.extend(node.children)
    return folded


@dataclass(slots=True)
class _Sized:
    node: Node
    width: float
    height: float
    collapsed: bool
    layout: Layout | None
    children: dict[str, _Sized]


def _size(node: Node, collapsed: Collection[str]) -> _Sized:
    is_folded = node.kind.is_group and (node.key in collapsed or not node.children)
    if not node.kind.is_group or is_folded:
        return _Sized(node, NODE_WIDTH, NODE_HEIGHT, is_folded, None, {})
    children = {child.key: _size(child, collapsed) for child in node.children}
    layout = layered_layout(
        [Box(key, sized.width, sized.height) for key, sized in children.items()], node.edges
    )
    title = len(f"{node.label} — {_group_title(node)}") * _TITLE_CHAR_WIDTH + 90
    width = max(
        layout.width + 2 * GROUP_PADDING, NODE_WIDTH + 2 * GROUP_PADDING, min(title, _MAX_TITLE_WIDTH)
    )
    height = layout.height + GROUP_HEADER + 2 * GROUP_PADDING
    return _Sized(node, width, height, False, layout, children)


def _group_title(node: Node) -> str:
    parts = [_KIND_NAMES[node.kind]]
    if node.kind is NodeKind.LOOP:
        count = "?" if node.iterations is None else str(node.iterations)
        parts.append(f"{count} iteration{'' if node.iterations == 1 else 's'}")
        if node.hidden_children:
            parts.append(f"{node.hidden_children} not drawn")
    return " · ".join(parts)


def _state_attrs(node: Node) -> str:
    status = status_of(node.state, cached=node.cached)
    task = f' data-task-id="{escape(node.task_id)}"' if node.task_id else ""
    return f'class="{{cls}} {status.css}"{task} data-key="{escape(node.key)}"'


def _task(node: Node, x: float, y: float, *, static: bool) -> str:
    status = status_of(node.state, cached=node.cached)
    second_line = _short(node.detail or _KIND_NAMES[node.kind], 26) if static else status.label
    attrs = _state_attrs(node).format(cls=f"node kind-{node.kind}")
    label = escape(node.label)
    interactive = ' tabindex="0" role="button"' if node.task_id else ""
    aria = escape(f"{node.label}: {second_line}")
    return (
        f'<g {attrs} transform="translate({_fmt(x)},{_fmt(y)})"{interactive} aria-label="{aria}">'
        f"<title>{label}{escape(f' ({node.detail})') if node.detail else ''}</title>"
        f'<rect class="box" width="{_fmt(NODE_WIDTH)}" height="{_fmt(NODE_HEIGHT)}" rx="8"/>'
        f'<text class="icon" x="16" y="{_fmt(NODE_HEIGHT / 2 + 6)}" text-anchor="middle">{status.icon}</text>'
        f'<text class="label" x="30" y="22">{escape(_short(node.label))}</text>'
        f'<text class="node-state" x="30" y="40">{escape(second_line)}</text>'
        "</g>"
    )


def _toggle(node: Node, *, collapsed: bool, x: float, y: float) -> str:
    verb = "Expand" if collapsed else "Collapse"
    return (
        f'<g class="toggle" role="button" tabindex="0" data-toggle="{escape(node.key)}" '
        f'aria-expanded="{"false" if collapsed else "true"}" aria-label="{verb} {escape(node.label)}" '
        f'transform="translate({_fmt(x)},{_fmt(y)})">'
        f'<rect width="22" height="22" rx="5"/>'
        f'<text x="11" y="16" text-anchor="middle">{_PLUS if collapsed else _MINUS}</text></g>'
    )


def _folded_group(node: Node, x: float, y: float, *, static: bool) -> str:
    status = status_of(node.state)
    attrs = _state_attrs(node).format(cls=f"node group-folded kind-{node.kind}")
    aria = escape(f"{node.label}: {_group_title(node) if static else status.label}")
    interactive = ' tabindex="0" role="button"' if node.task_id else ""
    return (
        f'<g {attrs} transform="translate({_fmt(x)},{_fmt(y)})"{interactive} aria-label="{aria}">'
        f"<title>{escape(node.label)}</title>"
        f'<rect class="box" width="{_fmt(NODE_WIDTH)}" height="{_fmt(NODE_HEIGHT)}" rx="8"/>'
        f'<text class="icon" x="16" y="{_fmt(NODE_HEIGHT / 2 + 6)}" text-anchor="middle">{status.icon}</text>'
        f'<text class="label" x="30" y="22">{escape(_short(node.label, 17))}</text>'
        f'<text class="node-state" x="30" y="40">{escape(_short(_group_title(node), 24))}</text>'
        "</g>" + (_toggle(node, collapsed=True, x=x + NODE_WIDTH - 28, y=y + 6) if node.children else "")
    )


def _edge_path(points: tuple[Point, ...]) -> str:
    first = points[0]
    parts = [f"M{_fmt(first.x)},{_fmt(first.y)}"]
    previous = first
    for point in points[1:]:
        middle = (previous.y + point.y) / 2
        control = f"{_fmt(previous.x)},{_fmt(middle)} {_fmt(point.x)},{_fmt(middle)}"
        parts.append(f"C{control} {_fmt(point.x)},{_fmt(point.y)}")
        previous = point
    return " ".join(parts)


def _group(sized: _Sized, x: float, y: float, out: list[str], *, static: bool) -> None:
    node = sized.node
    if not node.kind.is_group:
        out.append(_task(node, x, y, static=static))
        return
    if sized.collapsed:
        out.append(_folded_group(node, x, y, static=static))
        return
    status = status_of(node.state)
    attrs = _state_attrs(node).format(cls=f"group kind-{node.kind}")
    title = f"{node.label} — {_group_title(node)}"
    fits = int((sized.width - 70) / _TITLE_CHAR_WIDTH)
    out.append(f"<g {attrs}>")
    out.append(
        f'<rect class="group-box" x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(sized.width)}" '
        f'height="{_fmt(sized.height)}" rx="10"/>'
    )
    out.append(
        f'<text class="group-title" x="{_fmt(x + 12)}" y="{_fmt(y + 20)}">'
        f'<tspan class="icon">{status.icon}</tspan> {escape(_short(title, fits))}'
        f"<title>{escape(title)}{'' if static else ': ' + escape(status.label)}</title></text>"
    )
    out.append("</g>")
    out.append(_toggle(node, collapsed=False, x=x + sized.width - 30, y=y + 4))
    assert sized.layout is not None
    inner_x, inner_y = x + GROUP_PADDING, y + GROUP_HEADER + GROUP_PADDING
    _edges(sized.layout, inner_x, inner_y, out)
    for key, child in sized.children.items():
        place = sized.layout.boxes[key]
        _group(child, inner_x + place.x, inner_y + place.y, out, static=static)


def _edges(layout: Layout, dx: float, dy: float, out: list[str]) -> None:
    for (source, target), points in layout.edges.items():
        moved = tuple(Point(p.x + dx, p.y + dy) for p in points)
        out.append(
            f'<path class="edge" data-from="{escape(source)}" data-to="{escape(target)}" '
            f'd="{_edge_path(moved)}" marker-end="url(#arrow)"/>'
        )


def render_svg(root: Node, *, collapsed: Collection[str] = (), static: bool = False) -> Markup:
    """The root's children as an SVG, groups in ``collapsed`` folded. A ``static`` graph
    (a pipeline version's, no run) shows each task's image instead of a state."""
    children = {child.key: _size(child, collapsed) for child in root.children}
    layout = layered_layout([Box(k, s.width, s.height) for k, s in children.items()], root.edges)
    width = max(layout.width, NODE_WIDTH) + 2 * MARGIN
    height = max(layout.height, NODE_HEIGHT) + 2 * MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{_fmt(width)}" height="{_fmt(height)}" '
        f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" role="group" aria-label="{escape(root.label)} graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-head"/></marker></defs>',
    ]
    if not children:
        out.append(f'<text x="{_fmt(MARGIN)}" y="{_fmt(MARGIN + 20)}" class="label">No tasks</text>')
    _edges(layout, MARGIN, MARGIN, out)
    for key, sized in children.items():
        place = layout.boxes[key]
        _group(sized, MARGIN + place.x, MARGIN + place.y, out, static=static)
    out.append("</svg>")
    return Markup("".join(out))
