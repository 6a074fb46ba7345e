"""Artifact visualizations as safe HTML: scalar metrics, confusion matrices, ROC curves
(SVG), Markdown, CSV tables and sandboxed HTML. Pure functions of artifact metadata or
bytes; everything a user wrote is escaped."""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

CSV_MAX_ROWS = 200
SERIES_COLOURS = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")


def format_number(value: Any) -> str:
    """Integers as integers, other numbers with up to 4 significant decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def scalar_metrics(metadata: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of a Metrics artifact's metadata, in their order."""
    return {
        str(name): float(value)
        for name, value in metadata.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def metrics_table(metadata: Mapping[str, Any]) -> Markup:
    rows = "".join(
        f'<tr><th scope="row">{escape(name)}</th><td class="num">{escape(format_number(value))}</td></tr>'
        for name, value in scalar_metrics(metadata).items()
    )
    if not rows:
        return Markup('<p class="muted">No scalar metrics.</p>')
    return Markup(
        '<table class="metrics"><thead><tr><th scope="col">Metric</th><th scope="col">Value</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
    )


@dataclass(frozen=True, slots=True)
class ConfusionMatrix:
    labels: tuple[str, ...]
    rows: tuple[tuple[float, ...], ...]


def confusion_matrix_of(metadata: Mapping[str, Any]) -> ConfusionMatrix | None:
    """KFP's ``confusionMatrix`` (``annotationSpecs[].displayName``, ``rows[].row[]``)."""
    raw = metadata.get("confusionMatrix")
    if not isinstance(raw, Mapping):
        return None
    specs = raw.get("annotationSpecs") or []
    labels = tuple(str(s.get("displayName", "")) if isinstance(s, Mapping) else str(s) for s in specs)
    rows: list[tuple[float, ...]] = []
    for row in raw.get("rows") or []:
        values = row.get("row") if isinstance(row, Mapping) else row
        if not isinstance(values, list):
            return None
        rows.append(tuple(float(v) if isinstance(v, int | float) else 0.0 for v in values))
    if not labels or len(rows) != len(labels) or any(len(r) != len(labels) for r in rows):
        return None
    return ConfusionMatrix(labels=labels, rows=tuple(rows))


def confusion_matrix_table(matrix: ConfusionMatrix) -> Markup:
    """A heat-mapped table: rows are the true class, columns the predicted one. Each cell
    shows its count, so the shading only repeats what the numbers say."""
    peak = max((v for row in matrix.rows for v in row), default=0.0) or 1.0
    head = "".join(f'<th scope="col">{escape(label)}</th>' for label in matrix.labels)
    body: list[str] = []
    for label, row in zip(matrix.labels, matrix.rows, strict=True):
        cells = []
        for value in row:
            share = value / peak
            dark = " dark" if share > 0.55 else ""
            cells.append(
                f'<td class="cm-cell{dark}" style="--share:{share:.3f}">{escape(format_number(value))}</td>'
            )
        body.append(f'<tr><th scope="row">{escape(label)}</th>{"".join(cells)}</tr>')
    return Markup(
        '<table class="confusion-matrix"><caption>Confusion matrix (rows: true class, columns: predicted)'
        f'</caption><thead><tr><th scope="col"><span class="sr-only">True \\ predicted</span></th>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table>"
    )


@dataclass(frozen=True, slots=True)
class RocSeries:
    label: str
    points: tuple[tuple[float, float], ...]
    """(false positive rate, true positive rate), by rising false positive rate."""


def roc_points(metadata: Mapping[str, Any]) -> tuple[tuple[float, float], ...]:
    """KFP's ``confidenceMetrics`` as ROC points, sorted for drawing."""
    raw = metadata.get("confidenceMetrics")
    if not isinstance(raw, list):
        return ()
    points: list[tuple[float, float]] = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            continue
        fpr, tpr = entry.get("falsePositiveRate"), entry.get("recall")
        if isinstance(fpr, int | float) and isinstance(tpr, int | float):
            points.append((float(fpr), float(tpr)))
    return tuple(sorted(points))


def auc(points: Sequence[tuple[float, float]]) -> float:
    """Area under the curve by the trapezoidal rule."""
    return sum((x2 - x1) * (y1 + y2) / 2 for (x1, y1), (x2, y2) in itertools.pairwise(points))


def roc_curve_svg(series: Sequence[RocSeries], *, size: int = 320) -> Markup:
    """ROC curves on one chart with axes, a chance diagonal and a legend that names each
    curve with its AUC (so the curves are told apart by text, not colour alone)."""
    pad_left, pad_bottom, pad_top, pad_right = 44, 40, 12, 12
    plot = size - pad_left - pad_right
    height = pad_top + plot + pad_bottom
    legend_height = 18 * len(series)
    longest = max((len(each.label) for each in series), default=0) + len(" (AUC 0.000)")
    width = max(size, int(pad_left + 28 + longest * 6.6))

    def sx(v: float) -> float:
        return pad_left + max(0.0, min(1.0, v)) * plot

    def sy(v: float) -> float:
        return pad_top + (1 - max(0.0, min(1.0, v))) * plot

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="roc" width="{width}" '
        f'height="{height + legend_height}" viewBox="0 0 {width} {height + legend_height}" '
        'role="img" aria-label="ROC curve">'
        "<title>ROC curve</title>"
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<line class="grid" x1="{sx(tick):.1f}" y1="{sy(0):.1f}" x2="{sx(tick):.1f}" y2="{sy(1):.1f}"/>'
            f'<line class="grid" x1="{sx(0):.1f}" y1="{sy(tick):.1f}" x2="{sx(1):.1f}" y2="{sy(tick):.1f}"/>'
            f'<text class="tick" x="{sx(tick):.1f}" y="{sy(0) + 14:.1f}" text-anchor="middle">{tick:g}</text>'
            f'<text class="tick" x="{sx(0) - 6:.1f}" y="{sy(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    out.append(
        f'<rect class="frame" x="{sx(0):.1f}" y="{sy(1):.1f}" width="{plot}" height="{plot}"/>'
        f'<line class="chance" x1="{sx(0):.1f}" y1="{sy(0):.1f}" x2="{sx(1):.1f}" y2="{sy(1):.1f}"/>'
        f'<text class="axis" x="{sx(0.5):.1f}" y="{sy(0) + 32:.1f}" text-anchor="middle">'
        "False positive rate</text>"
        f'<text class="axis" transform="translate(12,{sy(0.5):.1f}) rotate(-90)" text-anchor="middle">'
        "True positive rate</text>"
    )
    for index, each in enumerate(series):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in each.points)
        dash = ' stroke-dasharray="6 3"' if index % 2 else ""
        out.append(
            f'<polyline class="curve" fill="none" stroke="{colour}" stroke-width="2"{dash} points="{path}">'
            f"<title>{escape(each.label)}</title></polyline>"
        )
        y = height + 18 * index + 6
        out.append(
            f'<line x1="{pad_left}" y1="{y:.1f}" x2="{pad_left + 22}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="2"{dash}/><text class="legend" x="{pad_left + 28}" y="{y + 4:.1f}">'
            f"{escape(each.label)} (AUC {auc(each.points):.3f})</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def markdown_html(text: str) -> Markup:
    """Markdown to HTML with raw HTML disabled (it is shown as text) and markdown-it's
    link checks (no ``javascript:`` links)."""
    return Markup(_MARKDOWN.render(text))


def csv_table(text: str, *, max_rows: int = CSV_MAX_ROWS) -> Markup | None:
    """The text as a table when it parses as CSV with at least two columns, else None.
    The first row is the header; rows past ``max_rows`` are counted, not shown."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    rows = [row for row in rows if row]
    if len(rows) < 1 or len(rows[0]) < 2:
        return None
    header, body = rows[0], rows[1:]
    head = "".join(f'<th scope="col">{escape(cell)}</th>' for cell in header)
    shown = body[:max_rows]
    lines = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in shown)
    more = (
        f'<p class="muted">{len(body) - len(shown)} more rows not shown.</p>'
        if len(body) > len(shown)
        else ""
    )
    return Markup(
        f'<div class="table-scroll"><table class="csv"><thead><tr>{head}</tr></thead>'
        f"<tbody>{lines}</tbody></table></div>{more}"
    )


_ARTIFACT_CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "img-src data:; style-src 'unsafe-inline'; font-src data:\">"
)


def sandboxed_html(document: str, *, title: str) -> Markup:
    """An HTML artifact in an iframe that may run no scripts, submit no forms and reach
    nothing of this page (an empty ``sandbox`` grants nothing), nor load anything from the
    network (a Content-Security-Policy comes first in the document)."""
    return Markup(
        f'<iframe class="html-artifact" sandbox="" referrerpolicy="no-referrer" title="{escape(title)}" '
        f'srcdoc="{escape(_ARTIFACT_CSP + document)}"></iframe>'
    )
