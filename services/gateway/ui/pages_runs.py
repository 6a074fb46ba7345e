"""Runs: the list, a run's page (live graph, task panel, logs, artifacts, config), the
run actions, and the "create run" form (also used to clone a run)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import grpc
import yaml
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from markupsafe import Markup
from sluice.v1 import artifacts_pb2, runs_pb2
from starlette.background import BackgroundTask

from services.core.errors import NotFound
from services.core.protovalues import values_map
from services.gateway.http.streaming import started
from services.gateway.task_logs import log_target, stored_log_uri, task_of_run
from services.gateway.ui.artifact_views import artifact_view
from services.gateway.ui.context import (
    Ui,
    form_strings,
    form_text,
    is_fragment,
    read_form,
    safe_next,
    see_other,
)
from services.gateway.ui.data import to_dict
from services.gateway.ui.forms import parse_parameters
from services.gateway.ui.graph.model import TaskView, build_graph
from services.gateway.ui.graph.svg import default_collapsed, render_svg
from services.gateway.ui.run_form import render_run_form, resolve_source
from services.gateway.ui.runs_list import RunQuery, run_page
from services.gateway.ui.status import ACTIVE_STATES

LOG_LIMIT = 2 * 1024 * 1024
_ACTIONS = {
    "archive": "ArchiveRun",
    "unarchive": "UnarchiveRun",
    "terminate": "TerminateRun",
    "retry": "RetryRun",
    "delete": "DeleteRun",
}


def task_views(run: dict[str, Any]) -> list[TaskView]:
    return [
        TaskView(
            task_id=t.get("task_id", ""),
            parent_task_id=t.get("parent_task_id", ""),
            task_name=t.get("task_name", ""),
            display_name=t.get("display_name", ""),
            kind=t.get("kind", ""),
            state=t.get("state", ""),
            cached=bool(t.get("cached_from_task_id")),
        )
        for t in (run.get("run_details") or {}).get("task_details", [])
    ]


def parse_collapsed(request: Request) -> set[str] | None:
    """The groups the page has folded, or None when the page has not said (first draw)."""
    raw = request.query_params.get("collapsed")
    if raw is None:
        return None
    return {key for key in raw.split(",") if key}


def graph_markup(spec: dict[str, Any], run: dict[str, Any] | None, collapsed: set[str] | None) -> Markup:
    root = build_graph(spec, task_views(run) if run else [])
    folded = default_collapsed(root) if collapsed is None else collapsed
    return Markup(
        f'<div class="graph-scroll" data-collapsed="{",".join(sorted(folded))}">'
        f"{render_svg(root, collapsed=folded, static=run is None)}</div>"
    )


def task_names(run: dict[str, Any]) -> dict[str, str]:
    return {
        t.get("task_id", ""): t.get("display_name") or t.get("task_name", "")
        for t in (run.get("run_details") or {}).get("task_details", [])
    }


def find_task(run: dict[str, Any], task_id: str) -> dict[str, Any]:
    for task in (run.get("run_details") or {}).get("task_details", []):
        if task.get("task_id") == task_id:
            return dict(task)
    raise NotFound("task", task_id)


def spec_yaml(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def add_routes(router: APIRouter, ui: Ui) -> None:
    data = ui.data
    render = ui.renderer

    @router.get("/runs")
    async def runs(request: Request) -> Response:
        query = RunQuery.parse(request.query_params)
        context = await run_page(ui, query, path="/runs")
        if is_fragment(request):
            return render.page("_runs_table.html", **context)
        return render.page("runs.html", nav="runs", **context)

    @router.get("/runs/new")
    async def new_run(request: Request) -> Response:
        params = request.query_params
        return await _run_form(
            request,
            pipeline_id=params.get("pipeline_id", ""),
            version_id=params.get("version_id", ""),
            clone_of=params.get("clone", ""),
            experiment_id=params.get("experiment_id", ""),
        )

    async def _run_form(
        request: Request,
        *,
        pipeline_id: str,
        version_id: str,
        clone_of: str,
        experiment_id: str,
        errors: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Response:
        return await render_run_form(
            ui,
            recurring=False,
            pipeline_id=pipeline_id,
            version_id=version_id,
            clone_of=clone_of,
            experiment_id=experiment_id,
            errors=errors,
            status_code=status_code,
        )

    @router.post("/runs/new")
    async def create_run(request: Request) -> Response:
        form = await read_form(request)
        text = form_strings(form)
        pipeline_id, version_id = form_text(form, "pipeline_id"), form_text(form, "version_id")
        clone_of = form_text(form, "clone_of")
        source = await resolve_source(ui, pipeline_id=pipeline_id, version_id=version_id, clone_of=clone_of)
        values, fields = parse_parameters(source.spec, text)
        name = form_text(form, "display_name")
        if any(f.error for f in fields) or not name:
            return await _run_form(
                request,
                pipeline_id=pipeline_id,
                version_id=version_id,
                clone_of=clone_of,
                experiment_id=form_text(form, "experiment_id"),
                errors={"fields": fields, "form": text, "problem": "" if name else "Give the run a name."},
                status_code=400,
            )
        run = runs_pb2.Run(
            display_name=name,
            description=form_text(form, "description"),
            experiment_id=form_text(form, "experiment_id"),
            disable_cache=form.get("disable_cache") == "on",
        )
        if source.clone_of:
            run.pipeline_spec.update(source.spec)
        else:
            run.pipeline_version_reference.pipeline_id = source.pipeline_id
            run.pipeline_version_reference.pipeline_version_id = source.version_id
        run.runtime_config.CopyFrom(
            runs_pb2.RuntimeConfig(
                parameters=values_map(values), pipeline_root=form_text(form, "pipeline_root")
            )
        )
        created = await data.backend.runs.CreateRun(
            runs_pb2.CreateRunRequest(run=run, experiment_id=run.experiment_id)
        )
        return see_other(f"/runs/{created.run_id}")

    @router.get("/runs/{run_id}")
    async def run_detail(run_id: str, request: Request) -> Response:
        run = await data.get_run(run_id)
        spec, artifacts = await asyncio.gather(data.run_spec(run), data.run_artifacts(run))
        await data.describe_runs([run])
        selected = request.query_params.get("task", "")
        return render.page(
            "run.html",
            nav="runs",
            run=run,
            graph=graph_markup(spec, run, None),
            artifacts=artifacts,
            task_names=task_names(run),
            spec_text=spec_yaml(spec),
            active=run.get("state", "") in ACTIVE_STATES,
            selected=selected,
        )

    @router.get("/runs/{run_id}/graph")
    async def run_graph(run_id: str, request: Request) -> Response:
        run = await data.get_run(run_id)
        spec = await data.run_spec(run)
        return render.page("_fragment.html", content=graph_markup(spec, run, parse_collapsed(request)))

    @router.get("/runs/{run_id}/summary")
    async def run_summary(run_id: str) -> Response:
        run = await data.get_run(run_id)
        await data.describe_runs([run])
        return render.page("_run_summary.html", run=run, active=run.get("state", "") in ACTIVE_STATES)

    @router.get("/runs/{run_id}/artifacts")
    async def run_artifacts(run_id: str) -> Response:
        run = await data.get_run(run_id)
        artifacts = await data.run_artifacts(run)
        return render.page(
            "_run_artifacts.html", run_id=run_id, artifacts=artifacts, task_names=task_names(run)
        )

    @router.get("/runs/{run_id}/tasks/{task_id}")
    async def task_panel(run_id: str, task_id: str, request: Request) -> Response:
        if not is_fragment(request):
            return RedirectResponse(f"/runs/{run_id}?task={task_id}", status_code=307)
        run = await data.get_run(run_id)
        task = find_task(run, task_id)
        output_ids = [i for v in (task.get("outputs") or {}).values() for i in v.get("artifact_ids", [])]
        input_ids = [i for v in (task.get("inputs") or {}).values() for i in v.get("artifact_ids", [])]
        outputs, inputs = await asyncio.gather(data.artifacts(output_ids), data.artifacts(input_ids))
        views = await asyncio.gather(*(artifact_view(data, a) for a in outputs))
        cached_from = task.get("cached_from_task_id", "")
        cached_run = ""
        if cached_from and not any(
            t.get("task_id") == cached_from for t in (run.get("run_details") or {}).get("task_details", [])
        ):
            cached_run = await data.run_of_task(cached_from, log_uri=task.get("log_uri", ""))
        elif cached_from:
            cached_run = run_id
        return render.page(
            "_task_panel.html",
            run=run,
            task=task,
            outputs=list(zip(outputs, views, strict=True)),
            inputs=inputs,
            cached_from=cached_from,
            cached_run=cached_run,
            active=task.get("state", "") in ACTIVE_STATES or not task.get("state"),
        )

    @router.get("/runs/{run_id}/tasks/{task_id}/log")
    async def task_log(run_id: str, task_id: str, request: Request) -> Response:
        found = await task_of_run(data.backend, run_id, task_id)
        task = to_dict(found)
        attempt = request.query_params.get("attempt", "")
        number = int(attempt) if attempt.isdigit() else None
        if number is not None and not any(a.attempt == number for a in found.attempts):
            number = None  # an attempt the task does not have: its latest
        # A running attempt's log is streamed into the page (see sluice.js), not read here.
        live = not log_target(found, number).ended
        try:
            uri = stored_log_uri(found, number)
        except NotFound:
            uri = ""
        text, truncated, missing = "", False, not uri
        if uri and not live:
            try:
                raw, truncated = await data.read(uri=uri, limit=LOG_LIMIT)
                text = raw.decode("utf-8", errors="replace")
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                missing = True
        follow_url = f"/apis/v2beta1/runs/{quote(run_id)}/tasks/{quote(task_id)}/logs?follow=true"
        if attempt:
            follow_url += f"&attempt={quote(attempt)}"
        return render.page(
            "_task_log.html",
            run_id=run_id,
            task=task,
            attempt=attempt,
            text=text,
            truncated=truncated,
            missing=missing,
            live=live,
            follow_url=follow_url,
        )

    @router.get("/runs/{run_id}/artifacts/{artifact_id}/view")
    async def artifact_fragment(run_id: str, artifact_id: str) -> Response:
        # Any artifact: a cache hit shows artifacts another run made.
        found = await data.artifacts([artifact_id])
        if not found:
            raise NotFound("artifact", artifact_id)
        return render.page("_fragment.html", content=await artifact_view(data, found[0]))

    @router.get("/runs/{run_id}/artifacts/{artifact_id}/download")
    async def artifact_download(run_id: str, artifact_id: str) -> Response:
        # Any artifact: a cache hit shows artifacts another run made.
        found = await data.artifacts([artifact_id])
        if not found:
            raise NotFound("artifact", artifact_id)
        chunks = data.backend.download(artifacts_pb2.DownloadRequest(artifact_id=artifact_id))
        body = await started(chunks)  # missing bytes are an error page, not a cut download
        name = "".join(
            c if c.isalnum() or c in "-_." else "_" for c in str(found[0].get("name") or "artifact")
        )
        # Always a download, never rendered here: an HTML artifact must not run in this origin.
        return StreamingResponse(
            body,
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Content-Type-Options": "nosniff",
            },
            background=BackgroundTask(chunks.aclose),
        )

    @router.post("/runs/{run_id}/{action}")
    async def run_action(run_id: str, action: str, request: Request) -> Response:
        method = _ACTIONS.get(action)
        if method is None:
            raise NotFound("run action", action)
        form = await read_form(request)
        await getattr(data.backend.runs, method)(runs_pb2.RunIdRequest(run_id=run_id))
        # A deleted run has no page to go back to.
        here = "/runs" if action == "delete" else f"/runs/{run_id}"
        return see_other(safe_next(form_text(form, "next"), here))
