"""The REST routes, one module per resource; `ROUTERS` lists them for the app."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.http.routes import (
    artifacts,
    experiments,
    healthz,
    pipelines,
    recurring_runs,
    run_events,
    run_outputs,
    runs,
    task_logs,
)

ROUTERS: tuple[APIRouter, ...] = (
    healthz.router,
    experiments.router,
    pipelines.router,
    runs.router,
    run_outputs.router,
    task_logs.router,
    artifacts.router,
    run_events.router,
    recurring_runs.router,
)
