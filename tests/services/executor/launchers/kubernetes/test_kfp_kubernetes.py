"""Platform specs written by the real `kfp-kubernetes` package become valid pods.

`kfp_kubernetes_platform.json` is the executor config kfp-kubernetes 2.17.3 wrote for the
`train` task of `compile_platform`'s pipeline; the last test recompiles it whenever that
package is installed, so the copy cannot drift from what the package writes.
"""
# mypy: disable-error-code="untyped-decorator"

# No `from __future__ import annotations` here: kfp reads the components' annotations as types.

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.executor.launchers.kubernetes.manifest import build_pod_manifest
from tests.services.executor.launchers.kubernetes.fake_kubelet import validate
from tests.services.executor.launchers.kubernetes.test_manifest import PLAN

RECORDED = Path(__file__).with_name("kfp_kubernetes_platform.json")


def compile_platform(tmp_path: Path) -> dict[str, Any]:
    kubernetes = pytest.importorskip("kfp.kubernetes")
    from kfp import compiler, dsl

    @dsl.component(base_image="python:3.12")
    def produce() -> str:
        return "claim"

    @dsl.component(base_image="python:3.12")
    def train(x: str) -> str:
        return x

    @dsl.pipeline
    def pipeline(secret: str = "db-credentials", selector: str = '{"disk": "ssd"}') -> None:
        claim = produce()
        task = train(x="a")
        kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env={"password": "DB_PASSWORD"})
        kubernetes.use_secret_as_volume(task, secret_name="certs", mount_path="/certs", optional=True)
        kubernetes.use_config_map_as_env(task, config_map_name="settings", config_map_key_to_env={"a": "A"})
        kubernetes.use_config_map_as_volume(task, config_map_name="conf", mount_path="/conf")
        kubernetes.mount_pvc(task, pvc_name=claim.output, mount_path="/data")
        kubernetes.add_node_selector(task, label_key="pool", label_value="gpu")
        kubernetes.add_node_selector_json(task, node_selector_json=selector)
        kubernetes.add_toleration(
            task, key="gpu", operator="Equal", value="yes", effect="NoSchedule", toleration_seconds=30
        )
        kubernetes.add_pod_label(task, "team", "ml")
        kubernetes.add_pod_annotation(task, "owner", "alice")
        kubernetes.set_image_pull_secrets(task, ["regcred"])
        kubernetes.set_image_pull_policy(task, "Always")
        kubernetes.set_timeout(task, 600)
        kubernetes.use_field_path_as_env(task, env_name="NODE", field_path="spec.nodeName")
        kubernetes.empty_dir_mount(
            task, volume_name="scratch", mount_path="/scratch", medium="Memory", size_limit="1Gi"
        )
        kubernetes.add_ephemeral_volume(
            task, volume_name="cache", mount_path="/cache", access_modes=["ReadWriteOnce"], size="5Gi"
        )
        kubernetes.add_node_affinity(
            task, match_expressions=[{"key": "zone", "operator": "In", "values": ["a"]}], weight=10
        )

    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    _, platform_spec = yaml.safe_load_all(path.read_text())
    config: dict[str, Any] = platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"][
        "exec-train"
    ]
    return config


def test_a_kfp_kubernetes_pipeline_task_becomes_a_valid_pod() -> None:
    platform = json.loads(RECORDED.read_text())
    # Specs the scheduler left unresolved are looked up among the task's inputs (it sends the
    # ones it resolved as constants: see test_pipeline.py).
    resolved = {
        "secret": "db-credentials",
        "selector": '{"disk": "ssd"}',
        "pipelinechannel--produce-Output": "claim-7",
    }
    manifest = build_pod_manifest(
        replace(PLAN, task=replace(PLAN.task, platform=platform, input_parameters=resolved))
    )
    validate(manifest)

    spec = manifest["spec"]
    container = spec["containers"][0]
    env = {item["name"]: item.get("valueFrom") for item in container["env"]}
    assert env["DB_PASSWORD"] == {
        "secretKeyRef": {"name": "db-credentials", "key": "password", "optional": False}
    }
    assert env["A"] == {"configMapKeyRef": {"name": "settings", "key": "a", "optional": False}}
    assert env["NODE"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["pvc-volume-0"]["persistentVolumeClaim"] == {"claimName": "claim-7"}
    assert volumes["secret-volume-0"]["secret"] == {"secretName": "certs", "optional": True}
    assert volumes["scratch"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    assert "storageClassName" not in volumes["cache"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert {mount["mountPath"] for mount in container["volumeMounts"]} >= {
        "/certs",
        "/conf",
        "/data",
        "/scratch",
        "/cache",
    }
    assert spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["tolerations"] == [
        {"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoSchedule", "tolerationSeconds": 30}
    ]
    assert (
        spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 10
    )
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["activeDeadlineSeconds"] == 600
    assert container["imagePullPolicy"] == "Always"
    assert manifest["metadata"]["labels"]["team"] == "ml"
    assert manifest["metadata"]["annotations"]["owner"] == "alice"


def test_the_recorded_config_is_what_kfp_kubernetes_writes(tmp_path: Path) -> None:
    assert compile_platform(tmp_path) == json.loads(RECORDED.read_text())
