"""A task's Kubernetes executor config (kfp-kubernetes' `KubernetesExecutorConfig`) as pod parts.

The config is the PlatformSpec entry `platforms.kubernetes.deploymentSpec.executors.<label>`
in its protobuf JSON form (camelCase). Names given as parameters (`secretNameParameter`,
`pvcNameParameter`, …) name a pipeline parameter or an upstream output in the scope of the
enclosing DAG, which only the scheduler sees: it sends them as `runtimeValue` constants
(`services.scheduler.engine.platform`). A spec it left as it was is looked up among the
task's input parameter values, under its name or its channel name
(`pipelinechannel--<name>`), else the task fails naming it. Options Sluice cannot honour
are errors, never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.core.errors import InvalidArgument
from services.core.pipeline.model import JsonValue

_UNSUPPORTED = ("podAffinity", "initContainers", "podResourceClaims")


@dataclass(frozen=True)
class PlatformParts:
    """What the executor config adds to the pod."""

    env: tuple[dict[str, Any], ...] = ()
    """Env vars from secrets, config maps and field paths."""
    volumes: tuple[dict[str, Any], ...] = ()
    """Pod volumes."""
    volume_mounts: tuple[dict[str, Any], ...] = ()
    """The main container's mounts of those volumes."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """`spec.nodeSelector`."""
    tolerations: tuple[dict[str, Any], ...] = ()
    """`spec.tolerations`."""
    affinity: Mapping[str, Any] = field(default_factory=dict)
    """`spec.affinity` (node affinity)."""
    image_pull_secrets: tuple[str, ...] = ()
    """Names of `spec.imagePullSecrets`."""
    image_pull_policy: str = ""
    """The container's `imagePullPolicy`."""
    active_deadline_seconds: int | None = None
    """The pod's deadline from `kubernetes.set_timeout`."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Pod labels from `podMetadata`."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Pod annotations from `podMetadata`."""
    security_context: Mapping[str, Any] = field(default_factory=dict)
    """The container's `securityContext`."""


def platform_parts(config: Mapping[str, JsonValue], inputs: Mapping[str, JsonValue]) -> PlatformParts:
    """The pod parts of one executor config; raises InvalidArgument for what cannot be honoured."""
    unsupported = [key for key in config if key in _UNSUPPORTED]
    unknown = [key for key in config if key not in _HANDLERS and key not in _UNSUPPORTED]
    if unsupported or unknown:
        names = ", ".join(sorted(unsupported + unknown))
        raise InvalidArgument(
            f"Kubernetes platform option(s) not supported by Sluice's launcher: {names}", field="platform"
        )
    builder = _Builder(inputs)
    for key, value in config.items():
        _HANDLERS[key](builder, value)
    return builder.parts()


class _Builder:
    def __init__(self, inputs: Mapping[str, JsonValue]) -> None:
        self.inputs = inputs
        self.env: list[dict[str, Any]] = []
        self.volumes: list[dict[str, Any]] = []
        self.mounts: list[dict[str, Any]] = []
        self.node_selector: dict[str, str] = {}
        self.tolerations: list[dict[str, Any]] = []
        self.affinity: dict[str, Any] = {}
        self.pull_secrets: list[str] = []
        self.pull_policy = ""
        self.deadline: int | None = None
        self.labels: dict[str, str] = {}
        self.annotations: dict[str, str] = {}
        self.security_context: dict[str, Any] = {}

    def parts(self) -> PlatformParts:
        return PlatformParts(
            env=tuple(self.env),
            volumes=tuple(self.volumes),
            volume_mounts=tuple(self.mounts),
            node_selector=self.node_selector,
            tolerations=tuple(self.tolerations),
            affinity=self.affinity,
            image_pull_secrets=tuple(self.pull_secrets),
            image_pull_policy=self.pull_policy,
            active_deadline_seconds=self.deadline,
            labels=self.labels,
            annotations=self.annotations,
            security_context=self.security_context,
        )

    def mount(self, volume: dict[str, Any], entry: Mapping[str, JsonValue], what: str) -> None:
        self.volumes.append(volume)
        mount: dict[str, Any] = {"name": volume["name"], "mountPath": _text(entry.get("mountPath"), what)}
        sub_path = entry.get("subPath")
        if sub_path:
            mount["subPath"] = _text(sub_path, what)
        self.mounts.append(mount)

    def name(self, entry: Mapping[str, JsonValue], *, parameter: str, legacy: str, what: str) -> str:
        """An object name given as a parameter spec (preferred) or as the deprecated constant."""
        spec = entry.get(parameter)
        value = resolve_parameter(spec, self.inputs, what) if spec else entry.get(legacy)
        return _text(value, what)

    def json_value(self, spec: JsonValue, what: str) -> JsonValue:
        value = resolve_parameter(spec, self.inputs, what)
        if isinstance(value, str):
            try:
                parsed: JsonValue = json.loads(value)
            except ValueError:
                raise InvalidArgument(f"{what} is not JSON: {value!r}", field="platform") from None
            return parsed
        return value


def resolve_parameter(spec: JsonValue, inputs: Mapping[str, JsonValue], what: str) -> JsonValue:
    """The value of a kfp `InputParameterSpec`: a constant (as the scheduler sends every
    value it resolved), else a value among the task's inputs.

    A pipeline parameter (`componentInputParameter`) or an upstream output
    (`taskOutputParameter`) the scheduler did not resolve is looked up in `inputs` under the
    parameter's name, its channel name (`pipelinechannel--<name>`), or the upstream
    output's channel name (`pipelinechannel--<producer>-<key>`).
    """
    given = _object(spec, what)
    if "runtimeValue" in given:
        return _object(given["runtimeValue"], what).get("constant")
    if "componentInputParameter" in given:
        name = _text(given["componentInputParameter"], what)
        candidates = [name, f"pipelinechannel--{name}"]
        source = f"pipeline parameter {name!r}"
    elif "taskOutputParameter" in given:
        output = _object(given["taskOutputParameter"], what)
        producer = _text(output.get("producerTask"), what)
        key = _text(output.get("outputParameterKey"), what)
        candidates = [f"pipelinechannel--{producer}-{key}"]
        source = f"output {key!r} of task {producer!r}"
    else:
        raise InvalidArgument(f"{what}: unsupported parameter spec {json.dumps(spec)}", field="platform")
    for candidate in candidates:
        if candidate in inputs:
            return inputs[candidate]
    raise InvalidArgument(
        f"{what} takes its value from {source}, which this task was not given", field="platform"
    )


def _secret_as_volume(builder: _Builder, value: JsonValue) -> None:
    for index, entry in enumerate(_entries(value, "secretAsVolume")):
        what = f"secretAsVolume[{index}]"
        secret: dict[str, Any] = {
            "secretName": builder.name(entry, parameter="secretNameParameter", legacy="secretName", what=what)
        }
        _copy_optional(entry, secret)
        builder.mount({"name": f"secret-volume-{index}", "secret": secret}, entry, what)


def _config_map_as_volume(builder: _Builder, value: JsonValue) -> None:
    for index, entry in enumerate(_entries(value, "configMapAsVolume")):
        what = f"configMapAsVolume[{index}]"
        name = builder.name(entry, parameter="configMapNameParameter", legacy="configMapName", what=what)
        config_map: dict[str, Any] = {"name": name}
        _copy_optional(entry, config_map)
        builder.mount({"name": f"configmap-volume-{index}", "configMap": config_map}, entry, what)


def _secret_as_env(builder: _Builder, value: JsonValue) -> None:
    for index, entry in enumerate(_entries(value, "secretAsEnv")):
        what = f"secretAsEnv[{index}]"
        name = builder.name(entry, parameter="secretNameParameter", legacy="secretName", what=what)
        for mapping in _entries(entry.get("keyToEnv", []), what):
            ref: dict[str, Any] = {"name": name, "key": _text(mapping.get("secretKey"), what)}
            _copy_optional(entry, ref)
            builder.env.append(
                {"name": _text(mapping.get("envVar"), what), "valueFrom": {"secretKeyRef": ref}}
            )


def _config_map_as_env(builder: _Builder, value: JsonValue) -> None:
    for index, entry in enumerate(_entries(value, "configMapAsEnv")):
        what = f"configMapAsEnv[{index}]"
        name = builder.name(entry, parameter="configMapNameParameter", legacy="configMapName", what=what)
        for mapping in _entries(entry.get("keyToEnv", []), what):
            ref: dict[str, Any] = {"name": name, "key": _text(mapping.get("configMapKey"), what)}
            _copy_optional(entry, ref)
            builder.env.append(
                {"name": _text(mapping.get("envVar"), what), "valueFrom": {"configMapKeyRef": ref}}
            )


def _field_path_as_env(builder: _Builder, value: JsonValue) -> None:
    for index, entry in enumerate(_entries(value, "fieldPathAsEnv")):
        what = f"fieldPathAsEnv[{index}]"
        builder.env.append(
            {
                "name": _text(entry.get("name"), what),
                "valueFrom": {"fieldRef": {"fieldPath": _text(entry.get("fieldPath"), what)}},
            }
        )


def _pvc_mount(builder: _Builder, value: JsonValue) -> None:
    for index, entry in enumerate(_entries(value, "pvcMount")):
        what = f"pvcMount[{index}]"
        if entry.get("pvcNameParameter"):
            claim = resolve_parameter(entry["pvcNameParameter"], builder.inputs, what)
        elif "constant" in entry:
            claim = entry["constant"]
        elif "componentInputParameter" in entry:
            claim = resolve_parameter(
                {"componentInputParameter": entry["componentInputParameter"]}, builder.inputs, what
            )
        elif "taskOutputParameter" in entry:
            claim = resolve_parameter(
                {"taskOutputParameter": entry["taskOutputParameter"]}, builder.inputs, what
            )
        else:
            raise InvalidArgument(f"{what} names no persistent volume claim", field="platform")
        volume = {"name": f"pvc-volume-{index}", "persistentVolumeClaim": {"claimName": _text(claim, what)}}
        builder.mount(volume, entry, what)


def _empty_dir_mounts(builder: _Builder, value: JsonValue) -> None:
    for index, entry in enumerate(_entries(value, "emptyDirMounts")):
        what = f"emptyDirMounts[{index}]"
        empty_dir: dict[str, Any] = {}
        if entry.get("medium"):
            empty_dir["medium"] = _text(entry["medium"], what)
        if entry.get("sizeLimit"):
            empty_dir["sizeLimit"] = _text(entry["sizeLimit"], what)
        builder.mount({"name": _text(entry.get("volumeName"), what), "emptyDir": empty_dir}, entry, what)


def _shared_memory(builder: _Builder, value: JsonValue) -> None:
    entry = _object(value, "enabledSharedMemory")
    empty_dir: dict[str, Any] = {"medium": "Memory"}
    if entry.get("size"):
        empty_dir["sizeLimit"] = _text(entry["size"], "enabledSharedMemory")
    name = _text(entry.get("volumeName") or "shm", "enabledSharedMemory")
    builder.volumes.append({"name": name, "emptyDir": empty_dir})
    builder.mounts.append({"name": name, "mountPath": "/dev/shm"})


def _generic_ephemeral_volume(builder: _Builder, value: JsonValue) -> None:
    for index, entry in enumerate(_entries(value, "genericEphemeralVolume")):
        what = f"genericEphemeralVolume[{index}]"
        claim_spec: dict[str, Any] = {
            "accessModes": [_text(mode, what) for mode in _list(entry.get("accessModes", []), what)],
            "resources": {"requests": {"storage": _text(entry.get("size"), what)}},
        }
        if not entry.get("defaultStorageClass") and entry.get("storageClassName"):
            claim_spec["storageClassName"] = _text(entry["storageClassName"], what)
        template: dict[str, Any] = {"spec": claim_spec}
        metadata = _object(entry.get("metadata", {}), what)
        if metadata:
            template["metadata"] = {
                key: _string_map(metadata[key], what) for key in ("labels", "annotations") if key in metadata
            }
        volume = {
            "name": _text(entry.get("volumeName"), what),
            "ephemeral": {"volumeClaimTemplate": template},
        }
        builder.mount(volume, entry, what)


def _node_selector(builder: _Builder, value: JsonValue) -> None:
    entry = _object(value, "nodeSelector")
    if entry.get("nodeSelectorJson"):
        selector = builder.json_value(entry["nodeSelectorJson"], "nodeSelector.nodeSelectorJson")
        builder.node_selector = _string_map(selector, "nodeSelector.nodeSelectorJson")
    else:
        builder.node_selector = _string_map(entry.get("labels", {}), "nodeSelector.labels")


def _tolerations(builder: _Builder, value: JsonValue) -> None:
    for index, entry in enumerate(_entries(value, "tolerations")):
        what = f"tolerations[{index}]"
        if entry.get("tolerationJson"):
            given = builder.json_value(entry["tolerationJson"], f"{what}.tolerationJson")
            builder.tolerations.extend(
                dict(_object(item, what)) for item in (given if isinstance(given, list) else [given])
            )
            continue
        toleration: dict[str, Any] = {
            key: _text(entry[key], what) for key in ("key", "operator", "value", "effect") if entry.get(key)
        }
        if entry.get("tolerationSeconds") is not None:
            toleration["tolerationSeconds"] = _integer(entry["tolerationSeconds"], what)
        builder.tolerations.append(toleration)


def _node_affinity(builder: _Builder, value: JsonValue) -> None:
    required: list[dict[str, Any]] = []
    preferred: list[dict[str, Any]] = []
    for index, entry in enumerate(_entries(value, "nodeAffinity")):
        what = f"nodeAffinity[{index}]"
        if entry.get("nodeAffinityJson"):
            given = builder.json_value(entry["nodeAffinityJson"], f"{what}.nodeAffinityJson")
            builder.affinity = {"nodeAffinity": dict(_object(given, what))}
            return
        term = {
            key: [_requirement(item, what) for item in _list(entry[key], what)]
            for key in ("matchExpressions", "matchFields")
            if entry.get(key)
        }
        if entry.get("weight") is not None:
            preferred.append({"weight": _integer(entry["weight"], what), "preference": term})
        else:
            required.append(term)
    node_affinity: dict[str, Any] = {}
    if required:
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": required}
    if preferred:
        node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    if node_affinity:
        builder.affinity = {"nodeAffinity": node_affinity}


def _requirement(value: JsonValue, what: str) -> dict[str, Any]:
    entry = _object(value, what)
    requirement: dict[str, Any] = {
        "key": _text(entry.get("key"), what),
        "operator": _text(entry.get("operator"), what),
    }
    if entry.get("values"):
        requirement["values"] = [_text(item, what) for item in _list(entry["values"], what)]
    return requirement


def _pod_metadata(builder: _Builder, value: JsonValue) -> None:
    entry = _object(value, "podMetadata")
    builder.labels = _string_map(entry.get("labels", {}), "podMetadata.labels")
    builder.annotations = _string_map(entry.get("annotations", {}), "podMetadata.annotations")


def _image_pull_secret(builder: _Builder, value: JsonValue) -> None:
    for index, entry in enumerate(_entries(value, "imagePullSecret")):
        builder.pull_secrets.append(
            builder.name(
                entry, parameter="secretNameParameter", legacy="secretName", what=f"imagePullSecret[{index}]"
            )
        )


def _image_pull_policy(builder: _Builder, value: JsonValue) -> None:
    policy = _text(value, "imagePullPolicy")
    if policy not in ("Always", "Never", "IfNotPresent"):
        raise InvalidArgument(
            f"imagePullPolicy {policy!r} is not Always, Never or IfNotPresent", field="platform"
        )
    builder.pull_policy = policy


def _active_deadline(builder: _Builder, value: JsonValue) -> None:
    seconds = _integer(value, "activeDeadlineSeconds")
    builder.deadline = seconds if seconds > 0 else None


def _security_context(builder: _Builder, value: JsonValue) -> None:
    entry = _object(value, "securityContext")
    for key in ("runAsUser", "runAsGroup"):
        if entry.get(key) is not None:
            builder.security_context[key] = _integer(entry[key], f"securityContext.{key}")
    if entry.get("runAsNonRoot") is not None:
        builder.security_context["runAsNonRoot"] = bool(entry["runAsNonRoot"])


_HANDLERS: dict[str, Callable[[_Builder, JsonValue], None]] = {
    "secretAsVolume": _secret_as_volume,
    "secretAsEnv": _secret_as_env,
    "configMapAsVolume": _config_map_as_volume,
    "configMapAsEnv": _config_map_as_env,
    "fieldPathAsEnv": _field_path_as_env,
    "pvcMount": _pvc_mount,
    "emptyDirMounts": _empty_dir_mounts,
    "enabledSharedMemory": _shared_memory,
    "genericEphemeralVolume": _generic_ephemeral_volume,
    "nodeSelector": _node_selector,
    "tolerations": _tolerations,
    "nodeAffinity": _node_affinity,
    "podMetadata": _pod_metadata,
    "imagePullSecret": _image_pull_secret,
    "imagePullPolicy": _image_pull_policy,
    "activeDeadlineSeconds": _active_deadline,
    "securityContext": _security_context,
}


def _copy_optional(entry: Mapping[str, JsonValue], target: dict[str, Any]) -> None:
    if entry.get("optional") is not None:
        target["optional"] = bool(entry["optional"])


def _entries(value: JsonValue, what: str) -> list[Mapping[str, JsonValue]]:
    return [_object(item, f"{what}[{index}]") for index, item in enumerate(_list(value, what))]


def _object(value: JsonValue, what: str) -> Mapping[str, JsonValue]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be an object", field="platform")
    return value


def _list(value: JsonValue, what: str) -> list[JsonValue]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{what} must be a list", field="platform")
    return value


def _text(value: JsonValue, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(
            f"{what}: expected a non-empty string, got {json.dumps(value)}", field="platform"
        )
    return value


def _integer(value: JsonValue, what: str) -> int:
    """An int64: protobuf JSON writes it as a string, a person may write a number."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{what} must be an integer", field="platform")
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise InvalidArgument(f"{what} must be an integer, not {json.dumps(value)}", field="platform")


def _string_map(value: JsonValue, what: str) -> dict[str, str]:
    entries = _object(value, what)
    if not all(isinstance(item, str) for item in entries.values()):
        raise InvalidArgument(f"{what} must map names to strings", field="platform")
    return {key: str(item) for key, item in entries.items()}
