"""The Sluice DSL: components, pipelines, artifacts and control flow, named as in `kfp.dsl`.

Porting a KFP pipeline is changing `from kfp import dsl` to `from sluice import dsl`.
Mistakes are reported when a pipeline is defined, as `CompileError` naming the component,
the argument and the line.
"""

from typing import TYPE_CHECKING, Any

from sluice.dsl.channels import OneOf
from sluice.dsl.components import (
    BaseComponent,
    ContainerComponent,
    PythonComponent,
    component,
    container_component,
    importer,
)
from sluice.dsl.errors import CompileError, SourceLocation
from sluice.dsl.groups import Condition, Elif, Else, ExitHandler, If, ParallelFor
from sluice.dsl.pipeline import Pipeline, pipeline
from sluice.dsl.placeholders import (
    PIPELINE_JOB_ID_PLACEHOLDER,
    PIPELINE_JOB_NAME_PLACEHOLDER,
    PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER,
    PIPELINE_ROOT_PLACEHOLDER,
    PIPELINE_TASK_ID_PLACEHOLDER,
    PIPELINE_TASK_NAME_PLACEHOLDER,
    ConcatPlaceholder,
    ContainerSpec,
    IfPresentPlaceholder,
)
from sluice.dsl.tasks import PipelineTask
from sluice.dsl.types import Input, InputPath, Output, OutputPath
from sluice.runtime.executor import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Markdown,
    Metrics,
    Model,
    PipelineTaskFinalStatus,
)

if TYPE_CHECKING:
    # For type checkers `Collected(...)` is a pipeline value like `task.output` (Any), so a
    # pipeline can return it from `-> list[int]`; at run time it is the class.
    def Collected(output: Any) -> Any: ...

else:
    from sluice.dsl.channels import Collected

__all__ = [
    "HTML",
    "PIPELINE_JOB_ID_PLACEHOLDER",
    "PIPELINE_JOB_NAME_PLACEHOLDER",
    "PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER",
    "PIPELINE_ROOT_PLACEHOLDER",
    "PIPELINE_TASK_ID_PLACEHOLDER",
    "PIPELINE_TASK_NAME_PLACEHOLDER",
    "Artifact",
    "BaseComponent",
    "ClassificationMetrics",
    "Collected",
    "CompileError",
    "ConcatPlaceholder",
    "Condition",
    "ContainerComponent",
    "ContainerSpec",
    "Dataset",
    "Elif",
    "Else",
    "ExitHandler",
    "If",
    "IfPresentPlaceholder",
    "Input",
    "InputPath",
    "Markdown",
    "Metrics",
    "Model",
    "OneOf",
    "Output",
    "OutputPath",
    "ParallelFor",
    "Pipeline",
    "PipelineTask",
    "PipelineTaskFinalStatus",
    "PythonComponent",
    "SourceLocation",
    "component",
    "container_component",
    "importer",
    "pipeline",
]
