"""``GET /apis/v2beta1/healthz``: what `kfp.Client` asks first."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.http import schemas
from services.gateway.http.context import API_PREFIX, Context

router = APIRouter(prefix=API_PREFIX, tags=["HealthzService"])


@router.get("/healthz", operation_id="HealthzService_GetHealthz", response_model=schemas.Healthz)
async def get_healthz(context: Context) -> schemas.Healthz:
    return schemas.Healthz(
        commit_sha=context.config.commit_sha,
        tag_name=context.config.tag_name,
        multi_user=False,
        pipeline_store="database",
    )
