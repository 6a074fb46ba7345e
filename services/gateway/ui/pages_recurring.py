"""Recurring runs: the list, create (cron or interval, max concurrency, catchup),
enable/disable, and a recurring run's page with the runs it started."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sluice.v1 import recurring_runs_pb2, runs_pb2

from services.core.errors import InvalidArgument
from services.core.protovalues import values_map
from services.gateway.ui.context import (
    PAGE_SIZE,
    Ui,
    form_strings,
    form_text,
    is_fragment,
    read_form,
    safe_next,
    see_other,
    with_query,
)
from services.gateway.ui.data import to_dict
from services.gateway.ui.forms import parse_parameters
from services.gateway.ui.run_form import render_run_form, resolve_source
from services.gateway.ui.runs_list import RunQuery, run_page


def trigger_text(recurring: dict[str, Any]) -> str:
    """The schedule in words."""
    trigger = recurring.get("trigger") or {}
    if "cron_schedule" in trigger:
        return f"cron {trigger['cron_schedule'].get('cron', '')}"
    if "periodic_schedule" in trigger:
        seconds = int(trigger["periodic_schedule"].get("interval_second", 0))
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds >= size and seconds % size == 0:
                count = seconds // size
                return f"every {count} {unit}{'' if count == 1 else 's'}"
        return f"every {seconds} s"
    return "no schedule"


def _time(text: str, field: str) -> datetime | None:
    """A ``datetime-local`` input, read as UTC."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidArgument(f"{field}: not a date and time", field=field) from None


def _window(
    schedule: recurring_runs_pb2.CronSchedule | recurring_runs_pb2.PeriodicSchedule,
    start: datetime | None,
    end: datetime | None,
) -> None:
    if start is not None:
        schedule.start_time.FromDatetime(start)
    if end is not None:
        schedule.end_time.FromDatetime(end)


_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def build_trigger(form: dict[str, str]) -> recurring_runs_pb2.Trigger:
    """The trigger the form describes. Raises InvalidArgument naming the field at fault."""
    start, end = _time(form.get("start_time", ""), "start time"), _time(form.get("end_time", ""), "end time")
    trigger = recurring_runs_pb2.Trigger()
    if form.get("trigger_type") == "cron":
        cron = " ".join(form.get("cron", "").split())
        if not cron:
            raise InvalidArgument("give a cron expression", field="cron")
        if len(cron.split()) == 5:
            # KFP's cron has a seconds field first; a classic 5-field one fires at second 0.
            cron = f"0 {cron}"
        trigger.cron_schedule.cron = cron
        _window(trigger.cron_schedule, start, end)
        return trigger
    try:
        value = float(form.get("interval_value", ""))
    except ValueError:
        raise InvalidArgument("give the interval as a number", field="interval") from None
    seconds = int(value * _UNITS.get(form.get("interval_unit", ""), 1))
    if seconds <= 0:
        raise InvalidArgument("the interval must be positive", field="interval")
    trigger.periodic_schedule.interval_second = seconds
    _window(trigger.periodic_schedule, start, end)
    return trigger


def add_routes(router: APIRouter, ui: Ui) -> None:
    backend = ui.data.backend
    render = ui.renderer

    @router.get("/recurring-runs")
    async def recurring_runs(request: Request) -> Response:
        token = request.query_params.get("page_token", "")
        page = await backend.recurring_runs.ListRecurringRuns(
            recurring_runs_pb2.ListRecurringRunsRequest(
                page_token=token, page_size=PAGE_SIZE, sort_by="created_at desc"
            )
        )
        items = [to_dict(r) for r in page.recurringRuns]
        await _describe(items)
        return render.page(
            "recurring_runs.html",
            nav="recurring",
            recurring_runs=items,
            total=page.total_size,
            next_url=with_query("/recurring-runs", [("page_token", page.next_page_token)])
            if page.next_page_token
            else "",
            first_url="/recurring-runs" if token else "",
            trigger_text=trigger_text,
        )

    async def _describe(items: list[dict[str, Any]]) -> None:
        await ui.data.describe_runs(items)

    async def _form(
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
            recurring=True,
            pipeline_id=pipeline_id,
            version_id=version_id,
            clone_of=clone_of,
            experiment_id=experiment_id,
            errors=errors,
            status_code=status_code,
        )

    @router.get("/recurring-runs/new")
    async def new_recurring_run(request: Request) -> Response:
        params = request.query_params
        return await _form(
            pipeline_id=params.get("pipeline_id", ""),
            version_id=params.get("version_id", ""),
            clone_of=params.get("clone", ""),
            experiment_id=params.get("experiment_id", ""),
        )

    @router.post("/recurring-runs/new")
    async def create_recurring_run(request: Request) -> Response:
        form = await read_form(request)
        text = form_strings(form)
        pipeline_id, version_id = form_text(form, "pipeline_id"), form_text(form, "version_id")
        clone_of = form_text(form, "clone_of")
        source = await resolve_source(ui, pipeline_id=pipeline_id, version_id=version_id, clone_of=clone_of)
        values, fields = parse_parameters(source.spec, text)
        problem = "" if form_text(form, "display_name") else "Give the recurring run a name."
        trigger = None
        try:
            trigger = build_trigger(text)
            concurrency = int(text.get("max_concurrency", "1") or "1")
        except (InvalidArgument, ValueError) as error:
            problem = (
                error.message if isinstance(error, InvalidArgument) else "max concurrency must be a number"
            )
        if problem or trigger is None or any(f.error for f in fields):
            return await _form(
                pipeline_id=pipeline_id,
                version_id=version_id,
                clone_of=clone_of,
                experiment_id=form_text(form, "experiment_id"),
                errors={"fields": fields, "form": text, "problem": problem},
                status_code=400,
            )
        recurring = recurring_runs_pb2.RecurringRun(
            display_name=form_text(form, "display_name"),
            description=form_text(form, "description"),
            experiment_id=form_text(form, "experiment_id"),
            max_concurrency=concurrency,
            no_catchup=form.get("catchup") != "on",
            mode=recurring_runs_pb2.RecurringRun.ENABLE,
            trigger=trigger,
        )
        if source.clone_of:
            recurring.pipeline_spec.update(source.spec)
        else:
            recurring.pipeline_version_reference.pipeline_id = source.pipeline_id
            recurring.pipeline_version_reference.pipeline_version_id = source.version_id
        recurring.runtime_config.CopyFrom(
            runs_pb2.RuntimeConfig(
                parameters=values_map(values), pipeline_root=form_text(form, "pipeline_root")
            )
        )
        created = await backend.recurring_runs.CreateRecurringRun(
            recurring_runs_pb2.CreateRecurringRunRequest(recurring_run=recurring)
        )
        return see_other(f"/recurring-runs/{created.recurring_run_id}")

    @router.get("/recurring-runs/{recurring_run_id}")
    async def recurring_run(recurring_run_id: str, request: Request) -> Response:
        path = f"/recurring-runs/{recurring_run_id}"
        found, runs = await asyncio.gather(
            backend.recurring_runs.GetRecurringRun(
                recurring_runs_pb2.RecurringRunIdRequest(recurring_run_id=recurring_run_id)
            ),
            run_page(ui, RunQuery.parse(request.query_params), path=path, recurring_run_id=recurring_run_id),
        )
        if is_fragment(request):
            return render.page("_runs_table.html", **runs)
        item = to_dict(found)
        item.pop("pipeline_spec", None)
        await _describe([item])
        return render.page(
            "recurring_run.html", nav="recurring", recurring=item, trigger_text=trigger_text, **runs
        )

    @router.post("/recurring-runs/{recurring_run_id}/{action}")
    async def recurring_action(recurring_run_id: str, action: str, request: Request) -> Response:
        form = await read_form(request)
        request_id = recurring_runs_pb2.RecurringRunIdRequest(recurring_run_id=recurring_run_id)
        if action == "enable":
            await backend.recurring_runs.EnableRecurringRun(request_id)
        elif action == "disable":
            await backend.recurring_runs.DisableRecurringRun(request_id)
        elif action == "delete":
            await backend.recurring_runs.DeleteRecurringRun(request_id)
            return see_other("/recurring-runs")
        else:
            raise InvalidArgument(f"no recurring-run action {action!r}")
        return see_other(safe_next(form_text(form, "next"), f"/recurring-runs/{recurring_run_id}"))
