"""Executors: what a task runs (a container or an importer), and the interface of its component.

Python components run with Sluice's own task runtime, embedded in the command:

    command: [sh, -c, <pip install packages_to_install> && "$0" "$@",     # only with packages
              sh, -ec, <write the two files, run the runtime>, <runtime source>, <component module>]
    args:    [--executor_input, {{$}}, --function_to_execute, <name>, --interface, <JSON>]

The runtime (`sluice.runtime.executor`, standard library only) and the shipped component
module (`sluice.dsl.shipping`) travel as the script's positional arguments, exactly as KFP
ships a function's source, so the task needs only `python3` in its image: no Sluice or KFP
install, no network. The pip prefix has the shape KFP writes, so a runner that recognises it
(Sluice's local launcher does) skips the install when the packages are already present.
"""

from __future__ import annotations

import ast
import functools
import math
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sluice.dsl.components import ContainerComponent, ImporterComponent, PythonComponent
from sluice.dsl.interface import ComponentInterface
from sluice.dsl.types import ArtifactType, Role
from sluice.runtime import executor as runtime

if TYPE_CHECKING:
    from sluice.dsl.tasks import PipelineTask, Resources

RUNTIME_FILE = f"{runtime.RUNTIME_MODULE_NAME}.py"
COMPONENT_FILE = f"{runtime.COMPONENT_MODULE_NAME}.py"

_INSTALL_SCRIPT = """
if ! [ -x "$(command -v pip)" ]; then
    python3 -m ensurepip || python3 -m ensurepip --user || apt-get install python3-pip
fi

PIP_DISABLE_PIP_VERSION_CHECK=1 {install} && "$0" "$@"
"""

_RUN_SCRIPT = f"""program_path=$(mktemp -d)
printf "%s" "$0" > "$program_path/{RUNTIME_FILE}"
printf "%s" "$1" > "$program_path/{COMPONENT_FILE}"
shift
exec python3 "$program_path/{RUNTIME_FILE}" --component_module_path "$program_path/{COMPONENT_FILE}" "$@"
"""

_BYTES_PER_UNIT = {
    "E": 10**18, "Ei": 2**60, "P": 10**15, "Pi": 2**50, "T": 10**12, "Ti": 2**40,
    "G": 10**9, "Gi": 2**30, "M": 10**6, "Mi": 2**20, "K": 10**3, "Ki": 2**10,
}  # fmt: skip


@functools.cache
def runtime_source() -> str:
    """The task runtime's text as embedded in every Python component: its code, without docstrings
    and comment lines (a third of its size), otherwise exactly as written."""
    source = Path(runtime.__file__).read_text(encoding="utf-8")
    lines = source.splitlines()
    dropped: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and len(node.body) > 1:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                dropped.update(range(first.lineno - 1, (first.end_lineno or first.lineno)))
    kept = [
        line for index, line in enumerate(lines) if index not in dropped and not line.lstrip().startswith("#")
    ]
    return re.sub(r"\n{3,}", "\n\n\n", "\n".join(kept).strip("\n")) + "\n"


def component_spec(interface: ComponentInterface) -> dict[str, Any]:
    """The IR `ComponentSpec` of an interface: input and output definitions (no implementation)."""
    parameters: dict[str, Any] = {}
    artifacts: dict[str, Any] = {}
    for spec in interface.inputs.values():
        if isinstance(spec.type, ArtifactType):
            entry: dict[str, Any] = {"artifactType": spec.type.to_ir()}
            if spec.is_list:
                entry["isArtifactList"] = True
            if spec.optional:
                entry["isOptional"] = True
            artifacts[spec.name] = entry
            continue
        entry = {"parameterType": spec.type.kind.value}
        if spec.optional:
            entry["isOptional"] = True
        if spec.default is not None:
            entry["defaultValue"] = spec.default
        parameters[spec.name] = entry
    output_parameters: dict[str, Any] = {}
    output_artifacts: dict[str, Any] = {}
    for output in interface.outputs.values():
        if isinstance(output.type, ArtifactType):
            entry = {"artifactType": output.type.to_ir()}
            if output.is_list:
                entry["isArtifactList"] = True
            output_artifacts[output.name] = entry
        else:
            output_parameters[output.name] = {"parameterType": output.type.kind.value}
    result: dict[str, Any] = {}
    if parameters or artifacts:
        result["inputDefinitions"] = _nonempty(parameters=parameters, artifacts=artifacts)
    if output_parameters or output_artifacts:
        result["outputDefinitions"] = _nonempty(parameters=output_parameters, artifacts=output_artifacts)
    return result


def _nonempty(**sections: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in sections.items() if value}


def container_spec(task: PipelineTask) -> dict[str, Any]:
    """The container a task of a Python or container component runs."""
    component = task.component
    settings = task.settings
    if isinstance(component, PythonComponent):
        container: dict[str, Any] = {
            "image": settings.image or component.base_image,
            "command": _python_command(component),
            "args": [
                "--executor_input",
                "{{$}}",
                "--function_to_execute",
                component.python_func.__name__,
                "--interface",
                component.runtime_interface(),
            ],
        }
    else:
        assert isinstance(component, ContainerComponent)
        container = {"image": settings.image or component.image}
        if component.command:
            container["command"] = list(component.command)
        if component.args:
            container["args"] = list(component.args)
    if settings.env:
        container["env"] = [{"name": name, "value": value} for name, value in settings.env.items()]
    resources = _resources(settings.resources)
    if resources:
        container["resources"] = resources
    return container


def _python_command(component: PythonComponent) -> list[str]:
    command: list[str] = []
    if component.packages_to_install:
        options = _index_options(component.pip_index_urls)
        packages = " ".join(shlex.quote(package) for package in component.packages_to_install)
        install = f"python3 -m pip install --quiet --no-warn-script-location {options}{packages}"
        command += ["sh", "-c", _INSTALL_SCRIPT.format(install=install)]
    return [*command, "sh", "-ec", _RUN_SCRIPT, runtime_source(), component.source]


def _index_options(urls: list[str]) -> str:
    if not urls:
        return ""
    options = [f"--index-url {shlex.quote(urls[0])}"]
    options += [f"--extra-index-url {shlex.quote(url)}" for url in urls[1:]]
    hosts = sorted({urlsplit(url).hostname or "" for url in urls if url.startswith("http://")} - {""})
    options += [f"--trusted-host {host}" for host in hosts]
    return " ".join(options) + " "


def _resources(resources: Resources) -> dict[str, Any]:
    """KFP's resource fields: the `resource…` strings, and the older numeric fields beside them."""
    spec: dict[str, Any] = {}
    if resources.cpu_request is not None:
        spec["resourceCpuRequest"] = resources.cpu_request
        spec["cpuRequest"] = _cpu(resources.cpu_request)
    if resources.cpu_limit is not None:
        spec["resourceCpuLimit"] = resources.cpu_limit
        spec["cpuLimit"] = _cpu(resources.cpu_limit)
    if resources.memory_request is not None:
        spec["resourceMemoryRequest"] = resources.memory_request
        spec["memoryRequest"] = _gigabytes(resources.memory_request)
    if resources.memory_limit is not None:
        spec["resourceMemoryLimit"] = resources.memory_limit
        spec["memoryLimit"] = _gigabytes(resources.memory_limit)
    if resources.accelerator_count is not None:
        accelerator: dict[str, Any] = {
            "resourceCount": resources.accelerator_count,
            "count": resources.accelerator_count,
        }
        if resources.accelerator_type is not None:
            accelerator["resourceType"] = resources.accelerator_type
            accelerator["type"] = resources.accelerator_type
        spec["accelerator"] = accelerator
    return spec


def _cpu(text: str) -> float:
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _gigabytes(text: str) -> float:
    for unit in sorted(_BYTES_PER_UNIT, key=len, reverse=True):
        if text.endswith(unit):
            value = float(text[: -len(unit)]) * _BYTES_PER_UNIT[unit] / 10**9
            return float(f"{value:.12g}") if math.isfinite(value) else value
    return float(text) / 10**9


def importer_spec(component: ImporterComponent) -> dict[str, Any]:
    """The IR `ImporterSpec` of an importer task."""
    spec: dict[str, Any] = {
        "artifactUri": (
            {"constant": component.constant_uri}
            if component.constant_uri is not None
            else {"runtimeParameter": "uri"}
        ),
        "typeSchema": component.artifact_type.to_ir(),
    }
    if component.metadata:
        spec["metadata"] = component.metadata
    if component.reimport:
        spec["reimport"] = True
    return spec


def final_status_inputs(interface: ComponentInterface) -> list[str]:
    """The inputs of a component that receive a `PipelineTaskFinalStatus`."""
    return [name for name, spec in interface.inputs.items() if spec.role is Role.FINAL_STATUS]
