"""The Sluice task runtime: runs one Python component function inside a task.

This one module is all a Sluice-compiled Python component needs at run time. The compiler
embeds its text in every Python component's command (as KFP embeds the user's function),
so a task needs nothing but `python3` (3.9 or newer) in its image: no `pip install` of
Sluice or KFP. It imports only the standard library and nothing else from `sluice`, so it
runs the same way as `sluice.runtime.executor` (in Sluice's own environment) and as the
file `sluice_runtime.py` written next to the component inside a task.

Command line (what the compiled command runs)::

    python3 sluice_runtime.py --component_module_path PATH --function_to_execute NAME \\
        --executor_input JSON --interface JSON

- `--component_module_path`: the component's module as the compiler shipped it (the
  function, the helpers, constants and imports it uses; imports of `sluice.dsl` rewritten
  to `sluice_runtime`, which provides the artifact classes and type markers).
- `--executor_input`: KFP's ExecutorInput (`{{$}}`).
- `--interface`: how each function argument is fed and how the return value maps to
  outputs, decided by the compiler (see `execute`), so nothing here re-reads annotations.

The task writes the ExecutorOutput JSON to `outputs.outputFile`: `parameterValues` for
returned values and `artifacts` with each output artifact's metadata (how `Metrics` and
`ClassificationMetrics` reach the UI). A launcher that keeps a warm interpreter with
this module imported can call `load_function` and `execute` directly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # only the type checker pays for `typing`
    from collections.abc import Callable
    from typing import Any

RUNTIME_MODULE_NAME = "sluice_runtime"
"""The name the shipped component module imports artifact classes from."""
COMPONENT_MODULE_NAME = "sluice_component"
"""The module name the component's shipped module is loaded under."""

_MOUNT_PREFIXES = (("gs://", "/gcs/"), ("minio://", "/minio/"), ("s3://", "/s3/"))


def uri_to_local_path(uri: str) -> str:
    """Where a task reads/writes an artifact: KFP's mounts for remote URIs, else the path itself."""
    for prefix, mount in _MOUNT_PREFIXES:
        if uri.startswith(prefix):
            return mount + uri[len(prefix) :]
    if uri.startswith("file://"):
        return uri[len("file://") :]
    return uri


def local_path_to_uri(path: str) -> str:
    """The inverse of `uri_to_local_path` for KFP's mounts; other paths stay paths."""
    for prefix, mount in _MOUNT_PREFIXES:
        if path.startswith(mount):
            return prefix + path[len(mount) :]
    return path


# --- artifacts -------------------------------------------------------------------------------


class Artifact:
    """A generic ML artifact: a `uri` where its bytes live, a local `path`, and `metadata`."""

    schema_title = "system.Artifact"
    schema_version = "0.0.1"

    def __init__(
        self, name: str | None = None, uri: str | None = None, metadata: dict[str, Any] | None = None
    ):
        self.name = name or ""
        self.uri = uri or ""
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}

    @property
    def path(self) -> str:
        """The local path of the artifact inside the task."""
        return uri_to_local_path(self.uri)

    @path.setter
    def path(self, path: str) -> None:
        self.uri = local_path_to_uri(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r}, metadata={self.metadata!r})"


class Dataset(Artifact):
    """A data set."""

    schema_title = "system.Dataset"


class Model(Artifact):
    """A trained model; `framework` is kept in its metadata."""

    schema_title = "system.Model"

    @property
    def framework(self) -> str:
        return str(self.metadata.get("framework", ""))

    @framework.setter
    def framework(self, framework: str) -> None:
        self.metadata["framework"] = framework


class Metrics(Artifact):
    """Scalar metrics, kept in the artifact's metadata."""

    schema_title = "system.Metrics"

    def log_metric(self, metric: str, value: float) -> None:
        """Record a scalar metric."""
        self.metadata[metric] = value


class ClassificationMetrics(Artifact):
    """A confusion matrix and an ROC curve, in the metadata shape KFP's UI reads."""

    schema_title = "system.ClassificationMetrics"

    def log_roc_data_point(self, fpr: float, tpr: float, threshold: float) -> None:
        """Add one point of the ROC curve."""
        point = {"confidenceThreshold": threshold, "recall": tpr, "falsePositiveRate": fpr}
        self.metadata.setdefault("confidenceMetrics", []).append(point)

    def log_roc_curve(self, fpr: list[float], tpr: list[float], threshold: list[float]) -> None:
        """Add an ROC curve given as three lists of the same length."""
        if not len(fpr) == len(tpr) == len(threshold):
            raise ValueError(
                "fpr, tpr and threshold must have the same length; "
                f"got {len(fpr)}, {len(tpr)} and {len(threshold)}"
            )
        for point in zip(fpr, tpr, threshold):  # noqa: B905 - strict= needs Python 3.10
            self.log_roc_data_point(*point)

    def set_confusion_matrix_categories(self, categories: list[str]) -> None:
        """Start a confusion matrix of zeros over `categories`."""
        self._categories = list(categories)
        self.metadata["confusionMatrix"] = {
            "annotationSpecs": [{"displayName": category} for category in categories],
            "rows": [{"row": [0] * len(categories)} for _ in categories],
        }

    def log_confusion_matrix_row(self, row_category: str, row: list[int] | list[float]) -> None:
        """Set the row of `row_category`."""
        index = self._category_index(row_category)
        if len(row) != len(self._categories):
            raise ValueError(f"the row has {len(row)} values; expected {len(self._categories)}")
        self.metadata["confusionMatrix"]["rows"][index] = {"row": list(row)}

    def log_confusion_matrix_cell(self, row_category: str, col_category: str, value: int) -> None:
        """Set one cell."""
        row, col = self._category_index(row_category), self._category_index(col_category)
        self.metadata["confusionMatrix"]["rows"][row]["row"][col] = value

    def log_confusion_matrix(self, categories: list[str], matrix: list[list[int]]) -> None:
        """Record a whole confusion matrix: `matrix[i][j]` counts category i predicted as j."""
        if len(matrix) != len(categories) or any(len(row) != len(categories) for row in matrix):
            raise ValueError(f"the matrix {matrix!r} is not square over the categories {categories!r}")
        self.set_confusion_matrix_categories(categories)
        for category, row in zip(categories, matrix):  # noqa: B905
            self.log_confusion_matrix_row(category, row)

    def _category_index(self, category: str) -> int:
        categories: list[str] = getattr(self, "_categories", [])
        if category not in categories:
            raise ValueError(f"unknown category {category!r}; expected one of {categories!r}")
        return categories.index(category)


class HTML(Artifact):
    """An HTML document the UI renders."""

    schema_title = "system.HTML"


class Markdown(Artifact):
    """A Markdown document the UI renders."""

    schema_title = "system.Markdown"


ARTIFACT_CLASSES: dict[str, type[Artifact]] = {
    cls.schema_title: cls
    for cls in (Artifact, Dataset, Model, Metrics, ClassificationMetrics, HTML, Markdown)
}
"""Artifact classes by schema title."""


class PipelineTaskFinalStatus:
    """What an exit task learns about the tasks it guards."""

    def __init__(
        self,
        state: str,
        pipeline_job_resource_name: str,
        pipeline_task_name: str,
        error_code: int | None,
        error_message: str | None,
    ):
        self.state = state
        self.pipeline_job_resource_name = pipeline_job_resource_name
        self.pipeline_task_name = pipeline_task_name
        self.error_code = error_code
        self.error_message = error_message

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> PipelineTaskFinalStatus:
        """From the parameter value the engine passes (camelCase or snake_case keys)."""
        error = value.get("error") or {}
        return cls(
            state=value.get("state", ""),
            pipeline_job_resource_name=value.get(
                "pipelineJobResourceName", value.get("pipeline_job_resource_name", "")
            ),
            pipeline_task_name=value.get("pipelineTaskName", value.get("pipeline_task_name", "")),
            error_code=error.get("code"),
            error_message=error.get("message"),
        )

    def __repr__(self) -> str:
        return (
            f"PipelineTaskFinalStatus(state={self.state!r}, pipeline_task_name={self.pipeline_task_name!r}, "
            f"error_code={self.error_code!r}, error_message={self.error_message!r})"
        )


class _Marker:
    """`Input[...]`/`Output[...]` inside a task: annotations only, so `X[T]` is just `T`."""

    def __init__(self, name: str):
        self._name = name

    def __getitem__(self, item: Any) -> Any:
        return item

    def __repr__(self) -> str:
        return self._name


Input = _Marker("Input")
Output = _Marker("Output")


class InputPath:
    """`InputPath(...)` inside a task: an annotation only."""

    def __init__(self, type: Any = None):
        self.type = type


class OutputPath(InputPath):
    """`OutputPath(...)` inside a task: an annotation only."""


# --- running a function --------------------------------------------------------------------


def load_function(module_path: str, function_name: str) -> Callable[..., Any]:
    """Import the shipped component module from `module_path` and return its function."""
    sys.modules.setdefault(RUNTIME_MODULE_NAME, sys.modules[__name__])
    spec = importlib.util.spec_from_file_location(COMPONENT_MODULE_NAME, module_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the component module {module_path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[COMPONENT_MODULE_NAME] = module
    spec.loader.exec_module(module)
    function: Callable[..., Any] = getattr(module, function_name)
    return function


def execute(
    func: Callable[..., Any], executor_input: dict[str, Any], interface: dict[str, Any]
) -> dict[str, Any]:
    """Call `func` with its inputs, write the ExecutorOutput file, and return what was written.

    `interface["inputs"]` maps each argument to how it is fed: `{"kind": "parameter",
    "type": <IR parameter type>}`, `{"kind": "input_artifact", "list": bool}`,
    `{"kind": "output_artifact"}`, `{"kind": "input_path"}`, `{"kind": "output_parameter_path"}`,
    `{"kind": "output_artifact_path"}` or `{"kind": "final_status"}`; `"optional": true` when a
    missing value means None (an optional input without a default in the signature).
    `interface["outputs"]` lists the returned outputs as
    `{"name", "kind": "parameter" | "artifact", "type"}`, and `interface["returns"]` says
    whether the function returns one value (`"value"`), a NamedTuple (`"tuple"`) or nothing.
    """
    inputs = executor_input.get("inputs", {})
    outputs = executor_input.get("outputs", {})
    values: dict[str, Any] = inputs.get("parameterValues") or {}
    input_artifacts: dict[str, Any] = inputs.get("artifacts") or {}
    output_artifacts = {
        name: _make_artifact(entry["artifacts"][0])
        for name, entry in (outputs.get("artifacts") or {}).items()
        if entry.get("artifacts")
    }
    for artifact in output_artifacts.values():
        _make_parent(artifact.path)

    kwargs: dict[str, Any] = {}
    for name, spec in interface.get("inputs", {}).items():
        kind = spec["kind"]
        if kind == "parameter":
            if values.get(name) is not None:
                kwargs[name] = _coerce(values[name], spec["type"])
            elif spec.get("optional"):
                kwargs[name] = None
        elif kind == "final_status":
            kwargs[name] = PipelineTaskFinalStatus.from_value(values.get(name) or {})
        elif kind in ("input_artifact", "input_path"):
            runtime_artifacts = (input_artifacts.get(name) or {}).get("artifacts") or []
            if not runtime_artifacts:
                if spec.get("list"):
                    kwargs[name] = []
                elif spec.get("optional"):
                    kwargs[name] = None
                continue
            artifacts = [_make_artifact(runtime_artifact) for runtime_artifact in runtime_artifacts]
            if kind == "input_path":
                kwargs[name] = artifacts[0].path
            else:
                kwargs[name] = artifacts if spec.get("list") else artifacts[0]
        elif kind == "output_artifact":
            kwargs[name] = output_artifacts[name]
        elif kind == "output_artifact_path":
            kwargs[name] = output_artifacts[name].path
        elif kind == "output_parameter_path":
            path = outputs["parameters"][name]["outputFile"]
            _make_parent(path)
            kwargs[name] = path
        else:
            raise ValueError(f"unknown input kind {kind!r} for {name!r}")

    result = func(**kwargs)

    parameter_values: dict[str, Any] = {}
    returned = _returned_outputs(func, result, interface)
    for output in interface.get("outputs", []):
        name = output["name"]
        if name not in returned:
            continue
        value = returned[name]
        if output["kind"] == "parameter":
            parameter_values[name] = _check_returned(func, name, value, output["type"])
        elif isinstance(value, Artifact):
            value.uri = output_artifacts[name].uri
            output_artifacts[name] = value
        else:
            with open(output_artifacts[name].path, "w") as file:
                file.write(str(value))

    executor_output: dict[str, Any] = {}
    if parameter_values:
        executor_output["parameterValues"] = parameter_values
    if output_artifacts:
        executor_output["artifacts"] = {
            name: {"artifacts": [{"name": artifact.name, "uri": artifact.uri, "metadata": artifact.metadata}]}
            for name, artifact in output_artifacts.items()
        }
    output_file = outputs.get("outputFile")
    if output_file:
        _make_parent(output_file)
        with open(output_file, "w") as file:
            json.dump(executor_output, file)
    return executor_output


def _returned_outputs(func: Callable[..., Any], result: Any, interface: dict[str, Any]) -> dict[str, Any]:
    returns = interface.get("returns", "none")
    names = [output["name"] for output in interface.get("outputs", [])]
    if returns == "value":
        return {} if result is None else {names[0]: result}
    if returns == "tuple":
        if result is None:
            return {}
        if not isinstance(result, tuple) or len(result) != len(names):
            raise TypeError(
                f"{func.__name__} must return a tuple of {len(names)} values ({', '.join(names)}); "
                f"it returned {result!r}"
            )
        fields = getattr(result, "_fields", None)
        if fields is not None and set(fields) == set(names):
            return {name: getattr(result, name) for name in names}
        return dict(zip(names, result))  # noqa: B905
    return {}


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (int, float),
    "BOOLEAN": (bool,),
    "LIST": (list, tuple),
    "STRUCT": (dict,),
}


def _check_returned(func: Callable[..., Any], name: str, value: Any, parameter_type: str) -> Any:
    expected = _PYTHON_TYPES.get(parameter_type, (object,))
    is_number = parameter_type in ("NUMBER_INTEGER", "NUMBER_DOUBLE")
    if not isinstance(value, expected) or (is_number and isinstance(value, bool)):
        raise TypeError(
            f"{func.__name__} returned {type(value).__name__} {value!r} for output {name!r}, "
            f"declared {' or '.join(t.__name__ for t in expected)}"
        )
    return list(value) if isinstance(value, tuple) else value


def _coerce(value: Any, parameter_type: str) -> Any:
    """A parameter value as its declared type (numbers travel as doubles, JSON as text)."""
    if parameter_type == "NUMBER_INTEGER":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value)
    elif parameter_type == "NUMBER_DOUBLE":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return float(value)
    elif parameter_type == "BOOLEAN" and isinstance(value, str):
        return value.strip().lower() == "true"
    elif parameter_type in ("LIST", "STRUCT") and isinstance(value, str):
        return json.loads(value)
    return value


def _make_artifact(runtime_artifact: dict[str, Any]) -> Artifact:
    schema_title = (runtime_artifact.get("type") or {}).get("schemaTitle", "")
    cls = ARTIFACT_CLASSES.get(schema_title, Artifact)
    artifact = cls(
        name=runtime_artifact.get("name", ""),
        uri=runtime_artifact.get("uri", ""),
        metadata=dict(runtime_artifact.get("metadata") or {}),
    )
    if cls is Artifact and schema_title:
        artifact.schema_title = schema_title
    return artifact


def _make_parent(path: str) -> None:
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)


def main(argv: list[str] | None = None) -> None:
    """Run the component the command line names (see the module docstring).

    A failure prints the traceback from the component's own code down (the runtime's frames
    are noise to the user) and exits with status 1.
    """
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        func = load_function(args["--component_module_path"], args["--function_to_execute"])
        execute(func, json.loads(args["--executor_input"]), json.loads(args["--interface"]))
    except Exception as error:
        import traceback

        frames = error.__traceback__
        while frames is not None and frames.tb_frame.f_code.co_filename == __file__:
            frames = frames.tb_next
        traceback.print_exception(type(error), error, frames)
        raise SystemExit(1) from None


def _parse_args(argv: list[str]) -> dict[str, str]:
    required = ("--component_module_path", "--function_to_execute", "--executor_input", "--interface")
    if len(argv) % 2:
        raise SystemExit(f"usage: {' '.join(f'{name} VALUE' for name in required)}")
    args = dict(zip(argv[::2], argv[1::2]))  # noqa: B905
    missing = [name for name in required if name not in args]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}")
    return args


if __name__ == "__main__":
    main()
