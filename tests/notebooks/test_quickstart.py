"""`notebooks/quickstart.ipynb`, executed cell by cell (nbclient) against the live server."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from jupyter_client.manager import KernelManager

from tests.fixtures.sluice_server import RunningSluice

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def test_the_kernel_runs_on_this_interpreter() -> None:
    """The notebook imports `sluice`, so its kernel must be this virtualenv's Python."""
    command = KernelManager(kernel_name="python3").format_kernel_cmd()

    assert Path(command[0]).resolve() == Path(sys.executable).resolve()


def test_the_quickstart_runs_a_pipeline_watches_it_and_reads_its_metrics(
    sluice_server: RunningSluice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICE_HOST", sluice_server.grpc_address)
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]

    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()

    outputs = {
        index: "".join(
            output.get("text", "") or output.get("data", {}).get("text/plain", "") for output in cell.outputs
        )
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
    }
    text = "\n".join(outputs.values())
    assert f"<sluice.Client grpc {sluice_server.grpc_address}>" in text
    assert "fit-line  SUCCEEDED" in text
    assert "run SUCCEEDED" in text
    assert "SUCCEEDED slope: 2.0" in text
    metrics_cell = next(
        index for index, cell in enumerate(notebook.cells) if "metrics" in cell.metadata.get("tags", [])
    )
    metrics = ast.literal_eval(outputs[metrics_cell])
    assert set(metrics) == {"metrics"}
    assert metrics["metrics"]["points"] == 50
    assert abs(metrics["metrics"]["slope"] - 2) < 0.05
    assert abs(metrics["metrics"]["intercept"] - 1) < 0.5
