"""`samples/xgboost_training.py` on the live server: metrics, confusion matrix, ROC curve,
and an exit handler that cleans up whether the training succeeds or fails."""

from __future__ import annotations

from pathlib import Path

from sluice.client import Artifact, Client, RunState

from samples.xgboost_training import xgboost_training

TEST_ROWS = 143  # 25 % of the 569 rows, stratified


def artifacts_by_name(client: Client, run_id: str) -> dict[str, Artifact]:
    return {artifact.name: artifact for artifact in client.list_artifacts(run_id=run_id)}


def test_training_logs_metrics_a_confusion_matrix_and_an_roc_curve(client: Client, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    run = client.run_pipeline(xgboost_training, {"scratch_dir": str(scratch)}, enable_caching=False)

    final = client.wait(run.run_id, timeout=120)

    assert final.succeeded, final.error
    assert final.task("prepare-data").output_parameters == {"Output": TEST_ROWS}
    evaluation = final.task("evaluate").output_parameters
    assert evaluation["accuracy"] > 0.9
    assert evaluation["auc"] > 0.95
    artifacts = artifacts_by_name(client, run.run_id)
    assert dict(artifacts["metrics"].metadata) == {
        "accuracy": evaluation["accuracy"],
        "auc": evaluation["auc"],
    }
    assert artifacts["model"].metadata["framework"] == "xgboost"
    assert artifacts["model"].size_bytes > 0

    classification = artifacts["classification"]
    assert classification.schema_title == "system.ClassificationMetrics"
    matrix = classification.metadata["confusionMatrix"]
    assert [c["displayName"] for c in matrix["annotationSpecs"]] == ["malignant", "benign"]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == TEST_ROWS
    roc = classification.metadata["confidenceMetrics"]
    assert len(roc) > 2
    assert {"confidenceThreshold", "recall", "falsePositiveRate"} <= set(roc[0])
    assert roc[-1]["recall"] == 1
    assert roc[-1]["falsePositiveRate"] == 1

    assert final.task("cleanup").output_parameters == {"Output": "SUCCEEDED"}
    assert not scratch.exists(), "the exit handler did not remove the scratch directory"
    assert f"removed {scratch}" in client.read_task_log(run.run_id, "cleanup")


def test_the_exit_handler_cleans_up_after_a_failure(client: Client, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    # A test fraction above 1 makes the split fail, after the scratch copy is written.
    arguments = {"scratch_dir": str(scratch), "test_fraction": 1.5}

    final = client.wait(
        client.run_pipeline(xgboost_training, arguments, enable_caching=False).run_id, timeout=120
    )

    assert final.state is RunState.FAILED
    assert final.task("prepare-data").state is RunState.FAILED
    assert final.task("train").state in (RunState.PENDING, RunState.SKIPPED, RunState.CANCELED)
    assert final.task("cleanup").state is RunState.SUCCEEDED
    assert final.task("cleanup").output_parameters == {"Output": "FAILED"}
    assert not scratch.exists()
