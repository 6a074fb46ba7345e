"""Resolving KFP placeholders in a container's command and args (pure).

Every element is a string, possibly with `{{$…}}` placeholders embedded in longer text,
or a structured placeholder: `{"Concat": [...]}` or `{"IfPresent": {"InputName": …,
"Then": [...], "Else": [...]}}`. The KFP compiler writes structured placeholders as
JSON-encoded strings; other producers write them as JSON objects; both are accepted.
Values come from the ExecutorInput, so what a task reads through a placeholder and what
it reads through `{{$}}` always agree. A substituted value is never scanned again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.core.errors import InvalidArgument
from services.core.pipeline.model import JsonValue
from services.executor.parameters import to_text
from services.executor.staging import file_uri_to_path
from services.executor.task import Arg

_PLACEHOLDER = re.compile(r"\{\{\$(.*?)\}\}")
_IO_PLACEHOLDER = re.compile(
    r"""^\.(?P<side>inputs|outputs)\.(?P<kind>parameters|artifacts)\[(?P<q>['"])(?P<name>.*?)(?P=q)\]"""
    r"""(?:\.(?P<attr>[A-Za-z_]+)(?:\[(?P<q2>['"])(?P<key>.*?)(?P=q2)\])?)?$"""
)
_PARAMETER_REFERENCE = re.compile(r"""\{\{\$\.inputs\.parameters\[(['"])(.*?)\1\]\}\}""")
_STRUCTURED_KEYS = frozenset({"Concat", "IfPresent"})

# Where KFP mounts remote artifacts inside a container (`kfp.dsl.Artifact.path`).
_MOUNT_PREFIXES = (("gs://", "/gcs/"), ("minio://", "/minio/"), ("s3://", "/s3/"))


@dataclass(frozen=True)
class RuntimeNames:
    """The values of the pipeline-level placeholders for one attempt."""

    pipeline_job_name: str
    """`{{$.pipeline_job_name}}`: the run's name."""
    pipeline_job_resource_name: str
    """`{{$.pipeline_job_resource_name}}`: the run's resource name."""
    pipeline_job_uuid: str
    """`{{$.pipeline_job_uuid}}`: the run's id."""
    pipeline_task_name: str
    """`{{$.pipeline_task_name}}`: the task's name in the pipeline."""
    pipeline_task_uuid: str
    """`{{$.pipeline_task_uuid}}`: the task execution's id."""
    pipeline_root: str
    """`{{$.pipeline_root}}`: the run's pipeline root."""


def kfp_local_path(uri: str) -> str:
    """The local path KFP gives an artifact URI (`gs://b/k` → `/gcs/b/k`); a path is itself."""
    if uri.startswith("file://"):
        return str(file_uri_to_path(uri))
    for prefix, mount in _MOUNT_PREFIXES:
        if uri.startswith(prefix):
            return mount + uri[len(prefix) :]
    return uri


def resolve_command(
    elements: Sequence[Arg],
    *,
    executor_input: Mapping[str, Any],
    names: RuntimeNames,
    artifact_path: Callable[[str], str] = kfp_local_path,
) -> list[str]:
    """Resolve every placeholder in `elements` (a command or args) into an argv list.

    Raises InvalidArgument naming the placeholder when one is unknown or malformed, or
    refers to an input parameter that was not provided.
    """
    resolver = _Resolver(executor_input=executor_input, names=names, artifact_path=artifact_path)
    argv: list[str] = []
    for element in elements:
        argv.extend(resolver.expand(element))
    return argv


def expand_parameter_references(values: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """Input parameter values with `{{$.inputs.parameters['x']}}` inside strings replaced.

    The KFP compiler turns an f-string argument (`f"a-{task.output}"`) into a constant
    holding a placeholder for another input parameter of the same task.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(2)
        return to_text(values[name]) if name in values else match.group(0)

    return {
        name: _PARAMETER_REFERENCE.sub(substitute, value) if isinstance(value, str) else value
        for name, value in values.items()
    }


def _structured(text: str) -> dict[str, Any] | None:
    """The structured placeholder a string encodes, or None for an ordinary string."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if isinstance(parsed, dict) and len(parsed) == 1 and next(iter(parsed)) in _STRUCTURED_KEYS:
        return parsed
    return None


class _Resolver:
    def __init__(
        self,
        *,
        executor_input: Mapping[str, Any],
        names: RuntimeNames,
        artifact_path: Callable[[str], str],
    ) -> None:
        self._input = executor_input
        self._artifact_path = artifact_path
        self._constants = {
            ".pipeline_job_name": names.pipeline_job_name,
            ".pipeline_job_resource_name": names.pipeline_job_resource_name,
            ".pipeline_job_uuid": names.pipeline_job_uuid,
            ".pipeline_task_name": names.pipeline_task_name,
            ".pipeline_task_uuid": names.pipeline_task_uuid,
            ".pipeline_root": names.pipeline_root,
        }
        self._executor_input_json: str | None = None

    def expand(self, element: object) -> list[str]:
        """An element as 0..n argv strings."""
        if isinstance(element, str):
            structured = _structured(element)
            return [self.substitute(element)] if structured is None else self.expand(structured)
        if isinstance(element, dict) and len(element) == 1:
            if "Concat" in element:
                return [self._concat(element["Concat"])]
            if "IfPresent" in element:
                return self._if_present(element["IfPresent"])
        raise InvalidArgument(f"unknown structured placeholder {json.dumps(element)}", field="args")

    def _concat(self, items: object) -> str:
        if not isinstance(items, list):
            raise InvalidArgument(f"Concat takes a list, got {json.dumps(items)}", field="args")
        return "".join("".join(self.expand(item)) for item in items)

    def _if_present(self, spec: object) -> list[str]:
        if not isinstance(spec, dict) or not isinstance(spec.get("InputName"), str):
            raise InvalidArgument(f"IfPresent needs an InputName, got {json.dumps(spec)}", field="args")
        branch = spec.get("Then") if self._is_present(spec["InputName"]) else spec.get("Else")
        if branch is None:
            return []
        items = branch if isinstance(branch, list) else [branch]
        return [text for item in items for text in self.expand(item)]

    def _is_present(self, name: str) -> bool:
        inputs = self._input.get("inputs", {})
        if inputs.get("parameterValues", {}).get(name) is not None:
            return True
        return bool(inputs.get("artifacts", {}).get(name, {}).get("artifacts"))

    def substitute(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda match: self._lookup(match.group(1)), text)

    def _lookup(self, expression: str) -> str:
        if expression == "":
            if self._executor_input_json is None:
                self._executor_input_json = json.dumps(self._input)
            return self._executor_input_json
        if expression in self._constants:
            return self._constants[expression]
        if expression in (".outputs.output_file", ".outputMetadataUri"):
            return str(self._input["outputs"]["outputFile"])
        match = _IO_PLACEHOLDER.match(expression)
        if match is not None:
            value = self._lookup_io(match)
            if value is not None:
                return value
        raise InvalidArgument(f"unknown placeholder '{{{{${expression}}}}}'", field="args")

    def _lookup_io(self, match: re.Match[str]) -> str | None:
        side, kind, name, attr, key = match.group("side", "kind", "name", "attr", "key")
        section = self._input.get(side, {})
        if kind == "parameters":
            if side == "inputs" and attr is None:
                values = section.get("parameterValues", {})
                if values.get(name) is None:
                    raise InvalidArgument(
                        f"placeholder '{{{{${match.group(0)}}}}}': input parameter {name!r} was not provided",
                        field=name,
                    )
                return to_text(values[name])
            if side == "outputs" and attr == "output_file" and key is None:
                return str(self._known(section.get("parameters", {}), name, match)["outputFile"])
            return None
        artifacts = self._known(section.get("artifacts", {}), name, match).get("artifacts") or []
        if not artifacts:
            raise InvalidArgument(
                f"placeholder '{{{{${match.group(0)}}}}}': artifact {name!r} was not provided", field=name
            )
        artifact = artifacts[0]
        if attr == "uri" and key is None:
            return str(artifact["uri"])
        if attr == "path" and key is None:
            return self._artifact_path(artifact["uri"])
        if attr == "metadata":
            metadata = artifact.get("metadata", {})
            return to_text(metadata if key is None else metadata.get(key))
        return None

    @staticmethod
    def _known(section: Mapping[str, Any], name: str, match: re.Match[str]) -> Mapping[str, Any]:
        if name not in section:
            raise InvalidArgument(
                f"placeholder '{{{{${match.group(0)}}}}}': no {name!r} in this task", field=name
            )
        entry: Mapping[str, Any] = section[name]
        return entry
