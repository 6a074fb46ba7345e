"""The visualization of one artifact record: from its metadata (metrics, classification
metrics) or from a bounded read of its bytes (Markdown, HTML, CSV)."""

from __future__ import annotations

import json
import logging
from typing import Any

import grpc
from markupsafe import Markup, escape

from services.gateway.ui.data import PREVIEW_LIMIT, UiData
from services.gateway.ui.visualizations import (
    RocSeries,
    confusion_matrix_of,
    confusion_matrix_table,
    csv_table,
    markdown_html,
    metrics_table,
    roc_curve_svg,
    roc_points,
    sandboxed_html,
)

logger = logging.getLogger(__name__)

_READ_CONTENT = {"system.Markdown", "system.HTML", "system.Dataset"}
_TEXT_PREVIEW = 8 * 1024


def metadata_of(artifact: dict[str, Any]) -> dict[str, Any]:
    metadata = artifact.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def metadata_view(artifact: dict[str, Any]) -> Markup | None:
    """What the metadata alone shows; None when it shows nothing by itself."""
    title = artifact.get("schema_title", "")
    metadata = metadata_of(artifact)
    if title == "system.Metrics":
        return metrics_table(metadata)
    if title == "system.ClassificationMetrics":
        parts: list[str] = []
        matrix = confusion_matrix_of(metadata)
        if matrix is not None:
            parts.append(confusion_matrix_table(matrix))
        points = roc_points(metadata)
        if points:
            parts.append(roc_curve_svg([RocSeries(label=str(artifact.get("name", "ROC")), points=points)]))
        if not parts:
            return Markup('<p class="muted">No confusion matrix or ROC curve logged.</p>')
        return Markup(f'<div class="viz-row">{"".join(parts)}</div>')
    return None


def needs_content(artifact: dict[str, Any]) -> bool:
    return artifact.get("schema_title", "") in _READ_CONTENT or str(artifact.get("uri", "")).endswith(".csv")


async def content_view(data: UiData, artifact: dict[str, Any]) -> Markup:
    """A preview of the artifact's bytes (read up to `PREVIEW_LIMIT`)."""
    try:
        raw, truncated = await data.read(artifact_id=str(artifact.get("artifact_id", "")))
    except grpc.aio.AioRpcError as error:
        logger.info("no preview of artifact %s: %s", artifact.get("artifact_id"), error.details())
        return Markup('<p class="muted">No preview: the content cannot be read (it may be a directory).</p>')
    note = (
        Markup(f'<p class="muted">Preview of the first {PREVIEW_LIMIT // 1024} KiB.</p>')
        if truncated
        else Markup("")
    )
    text = raw.decode("utf-8", errors="replace")
    title = artifact.get("schema_title", "")
    if title == "system.Markdown":
        return note + Markup(f'<div class="markdown">{markdown_html(text)}</div>')
    if title == "system.HTML":
        return note + sandboxed_html(text, title=f"HTML artifact {artifact.get('name', '')}")
    if b"\x00" in raw[:1024]:
        return Markup('<p class="muted">Binary content: download it to look inside.</p>')
    table = csv_table(text)
    if table is not None:
        return note + table
    shown = text[:_TEXT_PREVIEW]
    more = "\n…" if len(text) > len(shown) else ""
    return Markup(f'<pre class="text-preview">{escape(shown)}{escape(more)}</pre>')


def other_metadata(artifact: dict[str, Any]) -> Markup | None:
    """Metadata that no visualization shows, as JSON."""
    metadata = metadata_of(artifact)
    if not metadata or artifact.get("schema_title") in ("system.Metrics", "system.ClassificationMetrics"):
        return None
    return Markup(f'<pre class="json">{escape(json.dumps(metadata, indent=2, sort_keys=True))}</pre>')


async def artifact_view(data: UiData, artifact: dict[str, Any]) -> Markup:
    """Everything shown for one artifact, below its name."""
    parts = [metadata_view(artifact)]
    if needs_content(artifact):
        parts.append(await content_view(data, artifact))
    parts.append(other_metadata(artifact))
    shown = [p for p in parts if p is not None]
    return Markup("".join(shown)) if shown else Markup('<p class="muted">No visualization.</p>')
