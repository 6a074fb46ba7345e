"""Pipeline specs as the API carries and the store keeps them, validated once.

The stored form is KFP's: the PipelineSpec dict itself, or, when the IR had a second
document, `{"pipeline_spec": <PipelineSpec>, "platform_spec": <PlatformSpec>}` (what KFP's
API returns for a version and what `kfp.Client` sends inline). Both forms are accepted on
the way in, as is a PipelineSpec carrying a top-level "platform_spec" key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.core.errors import InvalidArgument
from services.core.pipeline.ir import parse_pipeline
from services.core.pipeline.model import JsonValue, Pipeline

PIPELINE_SPEC_KEY = "pipeline_spec"
PLATFORM_SPEC_KEY = "platform_spec"


@dataclass(frozen=True)
class ValidatedSpec:
    """A spec that parsed into a `Pipeline`, with its stored form."""

    pipeline_spec: dict[str, JsonValue]
    platform_spec: dict[str, JsonValue] | None
    pipeline: Pipeline

    @property
    def stored(self) -> dict[str, JsonValue]:
        return join_pipeline_spec(self.pipeline_spec, self.platform_spec)


def split_pipeline_spec(
    spec: Mapping[str, JsonValue],
) -> tuple[dict[str, JsonValue], dict[str, JsonValue] | None]:
    """(PipelineSpec, PlatformSpec or None) from any accepted form. Raises InvalidArgument."""
    platform = spec.get(PLATFORM_SPEC_KEY)
    if platform is not None and not isinstance(platform, dict):
        raise InvalidArgument("platform_spec must be an object", field=PLATFORM_SPEC_KEY)
    inner = spec.get(PIPELINE_SPEC_KEY)
    if inner is not None:
        if not isinstance(inner, dict):
            raise InvalidArgument("pipeline_spec must be an object", field=PIPELINE_SPEC_KEY)
        return inner, platform or None
    pipeline_spec = {key: value for key, value in spec.items() if key != PLATFORM_SPEC_KEY}
    return pipeline_spec, platform or None


def join_pipeline_spec(
    pipeline_spec: dict[str, JsonValue], platform_spec: Mapping[str, JsonValue] | None
) -> dict[str, JsonValue]:
    """The stored form (see the module docstring)."""
    if not platform_spec:
        return pipeline_spec
    return {PIPELINE_SPEC_KEY: pipeline_spec, PLATFORM_SPEC_KEY: dict(platform_spec)}


def validate_specs(
    pipeline_spec: dict[str, JsonValue], platform_spec: dict[str, JsonValue] | None
) -> ValidatedSpec:
    """Parse the IR into the typed model. Raises InvalidArgument."""
    if not pipeline_spec:
        raise InvalidArgument("pipeline_spec is empty", field=PIPELINE_SPEC_KEY)
    pipeline = parse_pipeline(pipeline_spec, platform_spec)
    return ValidatedSpec(pipeline_spec=pipeline_spec, platform_spec=platform_spec, pipeline=pipeline)


def validate_spec(spec: Mapping[str, JsonValue]) -> ValidatedSpec:
    """Validate a spec in any accepted form. Raises InvalidArgument."""
    pipeline_spec, platform_spec = split_pipeline_spec(spec)
    return validate_specs(pipeline_spec, platform_spec)
