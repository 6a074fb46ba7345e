"""The artifact visualizations and the run form's parameter parsing (no browser)."""

from __future__ import annotations

import re

import pytest

from services.gateway.ui.forms import parameter_fields, parse_parameters
from services.gateway.ui.visualizations import (
    RocSeries,
    auc,
    confusion_matrix_of,
    confusion_matrix_table,
    csv_table,
    format_number,
    markdown_html,
    metrics_table,
    roc_curve_svg,
    roc_points,
    sandboxed_html,
)

# What kfp's ClassificationMetrics.log_confusion_matrix / log_roc_curve store.
CLASSIFICATION = {
    "confusionMatrix": {
        "annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}],
        "rows": [{"row": [8.0, 2.0]}, {"row": [1.0, 9.0]}],
    },
    "confidenceMetrics": [
        {"confidenceThreshold": 0.0, "falsePositiveRate": 1.0, "recall": 1.0},
        {"confidenceThreshold": 1.0, "falsePositiveRate": 0.0, "recall": 0.0},
        {"confidenceThreshold": 0.5, "falsePositiveRate": 0.2, "recall": 0.8},
    ],
}


def test_numbers_are_shown_briefly() -> None:
    assert format_number(3.0) == "3"
    assert format_number(0.123456) == "0.1235"
    assert format_number(True) == "True"


def test_metrics_table_lists_numeric_entries_only() -> None:
    html = metrics_table({"accuracy": 0.9, "note": "x", "epochs": 3.0})
    assert "accuracy" in html
    assert "0.9" in html
    assert "epochs" in html
    assert "note" not in html
    assert "No scalar metrics" in metrics_table({})


def test_confusion_matrix_is_a_heat_mapped_table_with_the_counts() -> None:
    matrix = confusion_matrix_of(CLASSIFICATION)
    assert matrix is not None
    assert matrix.labels == ("cat", "dog")
    html = confusion_matrix_table(matrix)
    assert re.findall(r'class="cm-cell[^"]*" style="--share:([0-9.]+)">(\d+)<', html) == [
        ("0.889", "8"),
        ("0.222", "2"),
        ("0.111", "1"),
        ("1.000", "9"),
    ]
    assert '<th scope="row">cat</th>' in html


def test_a_malformed_confusion_matrix_is_ignored() -> None:
    assert (
        confusion_matrix_of({"confusionMatrix": {"annotationSpecs": [{"displayName": "a"}], "rows": []}})
        is None
    )
    assert confusion_matrix_of({}) is None


def test_roc_points_are_sorted_and_drawn_with_a_legend_and_auc() -> None:
    points = roc_points(CLASSIFICATION)
    assert points == ((0.0, 0.0), (0.2, 0.8), (1.0, 1.0))
    assert auc(points) == pytest.approx(0.08 + 0.72)
    svg = roc_curve_svg([RocSeries("run a", points), RocSeries("run <b>", points)])
    assert svg.count("<polyline") == 2
    assert "run a (AUC 0.800)" in svg
    assert "run &lt;b&gt;" in svg


def test_markdown_is_rendered_without_raw_html_or_script_links() -> None:
    html = markdown_html("# Title\n\n*hi* <script>alert(1)</script> [x](javascript:alert(1))")
    assert "<h1>Title</h1>" in html
    assert "<em>hi</em>" in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript:' not in html


def test_csv_becomes_a_table_and_other_text_does_not() -> None:
    html = csv_table("a,b\n1,<i>2</i>\n3,4\n")
    assert html is not None
    assert '<th scope="col">a</th>' in html
    assert "&lt;i&gt;" in html
    assert csv_table("just some words") is None
    many = csv_table("a,b\n" + "1,2\n" * 5, max_rows=2)
    assert many is not None
    assert "3 more rows not shown" in many


def test_html_artifacts_go_in_a_sandbox_without_scripts_or_network() -> None:
    html = sandboxed_html('<script>alert(1)</script><img src="http://example.invalid/x.png">', title="t")
    assert 'sandbox=""' in html
    assert "allow-scripts" not in html
    assert "<script>" not in html  # escaped into srcdoc
    assert "default-src &#39;none&#39;" in html


SPEC = {
    "root": {
        "inputDefinitions": {
            "parameters": {
                "lr": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.1, "isOptional": True},
                "epochs": {"parameterType": "NUMBER_INTEGER"},
                "name": {"parameterType": "STRING", "defaultValue": "x", "isOptional": True},
                "flag": {"parameterType": "BOOLEAN", "defaultValue": True, "isOptional": True},
                "items": {"parameterType": "LIST", "defaultValue": [1, 2], "isOptional": True},
                "status": {"parameterType": "TASK_FINAL_STATUS"},
            }
        }
    }
}


def test_fields_show_defaults_by_type() -> None:
    fields = {f.name: f for f in parameter_fields(SPEC)}
    assert set(fields) == {"lr", "epochs", "name", "flag", "items"}
    assert fields["lr"].input_type == "number"
    assert fields["lr"].step == "any"
    assert fields["lr"].value == "0.1"
    assert fields["epochs"].step == "1"
    assert not fields["epochs"].optional
    assert fields["flag"].value == "true"
    assert fields["items"].multiline
    assert fields["items"].value == "[1, 2]"


def test_form_values_are_parsed_by_type() -> None:
    values, fields = parse_parameters(
        SPEC,
        {
            "param.lr": "0.5",
            "param.epochs": "3",
            "param.flag": "false",
            "param.items": "[3]",
            "param.name": "",
        },
    )
    assert values == {"lr": 0.5, "epochs": 3, "flag": False, "items": [3]}
    assert not any(f.error for f in fields)


def test_bad_values_come_back_with_errors() -> None:
    _values, fields = parse_parameters(SPEC, {"param.epochs": "2.5", "param.items": "{"})
    errors = {f.name: f.error for f in fields if f.error}
    assert errors["epochs"] == "must be a whole number"
    assert errors["items"].startswith("not valid JSON")
    _, missing = parse_parameters(SPEC, {})
    assert {f.name: f.error for f in missing if f.error} == {"epochs": "required"}
