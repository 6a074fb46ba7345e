"""Pipelines compiled by the real `kfp` SDK for the distributed tests.

Their `step` leaves a trace of every execution under ``marker_dir`` (a directory shared by
the executors, which run on this host): which attempt it was, which executor, its pid, when
it started and whether it finished. The attempt is read from the task's working directory,
``<work_root>/<run_id>/<task_id>/<attempt>/work``. While it runs it holds
``<run>.<task>.<attempt>.lock`` (created with O_EXCL, holding its pid); finding the lock held
by a live process means the same attempt runs twice at once, which it records as
``….concurrent``.
"""
# mypy: ignore-errors
# kfp's decorators are untyped.

from pathlib import Path

from kfp import compiler, dsl

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def step(a: int, b: int, seconds: float, marker_dir: str) -> int:
    import json
    import os
    import time
    from pathlib import Path

    attempt_dir = Path.cwd().parent
    key = f"{attempt_dir.parent.parent.name}.{attempt_dir.parent.name}.{attempt_dir.name}"
    pid = os.getpid()
    root = Path(marker_dir)
    record = {"key": key, "executor": os.environ.get("SLUICE_EXECUTOR_ID", ""), "pid": pid}
    record["start"] = time.time()
    (root / f"{key}.{pid}.start").write_text(json.dumps(record))
    lock = root / f"{key}.lock"
    try:
        handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        text = lock.read_text()
        holder = int(text) if text.isdigit() else 0
        try:
            alive = holder == 0 or (os.kill(holder, 0) is None)
        except ProcessLookupError:
            alive = False
        if alive:
            (root / f"{key}.{pid}.concurrent").write_text(str(holder))
        lock.write_text(str(pid))
    else:
        os.write(handle, str(pid).encode())
        os.close(handle)
    time.sleep(seconds)
    lock.unlink(missing_ok=True)
    record["end"] = time.time()
    (root / f"{key}.{pid}.end").write_text(json.dumps(record))
    return a + b


@dsl.pipeline(name="relay")
def relay(x: int, marker_dir: str, seconds: float = 0.0):
    """A diamond of four steps: the last one outputs 2x + 112."""
    top = step(a=x, b=1, seconds=seconds, marker_dir=marker_dir)
    left = step(a=top.output, b=10, seconds=seconds, marker_dir=marker_dir)
    right = step(a=top.output, b=100, seconds=seconds, marker_dir=marker_dir)
    step(a=left.output, b=right.output, seconds=seconds, marker_dir=marker_dir)


@dsl.pipeline(name="slow-middle")
def slow_middle(x: int, marker_dir: str, seconds: float):
    """Three steps in a row, the middle one sleeping `seconds`: outputs x + 111."""
    first = step(a=x, b=1, seconds=0.0, marker_dir=marker_dir)
    slow = step(a=first.output, b=10, seconds=seconds, marker_dir=marker_dir)
    step(a=slow.output, b=100, seconds=0.0, marker_dir=marker_dir)


PIPELINES = {"relay": relay, "slow-middle": slow_middle}


def compile_all(directory: Path) -> dict[str, Path]:
    paths = {}
    for name, function in PIPELINES.items():
        path = directory / f"{name}.yaml"
        compiler.Compiler().compile(function, str(path))
        paths[name] = path
    return paths
