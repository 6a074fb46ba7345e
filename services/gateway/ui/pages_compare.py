"""Compare runs: parameters and scalar metrics side by side, ROC curves overlaid."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from markupsafe import Markup

from services.gateway.ui.context import Ui
from services.gateway.ui.visualizations import RocSeries, roc_curve_svg, roc_points, scalar_metrics

MAX_COMPARED = 10


def _rows(per_run: list[dict[str, Any]]) -> list[tuple[str, list[Any], bool]]:
    """(name, one value per run (None: absent), whether they differ) for every name."""
    names: list[str] = []
    for values in per_run:
        names.extend(n for n in values if n not in names)
    rows = []
    for name in names:
        cells = [values.get(name) for values in per_run]
        rows.append((name, cells, len({repr(c) for c in cells}) > 1))
    return rows


def add_routes(router: APIRouter, ui: Ui) -> None:
    data = ui.data
    render = ui.renderer

    @router.get("/compare")
    async def compare(request: Request) -> Response:
        run_ids = list(dict.fromkeys(request.query_params.getlist("run")))[:MAX_COMPARED]
        runs = list(await asyncio.gather(*(data.get_run(r) for r in run_ids)))
        artifacts = await asyncio.gather(*(data.run_artifacts(run) for run in runs))
        await data.describe_runs(runs)
        parameters = [dict((run.get("runtime_config") or {}).get("parameters") or {}) for run in runs]
        metrics: list[dict[str, Any]] = []
        series: list[RocSeries] = []
        tasks_by_run = [
            {t.get("task_id"): t for t in (run.get("run_details") or {}).get("task_details", [])}
            for run in runs
        ]
        for run, found, tasks in zip(runs, artifacts, tasks_by_run, strict=True):
            values: dict[str, Any] = {}
            for artifact in found:
                task = tasks.get(artifact.get("task_id"), {})
                where = task.get("display_name") or artifact.get("output_key", "")
                metadata = artifact.get("metadata") or {}
                if artifact.get("schema_title") == "system.Metrics":
                    for name, value in scalar_metrics(metadata).items():
                        values.setdefault(f"{where} · {name}", value)
                points = roc_points(metadata)
                if artifact.get("schema_title") == "system.ClassificationMetrics" and points:
                    label = f"{run.get('display_name', '')} · {where}/{artifact.get('name', '')}"
                    series.append(RocSeries(label=label, points=points))
            metrics.append(values)
        return render.page(
            "compare.html",
            nav="compare",
            runs=runs,
            parameter_rows=_rows(parameters),
            metric_rows=_rows(metrics),
            roc=roc_curve_svg(series, size=420) if series else Markup(""),
        )
