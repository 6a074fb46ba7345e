"""Pipelines compiled by the real `kfp` SDK, as users upload them.

No `from __future__ import annotations` here: kfp reads the annotations at runtime.
"""

import functools
import io
import json
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from kfp import compiler, dsl


def add(a: int, b: float) -> float:
    return a + b


def echo(message: str) -> str:
    return message


_add = dsl.component(add, base_image="python:3.11")
_echo = dsl.component(echo, base_image="python:3.11")


def adder(x: int, y: float = 2.5, items: list[int] = [1, 2]) -> None:  # noqa: B006 - a kfp default
    _add(a=x, b=y)


def greeter(message: str = "hello") -> None:
    _echo(message=message)


_PIPELINES: dict[str, Any] = {
    "adder": dsl.pipeline(adder, name="adder", description="Adds two numbers."),
    "greeter": dsl.pipeline(greeter, name="greeter"),
}


@functools.cache
def _compiled(name: str) -> str:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "pipeline.yaml"
        compiler.Compiler().compile(_PIPELINES[name], str(path))
        return path.read_text()


def pipeline_yaml(name: str = "adder") -> str:
    """The IR YAML of one of this module's pipelines."""
    return _compiled(name)


def pipeline_dict(name: str = "adder") -> dict[str, Any]:
    spec = yaml.safe_load(pipeline_yaml(name))
    assert isinstance(spec, dict)
    return spec


def pipeline_json(name: str = "adder") -> bytes:
    return json.dumps(pipeline_dict(name)).encode()


def zip_package(files: Mapping[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, content in files.items():
            archive.writestr(member, content)
    return buffer.getvalue()


def tar_gz_package(files: Mapping[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
