"""Experiments: the list, create, archive/restore, and an experiment's page with its runs
and recurring runs."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from sluice.v1 import experiments_pb2, recurring_runs_pb2

from services.core.errors import InvalidArgument
from services.gateway.ui.context import (
    PAGE_SIZE,
    Ui,
    equals,
    filter_json,
    form_text,
    is_fragment,
    read_form,
    safe_next,
    see_other,
    substring,
    with_query,
)
from services.gateway.ui.data import to_dict
from services.gateway.ui.pages_recurring import trigger_text
from services.gateway.ui.runs_list import RunQuery, run_page


def add_routes(router: APIRouter, ui: Ui) -> None:
    backend = ui.data.backend
    render = ui.renderer

    @router.get("/experiments")
    async def experiments(request: Request) -> Response:
        params = request.query_params
        view = "archived" if params.get("view") == "archived" else "active"
        q = params.get("q", "").strip()
        token = params.get("page_token", "")
        predicates = [equals("storage_state", "ARCHIVED" if view == "archived" else "AVAILABLE")]
        if q:
            predicates.append(substring("display_name", q))
        page = await backend.experiments.ListExperiments(
            experiments_pb2.ListExperimentsRequest(
                page_token=token,
                page_size=PAGE_SIZE,
                sort_by="created_at desc",
                filter=filter_json(*predicates),
            )
        )
        base = [("view", view if view == "archived" else ""), ("q", q)]
        return render.page(
            "experiments.html",
            nav="experiments",
            experiments=[to_dict(e) for e in page.experiments],
            total=page.total_size,
            view=view,
            q=q,
            next_url=with_query("/experiments", [*base, ("page_token", page.next_page_token)])
            if page.next_page_token
            else "",
            first_url=with_query("/experiments", base) if token else "",
            error="",
        )

    @router.post("/experiments")
    async def create_experiment(request: Request) -> Response:
        form = await read_form(request)
        name = form_text(form, "display_name")
        created = await backend.experiments.CreateExperiment(
            experiments_pb2.CreateExperimentRequest(
                experiment=experiments_pb2.Experiment(
                    display_name=name, description=form_text(form, "description")
                )
            )
        )
        return see_other(f"/experiments/{created.experiment_id}")

    @router.get("/experiments/{experiment_id}")
    async def experiment(experiment_id: str, request: Request) -> Response:
        query = RunQuery.parse(request.query_params)
        path = f"/experiments/{experiment_id}"
        found, runs, recurring = await asyncio.gather(
            backend.experiments.GetExperiment(
                experiments_pb2.GetExperimentRequest(experiment_id=experiment_id)
            ),
            run_page(ui, query, path=path, experiment_id=experiment_id),
            backend.recurring_runs.ListRecurringRuns(
                recurring_runs_pb2.ListRecurringRunsRequest(
                    experiment_id=experiment_id, page_size=50, sort_by="created_at desc"
                )
            ),
        )
        if is_fragment(request):
            return render.page("_runs_table.html", **runs)
        return render.page(
            "experiment.html",
            nav="experiments",
            experiment=to_dict(found),
            recurring_runs=[to_dict(r) for r in recurring.recurringRuns],
            trigger_text=trigger_text,
            next_url_here=path,
            **runs,
        )

    @router.post("/experiments/{experiment_id}/{action}")
    async def experiment_action(experiment_id: str, action: str, request: Request) -> Response:
        form = await read_form(request)
        if action == "archive":
            await backend.experiments.ArchiveExperiment(
                experiments_pb2.ArchiveExperimentRequest(experiment_id=experiment_id)
            )
        elif action == "unarchive":
            await backend.experiments.UnarchiveExperiment(
                experiments_pb2.UnarchiveExperimentRequest(experiment_id=experiment_id)
            )
        elif action == "delete":
            # As KFP: the experiment's runs and recurring runs stay, without an experiment.
            await backend.experiments.DeleteExperiment(
                experiments_pb2.DeleteExperimentRequest(experiment_id=experiment_id)
            )
            return see_other(safe_next(form_text(form, "next"), "/experiments"))
        else:
            raise InvalidArgument(f"no experiment action {action!r}")
        return see_other(safe_next(form_text(form, "next"), f"/experiments/{experiment_id}"))
