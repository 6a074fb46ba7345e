"""Benchmark: one 2-step pipeline, end to end, on kfp.local and on standalone Sluice.

Both run the same kfp-compiled components on this machine in the same process run, so
the ratio is meaningful on a shared, noisy machine; absolute times are not.

    .venv/bin/python -m bench.two_step [--repeat N]
"""
# mypy: ignore-errors
# kfp reads annotations at definition time; no `from __future__ import annotations` here.

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from kfp import compiler, dsl, local

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def add(a: int, b: int) -> int:
    return a + b


@dsl.pipeline(name="two-step")
def two_step(x: int = 1) -> int:
    first = add(a=x, b=1)
    return add(a=first.output, b=2).output


def time_kfp_local(root: Path, repeat: int) -> list[float]:
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    times = []
    for index in range(repeat):
        started = time.perf_counter()
        result = two_step(x=index)
        times.append(time.perf_counter() - started)
        assert result.output == index + 3, result.output
    return times


async def _run_on_sluice(url: str, spec: dict, x: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        body = {"display_name": "bench", "pipeline_spec": spec, "runtime_config": {"parameters": {"x": x}}}
        response = await client.post("/apis/v2beta1/runs", json=body)
        response.raise_for_status()
        run_id = response.json()["run_id"]
        async with client.stream("GET", f"/apis/v2beta1/runs/{run_id}/events") as events:
            async for line in events.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event["kind"] == "RUN_STATE_CHANGED" and event["state"] in ("SUCCEEDED", "FAILED"):
                    assert event["state"] == "SUCCEEDED", event
                    return
        raise AssertionError("event stream ended before the run did")


async def time_sluice(data_dir: Path, spec: dict, repeat: int) -> list[float]:
    from services.standalone.app import Standalone, StandaloneConfig

    times = []
    async with Standalone(StandaloneConfig(data_dir=data_dir, port=0, grpc_port=0)) as sluice:
        for index in range(repeat):
            started = time.perf_counter()
            await _run_on_sluice(sluice.http_url, spec, index)
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        spec_path = root / "two-step.yaml"
        compiler.Compiler().compile(two_step, str(spec_path))
        kfp_times = time_kfp_local(root / "kfp-local", args.repeat)
        spec = yaml.safe_load(spec_path.read_text())
        sluice_times = asyncio.run(time_sluice(root / "sluice", spec, args.repeat))
    kfp_median = statistics.median(kfp_times)
    sluice_median = statistics.median(sluice_times)
    print(f"kfp.local (SubprocessRunner, use_venv=False): median {kfp_median:.3f}s  runs {kfp_times}")
    print(f"sluice standalone:                             median {sluice_median:.3f}s  runs {sluice_times}")
    print(f"ratio kfp.local / sluice: {kfp_median / sluice_median:.1f}x")


if __name__ == "__main__":
    main()
