"""The same pipeline compiled by kfp and by Sluice gives the same outputs on Sluice.

`parity_pipeline.py` is written with Sluice's DSL; changing its imports to kfp's gives
the kfp pipeline. Both run on the live server; every task's output parameters, every
artifact's metadata and bytes, and the pipeline's outputs must be equal.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from sluice.client import Client, Run

from tests.samples import parity_pipeline

ARGUMENTS = {"count": 5, "factor": 1.5, "label": "parity"}


def port_to_kfp(tmp_path: Path) -> Any:
    """`parity_pipeline` with kfp's imports; its pipeline."""
    source = Path(parity_pipeline.__file__).read_text()
    ported = source.replace("from sluice import dsl", "from kfp import dsl").replace(
        "from sluice.dsl import", "from kfp.dsl import"
    )
    assert "sluice" not in ported.replace("Sluice", "")
    path = tmp_path / "kfp_parity_pipeline.py"
    path.write_text(ported)
    spec = importlib.util.spec_from_file_location("kfp_parity_pipeline", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.PIPELINE


def results(client: Client, run: Run, tmp_path: Path) -> dict[str, Any]:
    """What a run produced, by task name: output parameters, and each output artifact's
    metadata and bytes (loop iterations in a stable order)."""
    by_task: dict[str, list[Any]] = defaultdict(list)
    for task in run.tasks:
        if task.kind != "CONTAINER":
            continue
        artifacts = {}
        for key, (artifact_id,) in sorted(task.output_artifacts.items()):
            artifact = client.get_artifact(artifact_id)
            data = b""
            if artifact.size_bytes:
                data = client.download_artifact(artifact, tmp_path / artifact_id).read_bytes()
            artifacts[key] = {"metadata": dict(artifact.metadata), "bytes": data}
        by_task[task.name].append({"parameters": dict(task.output_parameters), "artifacts": artifacts})
    return {
        "pipeline": dict(run.outputs),
        "tasks": {name: sorted(entries, key=repr) for name, entries in by_task.items()},
    }


def test_kfp_and_sluice_compilations_give_the_same_outputs(client: Client, tmp_path: Path) -> None:
    sluice_run = client.run_pipeline(parity_pipeline.parity, ARGUMENTS, enable_caching=False)
    kfp_run = client.run_pipeline(port_to_kfp(tmp_path), ARGUMENTS, enable_caching=False)
    sluice_final = client.wait(sluice_run.run_id, timeout=90)
    kfp_final = client.wait(kfp_run.run_id, timeout=90)
    assert sluice_final.succeeded, sluice_final.error
    assert kfp_final.succeeded, kfp_final.error

    from_sluice = results(client, sluice_final, tmp_path)
    from_kfp = results(client, kfp_final, tmp_path)

    assert from_sluice == from_kfp
    assert from_sluice["pipeline"] == {"Output": "parity: 22.5 and 7.125"}
    assert [e["parameters"] for e in from_sluice["tasks"]["power"]] == [
        {"Output": 1.5},
        {"Output": 2.25},
        {"Output": 3.375},
    ]
    scaled = from_sluice["tasks"]["scale"][0]["artifacts"]["scaled"]
    assert scaled["bytes"] == b"1.5\n3\n4.5\n6\n7.5"
    assert scaled["metadata"] == {"factor": 1.5}
    metrics = from_sluice["tasks"]["describe"][0]["artifacts"]["metrics"]["metadata"]
    assert metrics == {"total": 22.5, "powers": 7.125}
