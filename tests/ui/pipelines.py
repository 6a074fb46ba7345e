"""The pipeline the UI tests upload, compiled with the real `kfp` SDK: a slow first step
(so a browser can watch the graph change), a ParallelFor, and an evaluation that logs
scalar metrics, a confusion matrix and a ROC curve through kfp's own artifact methods.

No ``from __future__ import annotations`` here: kfp reads the annotations at run time.
"""

# kfp is untyped: its decorators make the functions untyped.
# mypy: disable-error-code="untyped-decorator"

from pathlib import Path

from kfp import compiler, dsl
from kfp.dsl import ClassificationMetrics, Markdown, Metrics, Output


@dsl.component(base_image="python:3.11")
def prepare(seconds: float) -> int:
    import time

    print("preparing the data", flush=True)
    time.sleep(seconds)
    print("prepared", flush=True)
    return 3


@dsl.component(base_image="python:3.11")
def shard(index: int) -> int:
    print(f"shard {index}")
    return index * index


@dsl.component(base_image="python:3.11")
def evaluate(
    rows: int,
    threshold: float,
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    report: Output[Markdown],
) -> None:
    print(f"evaluating {rows} rows at threshold {threshold}")
    metrics.log_metric("accuracy", 0.85 + threshold / 10)
    metrics.log_metric("loss", 0.31)
    classification.log_confusion_matrix(["cat", "dog", "bird"], [[9, 1, 0], [2, 7, 1], [0, 1, 8]])
    classification.log_roc_curve(
        fpr=[0.0, 0.1, 0.3, 1.0], tpr=[0.0, 0.5 + threshold / 4, 0.9, 1.0], threshold=[1.0, 0.7, 0.4, 0.0]
    )
    with open(report.path, "w") as out:
        out.write("# Evaluation\n\nAll **good**. <script>alert('x')</script>\n")


@dsl.pipeline(name="ui-demo", description="A pipeline for the UI tests")
def ui_demo(seconds: float = 3.0, threshold: float = 0.5, label: str = "demo") -> None:
    prepared = prepare(seconds=seconds)
    with dsl.ParallelFor([1, 2]) as index:
        shard(index=index).after(prepared)
    evaluate(rows=prepared.output, threshold=threshold)


def compile_ui_demo(directory: Path) -> Path:
    path = directory / "ui_demo.yaml"
    compiler.Compiler().compile(ui_demo, str(path))
    return path
