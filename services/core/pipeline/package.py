"""Find the `PipelineSpec` and optional `PlatformSpec` in what a user uploads or a client sends.

Only the shape is checked here (a mapping with the top-level keys of a PipelineSpec);
`services.core.pipeline.ir.parse_pipeline` checks the content against the reference schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from services.core.errors import InvalidArgument

_REQUIRED_KEYS = ("pipelineInfo", "root", "schemaVersion")
_NOT_A_SPEC = "not a KFP PipelineSpec"
# Wrappers around a spec: a PipelineJob (`pipelineSpec`), and the Struct in which KFP's API
# keeps a spec together with its platform config (`pipeline_spec` + `platform_spec`).
_WRAPPERS = (("pipelineSpec", "platformSpec"), ("pipeline_spec", "platform_spec"))


class _Loader(yaml.SafeLoader):
    """Safe YAML without timestamps: `2024-01-01` stays the string a KFP parameter expects."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_pipeline_package(data: bytes | str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The `PipelineSpec` and optional `PlatformSpec` held by a pipeline package.

    Accepts the IR as YAML (one document, or two: PipelineSpec then PlatformSpec) or JSON,
    a PipelineJob-style wrapper `{"pipelineSpec": …}`, and the
    `{"pipeline_spec": …, "platform_spec": …}` shape in which KFP's API keeps a spec
    with its platform config. Only the shape is checked here; `parse_pipeline` checks content.
    """
    documents = _documents(_text(data))
    if not documents:
        raise InvalidArgument(f"{_NOT_A_SPEC}: the package is empty", field="pipeline_spec")
    if len(documents) > 2:
        raise InvalidArgument(
            f"{_NOT_A_SPEC}: expected at most 2 YAML documents (PipelineSpec, PlatformSpec), "
            f"got {len(documents)}",
            field="pipeline_spec",
        )
    spec, platform = _unwrap(documents[0])
    if len(documents) == 2:
        if platform is not None:
            raise InvalidArgument(
                "the package holds two platform specs (inside document 1 and as document 2)",
                field="platform_spec",
            )
        platform = _mapping(documents[1], "document 2", platform=True)
    check_pipeline_spec_shape(spec)
    if platform is not None and "platforms" not in platform:
        raise InvalidArgument(
            f"not a KFP PlatformSpec: no 'platforms' key (found {describe_keys(platform)})",
            field="platform_spec",
        )
    return spec, platform


def check_pipeline_spec_shape(spec: Mapping[str, Any]) -> None:
    """`InvalidArgument` unless `spec` has the top-level keys of a `PipelineSpec`."""
    missing = [key for key in _REQUIRED_KEYS if key not in spec]
    if missing:
        raise InvalidArgument(
            f"{_NOT_A_SPEC}: missing {', '.join(repr(key) for key in missing)} (found {describe_keys(spec)})",
            field="pipeline_spec",
        )


def _text(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidArgument(
            f"{_NOT_A_SPEC}: the package is not UTF-8 text ({error.reason} at byte {error.start})",
            field="pipeline_spec",
        ) from None


def _documents(text: str) -> list[Any]:
    if text.lstrip().startswith(("{", "[")):
        try:
            return [json.loads(text)]
        except ValueError:
            pass  # YAML flow style also starts with "{"; let the YAML parser decide.
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as error:
        raise InvalidArgument(
            f"{_NOT_A_SPEC}: neither YAML nor JSON ({' '.join(str(error).split())})",
            field="pipeline_spec",
        ) from None
    except RecursionError:
        raise InvalidArgument(f"{_NOT_A_SPEC}: nested too deeply", field="pipeline_spec") from None
    return [document for document in documents if document is not None]


def _unwrap(document: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    outer = _mapping(document, "the pipeline package")
    if any(key in outer for key in _REQUIRED_KEYS):
        return outer, None
    for spec_key, platform_key in _WRAPPERS:
        if spec_key in outer:
            spec = _mapping(outer[spec_key], repr(spec_key))
            platform = outer.get(platform_key)
            return spec, None if platform is None else _mapping(platform, repr(platform_key), platform=True)
    return outer, None


def _mapping(value: Any, what: str, *, platform: bool = False) -> dict[str, Any]:
    if not isinstance(value, dict):
        kind, field = (
            ("not a KFP PlatformSpec", "platform_spec") if platform else (_NOT_A_SPEC, "pipeline_spec")
        )
        raise InvalidArgument(f"{kind}: {what} is a {_json_kind(value)}, not a mapping", field=field)
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def describe_keys(mapping: Mapping[Any, Any]) -> str:
    """The first keys of a mapping, quoted and sorted, for error messages."""
    keys = sorted(str(key) for key in mapping)
    if not keys:
        return "no keys"
    shown = ", ".join(repr(key) for key in keys[:8])
    return shown + (", ..." if len(keys) > 8 else "")
