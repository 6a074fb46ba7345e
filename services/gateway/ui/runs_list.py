"""One page of a run list with its names and metrics: the runs page, and the run lists
of an experiment and of a recurring run. One ListRuns call for the page, then the
names not cached yet and the metrics of the page's runs, all at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sluice.v1 import runs_pb2

from services.gateway.ui.context import PAGE_SIZE, Ui, equals, filter_json, substring, with_query
from services.gateway.ui.data import to_dict
from services.gateway.ui.status import RUN_STATES

METRIC_COLUMNS = 3
FIRST_PAGE = "~"
"""Stands for the first page's (empty) token in the ``back`` trail."""

SORTS = (
    ("created_at desc", "Newest first"),
    ("created_at", "Oldest first"),
    ("display_name", "Name A\u2013Z"),
    ("display_name desc", "Name Z\u2013A"),
    ("finished_at desc", "Recently finished"),
    ("state", "Status"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunQuery:
    """What the user asked of a run list (all from the query string)."""

    q: str = ""
    state: str = ""
    sort: str = SORTS[0][0]
    view: str = "active"
    page_token: str = ""
    back: tuple[str, ...] = ()
    page_size: int = PAGE_SIZE

    @classmethod
    def parse(cls, params: Any) -> RunQuery:
        sort = params.get("sort", SORTS[0][0])
        state = params.get("state", "")
        try:
            size = min(max(int(params.get("page_size", PAGE_SIZE)), 1), 200)
        except ValueError:
            size = PAGE_SIZE
        return cls(
            q=params.get("q", "").strip(),
            state=state if state in RUN_STATES else "",
            sort=sort if sort in dict(SORTS) else SORTS[0][0],
            view="archived" if params.get("view") == "archived" else "active",
            page_token=params.get("page_token", ""),
            back=tuple(params.getlist("back")) if hasattr(params, "getlist") else (),
            page_size=size,
        )

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """This query as URL parameters, with ``changes``."""
        values: dict[str, Any] = {
            "q": self.q,
            "state": self.state,
            "sort": self.sort if self.sort != SORTS[0][0] else "",
            "view": self.view if self.view != "active" else "",
            "page_size": str(self.page_size) if self.page_size != PAGE_SIZE else "",
            "page_token": self.page_token,
            "back": self.back,
        }
        values.update(changes)
        out: list[tuple[str, str]] = []
        for key, value in values.items():
            if isinstance(value, tuple | list):
                out.extend((key, v) for v in value)
            elif value:
                out.append((key, str(value)))
        return out


async def run_page(
    ui: Ui, query: RunQuery, *, path: str, experiment_id: str = "", recurring_run_id: str = ""
) -> dict[str, Any]:
    """The template context of one page of runs."""
    predicates = [equals("storage_state", "ARCHIVED" if query.view == "archived" else "AVAILABLE")]
    if query.q:
        predicates.append(substring("display_name", query.q))
    if query.state:
        predicates.append(equals("state", query.state))
    if recurring_run_id:
        predicates.append(equals("recurring_run_id", recurring_run_id))
    page = await ui.data.backend.runs.ListRuns(
        runs_pb2.ListRunsRequest(
            page_token=query.page_token,
            page_size=query.page_size,
            sort_by=query.sort,
            filter=filter_json(*predicates),
            experiment_id=experiment_id,
        )
    )
    runs = [to_dict(run) for run in page.runs]
    for run in runs:
        run.pop("pipeline_spec", None)
    run_ids = [run["run_id"] for run in runs]
    # A finished run carries its metrics (cache hits included); the others' are read from
    # their artifacts as they appear.
    recorded = {run["run_id"]: dict(run["metrics"]) for run in runs if run.get("metrics")}
    unrecorded = [run_id for run_id in run_ids if run_id not in recorded]
    _, read = await asyncio.gather(ui.data.describe_runs(runs), ui.data.metrics_of_runs(unrecorded))
    metrics = {run_id: recorded.get(run_id) or read.get(run_id, {}) for run_id in run_ids}
    metric_names: list[str] = []
    for run_id in run_ids:
        # By name: neither a Metrics artifact's metadata nor a run's metrics keep an order.
        for name in sorted(metrics[run_id]):
            if name not in metric_names and len(metric_names) < METRIC_COLUMNS:
                metric_names.append(name)
    first = len(query.back) * query.page_size + 1 if runs else 0
    next_url = (
        with_query(
            path,
            query.params(page_token=page.next_page_token, back=(*query.back, query.page_token or FIRST_PAGE)),
        )
        if page.next_page_token
        else ""
    )
    previous_url = ""
    if query.back:
        token = query.back[-1]
        previous_url = with_query(
            path, query.params(page_token="" if token == FIRST_PAGE else token, back=query.back[:-1])
        )
    return {
        "runs": runs,
        "metrics": metrics,
        "metric_names": metric_names,
        "total": page.total_size,
        "first": first,
        "last": first + len(runs) - 1 if runs else 0,
        "next_url": next_url,
        "previous_url": previous_url,
        "query": query,
        "sorts": SORTS,
        "path": path,
        "this_url": with_query(path, query.params()),
        "experiment_id": experiment_id,
        "recurring_run_id": recurring_run_id,
    }
