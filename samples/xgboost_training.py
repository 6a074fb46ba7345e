# mypy: disable-error-code="no-any-return, import-untyped"
"""XGBoost training with a confusion matrix and an ROC curve.

KFP's classic *XGBoost training with confusion matrix* sample, rebuilt with Sluice's DSL
on a data set that ships with scikit-learn (breast cancer: 569 rows, 30 features, two
classes), so it needs no download and runs in seconds:

1. `prepare_data` splits the data set into train and test CSV files, keeping a scratch copy
   of the raw data in `scratch_dir` (the kind of resource a real pipeline must release);
2. `train` fits an `xgboost` classifier;
3. `predict` scores the test set;
4. `evaluate` logs accuracy and AUC (`Metrics`), a confusion matrix and an ROC curve
   (`ClassificationMetrics`: the UI draws both);
5. `cleanup`, the exit handler, deletes the scratch directory whether the steps above
   succeeded or failed, and reports how they ended.

Run it on a local Sluice (`sluice up`)::

    sluice run samples/xgboost_training.py -p num_rounds=50
"""

from __future__ import annotations

import csv
from typing import NamedTuple

from sluice import dsl
from sluice.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

PACKAGES = ["xgboost", "scikit-learn"]
LABEL = "label"


def read_rows(path: str) -> tuple[list[list[float]], list[int]]:
    """Features and labels of a CSV written by `prepare_data` (label last)."""
    features: list[list[float]] = []
    labels: list[int] = []
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            features.append([float(value) for value in row[:-1]])
            labels.append(int(row[-1]))
    return features, labels


def write_rows(path: str, header: list[str], rows: list[list[float]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@dsl.component(packages_to_install=PACKAGES)
def prepare_data(
    test_fraction: float,
    seed: int,
    scratch_dir: str,
    train_data: Output[Dataset],
    test_data: Output[Dataset],
) -> int:
    """Split the breast cancer data set; the number of test rows."""
    import os

    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    os.makedirs(scratch_dir, exist_ok=True)
    header = [*data.feature_names, LABEL]
    rows = [[*features, int(label)] for features, label in zip(data.data.tolist(), data.target, strict=True)]
    write_rows(os.path.join(scratch_dir, "raw.csv"), header, rows)
    train_rows, test_rows = train_test_split(
        rows, test_size=test_fraction, random_state=seed, stratify=[row[-1] for row in rows]
    )
    write_rows(train_data.path, header, train_rows)
    write_rows(test_data.path, header, test_rows)
    train_data.metadata["rows"] = len(train_rows)
    test_data.metadata["rows"] = len(test_rows)
    return len(test_rows)


@dsl.component(packages_to_install=PACKAGES)
def train(
    train_data: Input[Dataset], num_rounds: int, max_depth: int, seed: int, model: Output[Model]
) -> None:
    """Fit a gradient-boosted tree classifier."""
    from xgboost import XGBClassifier

    features, labels = read_rows(train_data.path)
    classifier = XGBClassifier(n_estimators=num_rounds, max_depth=max_depth, random_state=seed, n_jobs=1)
    classifier.fit(features, labels)
    classifier.save_model(model.path)
    model.metadata["framework"] = "xgboost"
    model.metadata["num_rounds"] = num_rounds


@dsl.component(packages_to_install=PACKAGES)
def predict(model: Input[Model], test_data: Input[Dataset], predictions: Output[Dataset]) -> None:
    """Score the test set: the true label, the predicted one and the probability of class 1."""
    from xgboost import XGBClassifier

    classifier = XGBClassifier()
    classifier.load_model(model.path)
    features, labels = read_rows(test_data.path)
    probabilities = classifier.predict_proba(features)[:, 1].tolist()
    rows = [
        [label, int(probability >= 0.5), probability]
        for label, probability in zip(labels, probabilities, strict=True)
    ]
    write_rows(predictions.path, ["target", "predicted", "probability"], rows)


class Evaluation(NamedTuple):
    accuracy: float
    auc: float


@dsl.component(packages_to_install=PACKAGES)
def evaluate(
    predictions: Input[Dataset], metrics: Output[Metrics], classification: Output[ClassificationMetrics]
) -> Evaluation:
    """Log accuracy, AUC, the confusion matrix and the ROC curve."""
    from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score, roc_curve

    targets: list[int] = []
    predicted: list[int] = []
    probabilities: list[float] = []
    with open(predictions.path, newline="") as handle:
        for row in csv.DictReader(handle):
            targets.append(int(float(row["target"])))
            predicted.append(int(float(row["predicted"])))
            probabilities.append(float(row["probability"]))
    accuracy = float(accuracy_score(targets, predicted))
    auc = float(roc_auc_score(targets, probabilities))
    metrics.log_metric("accuracy", accuracy)
    metrics.log_metric("auc", auc)
    categories = ["malignant", "benign"]
    matrix = confusion_matrix(targets, predicted, labels=[0, 1]).tolist()
    classification.log_confusion_matrix(categories, matrix)
    fpr, tpr, thresholds = roc_curve(targets, probabilities)
    # roc_curve starts at an infinite threshold, which JSON cannot hold.
    finite = [min(float(threshold), 1.0) for threshold in thresholds]
    classification.log_roc_curve([float(x) for x in fpr], [float(y) for y in tpr], finite)
    print(f"accuracy {accuracy:.3f}, AUC {auc:.3f}, confusion matrix {matrix}")
    return Evaluation(accuracy, auc)


@dsl.component
def cleanup(scratch_dir: str, status: dsl.PipelineTaskFinalStatus) -> str:
    """The exit handler: delete the scratch directory, however the pipeline ended."""
    import shutil

    shutil.rmtree(scratch_dir, ignore_errors=True)
    print(f"pipeline {status.pipeline_task_name} ended {status.state}; removed {scratch_dir}")
    return status.state


@dsl.pipeline(
    name="xgboost-training",
    description="Train XGBoost on scikit-learn's breast cancer data; log its confusion matrix and ROC curve.",
)
def xgboost_training(
    num_rounds: int = 20,
    max_depth: int = 3,
    test_fraction: float = 0.25,
    seed: int = 7,
    scratch_dir: str = "/tmp/sluice-xgboost-scratch",
) -> None:
    exit_task = cleanup(scratch_dir=scratch_dir)
    with dsl.ExitHandler(exit_task, name="train-and-evaluate"):
        data = prepare_data(test_fraction=test_fraction, seed=seed, scratch_dir=scratch_dir)
        model = train(
            train_data=data.outputs["train_data"], num_rounds=num_rounds, max_depth=max_depth, seed=seed
        )
        scored = predict(model=model.outputs["model"], test_data=data.outputs["test_data"])
        evaluate(predictions=scored.outputs["predictions"])
