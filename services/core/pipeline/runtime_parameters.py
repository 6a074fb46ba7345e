"""A run's pipeline parameters: the caller's values checked, coerced and completed.

KFP's API takes `runtime_config.parameters` as protobuf `Value`s, so `kfp.Client` sends
JSON-typed values whose numbers are doubles (`3.0` for an `int` parameter); KFP's UI sends
every value as text. Both are accepted:

- a value of the declared kind is coerced as everywhere else (`3.0` → `3` for
  `NUMBER_INTEGER`, integral numbers inside lists and structs back to ints);
- a string given for a non-`STRING` parameter is parsed as the UI's text: a decimal number
  (`"3"`, `"2.5"`) for `NUMBER_INTEGER` / `NUMBER_DOUBLE`, `"true"` / `"false"` (any case)
  for `BOOLEAN`, JSON text for `LIST` / `STRUCT`;
- `null` means "not given": the default applies, or an optional parameter stays unset.

Anything else is refused; all problems are reported together, each naming the parameter,
its type and the value.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.core.errors import InvalidArgument
from services.core.pipeline.model import JsonValue, Pipeline
from services.core.pipeline.values import ParameterValueError, coerce_parameter, describe_value

_FIELD = "runtime_config.parameters"


def resolve_run_parameters(pipeline: Pipeline, given: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """The root DAG's input parameters for a new run: `given` coerced, defaults filled in.

    An optional parameter without a default that is not given is left out. Raises
    `InvalidArgument` for unknown names, missing required parameters and ill-typed values."""
    declared = pipeline.root.inputs.parameters
    problems: list[str] = []
    for name in sorted(given):
        if name in declared:
            continue
        if name in pipeline.root.inputs.artifacts:
            problems.append(f"{name!r} is an input artifact of the pipeline, not a parameter")
        else:
            known = ", ".join(repr(key) for key in sorted(declared)) or "none"
            problems.append(f"unknown parameter {name!r} (the pipeline's parameters: {known})")
    resolved: dict[str, JsonValue] = {}
    for name, spec in declared.items():
        value = given.get(name)
        if value is None:
            if spec.has_default:
                resolved[name] = spec.default
            elif not spec.optional:
                problems.append(f"missing required parameter {name!r} of type {spec.type.value}")
            continue
        try:
            resolved[name] = coerce_parameter(value, spec.type, from_text=True)
        except ParameterValueError as error:
            problems.append(
                f"parameter {name!r} of type {spec.type.value} cannot take {describe_value(value)}: "
                f"{error.reason}"
            )
    if problems:
        raise InvalidArgument("invalid run parameters: " + "; ".join(problems), field=_FIELD)
    return resolved
