"""Artifacts of every type: written, read, logged as metrics; paths; an artifact return."""
# mypy: disable-error-code="no-any-return"
# (a pipeline returns task outputs, which are pipeline values, typed Any, not the values they will hold)

from sluice import dsl
from sluice.dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    InputPath,
    Markdown,
    Metrics,
    Model,
    Output,
    OutputPath,
)


@dsl.component(base_image="python:3.11")
def prepare(rows: int, data: Output[Dataset], report: Output[HTML], notes: Output[Markdown]) -> None:
    with open(data.path, "w") as file:
        file.write("\n".join(str(row) for row in range(rows)))
    data.metadata["rows"] = rows
    with open(report.path, "w") as file:
        file.write("<h1>data</h1>")
    with open(notes.path, "w") as file:
        file.write("# data")


@dsl.component(base_image="python:3.11")
def train(
    data: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
) -> None:
    with open(data.path) as file:
        count = len(file.read().splitlines())
    with open(model.path, "w") as file:
        file.write(str(count))
    model.framework = "none"
    metrics.log_metric("rows", count)
    classification.log_confusion_matrix(["a", "b"], [[count, 0], [0, count]])
    classification.log_roc_curve([0.0, 1.0], [0.0, 1.0], [1.0, 0.0])


@dsl.component(base_image="python:3.11")
def describe_model(model_path: InputPath("Model"), summary: OutputPath(str)) -> Artifact:  # type: ignore[valid-type]
    with open(model_path) as file, open(summary, "w") as out:
        out.write(file.read())
    return Artifact(metadata={"described": True})


@dsl.pipeline(name="artifacts")
def artifacts_pipeline(rows: int = 10) -> Model:
    prepared = prepare(rows=rows)
    trained = train(data=prepared.outputs["data"])
    describe_model(model_path=trained.outputs["model"])
    return trained.outputs["model"]


PIPELINE = artifacts_pipeline
