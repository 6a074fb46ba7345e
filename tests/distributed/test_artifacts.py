"""Pipelines passing Dataset and Model artifacts run through the distributed services: the
bytes land in the S3 bucket (SeaweedFS), the records in MongoDB (nx-27017)."""

from __future__ import annotations

from pathlib import Path

from minio import Minio

from tests.distributed.cluster import Cluster
from tests.distributed.runs import artifact_records, assert_succeeded, outputs_by_task, submit, wait_for_runs


def _slope(rows: int) -> float:
    return sum(x * x for x in range(rows)) / max(sum(range(rows)), 1)


def test_artifacts_pass_between_tasks_through_s3(
    healthy_cluster: Cluster, pipelines: dict[str, Path]
) -> None:
    cluster = healthy_cluster
    sizes = {submit(cluster, pipelines["artifacts"], {"rows": rows}): rows for rows in (4, 7, 12)}

    runs = wait_for_runs(cluster, sizes, timeout=60)

    assert_succeeded(cluster, runs)
    s3 = Minio(
        cluster.backends.s3_endpoint,
        access_key=cluster.backends.s3_access_key,
        secret_key=cluster.backends.s3_secret_key,
        secure=False,
    )
    for run_id, rows in sizes.items():
        outputs = outputs_by_task(runs[run_id])
        assert outputs["train"] == {"Output": _slope(rows)}
        assert outputs["read-model"] == {"Output": f"{_slope(rows)}|handmade"}

        records = {record.name: record for record in artifact_records(cluster, run_id)}
        assert {"data", "model"} <= records.keys(), records
        dataset, model = records["data"], records["model"]
        assert dataset.schema_title == "system.Dataset"
        assert dataset.metadata.get("rows") == rows
        assert model.schema_title == "system.Model"
        assert model.metadata.get("framework") == "handmade"

        prefix = f"pipelines/artifacts/{run_id}/"
        names = {obj.object_name for obj in s3.list_objects(cluster.bucket, prefix=prefix, recursive=True)}
        for record in (dataset, model):
            assert record.uri.startswith(f"minio://{cluster.bucket}/{prefix}"), record.uri
            assert record.uri.removeprefix(f"minio://{cluster.bucket}/") in names
        assert any(name.startswith(f"{prefix}logs/") for name in names), names

        data = _read(s3, cluster.bucket, dataset.uri.removeprefix(f"minio://{cluster.bucket}/"))
        assert data == "".join(f"{x},{x * x}\n" for x in range(rows))
        weights = _read(s3, cluster.bucket, model.uri.removeprefix(f"minio://{cluster.bucket}/"))
        assert weights == str(_slope(rows))


def _read(s3: Minio, bucket: str, key: str) -> str:
    response = s3.get_object(bucket, key)
    try:
        return response.read().decode()
    finally:
        response.close()
        response.release_conn()
