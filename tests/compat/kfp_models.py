"""Checks that KFP's own client models (`kfp_server_api`) read Sluice's JSON without loss.

`assert_lossless` deserializes a response body the way `kfp.Client` does, then walks the
body and the model side by side: every KFP field must arrive with its value (times as the
same instant, enums among the values the model allows), and every property the model
does not know must be one of Sluice's documented extensions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import kfp_server_api  # type: ignore[import-untyped]
from kfp_server_api import models

# Properties Sluice adds to KFP's messages (see the protos' "Sluice extension" comments).
EXTENSIONS: Mapping[str, frozenset[str]] = {
    "V2beta1Run": frozenset({"disable_cache"}),
    "V2beta1Experiment": frozenset({"webhook_url"}),
    "V2beta1RecurringRun": frozenset({"webhook_url"}),
    "V2beta1PipelineTaskDetail": frozenset(
        {
            "input_parameters",
            "output_parameters",
            "task_name",
            "kind",
            "attempts",
            "cached_from_task_id",
            "log_uri",
        }
    ),
    "V2beta1GetHealthzResponse": frozenset({"commit_sha", "tag_name"}),
}


def deserialize(client: kfp_server_api.ApiClient, data: Any, type_name: str) -> Any:
    """What `kfp.Client` turns ``data`` into for a response of ``type_name``."""
    return client._ApiClient__deserialize(data, type_name)


def assert_lossless(client: kfp_server_api.ApiClient, data: Any, type_name: str) -> Any:
    """Deserialize ``data`` as ``type_name`` and check nothing KFP knows was lost."""
    value = deserialize(client, data, type_name)
    _compare(data, value, type_name, type_name)
    return value


def _compare(raw: Any, value: Any, type_name: str, path: str) -> None:
    if type_name.startswith("list["):
        item_type = type_name[5:-1]
        assert isinstance(raw, list), path
        assert len(value) == len(raw), path
        for index, (raw_item, item) in enumerate(zip(raw, value, strict=True)):
            _compare(raw_item, item, item_type, f"{path}[{index}]")
        return
    if type_name.startswith("dict("):
        match = re.fullmatch(r"dict\(([^,]*), (.*)\)", type_name)
        assert match is not None
        assert isinstance(raw, dict), path
        assert set(value) == set(raw), path
        for key, raw_item in raw.items():
            _compare(raw_item, value[key], match.group(2), f"{path}.{key}")
        return
    if type_name == "datetime":
        assert isinstance(value, datetime), path
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        assert abs(value.timestamp() - parsed.timestamp()) < 1e-6, path
        return
    if type_name in ("str", "int", "bool", "float", "object"):
        assert value == raw, f"{path}: {value!r} != {raw!r}"
        return
    klass = getattr(models, type_name)
    if not klass.openapi_types:
        # An enum: the model keeps the string; it must be one KFP knows.
        assert value == raw, path
        assert raw in klass.allowable_values, f"{path}: {raw!r}"
        return
    assert isinstance(raw, dict), f"{path}: {raw!r} is not an object"
    known = {json_key: attribute for attribute, json_key in klass.attribute_map.items()}
    for key, raw_item in raw.items():
        if key not in known:
            assert key in EXTENSIONS.get(type_name, frozenset()), f"{path}.{key} is unknown to KFP"
            continue
        attribute = known[key]
        _compare(raw_item, getattr(value, attribute), klass.openapi_types[attribute], f"{path}.{key}")
