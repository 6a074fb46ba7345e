"""Pipeline packages: the KFP IR documents a run or an upload needs, from a compiled file,
from IR data, or compiled here from a Sluice or a kfp pipeline function."""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.client import errors

PipelineSource = str | os.PathLike[str] | Mapping[str, Any] | Any
"""A compiled package file (YAML or JSON), a PipelineSpec as data, or a pipeline function
(`@sluice.dsl.pipeline`, `@kfp.dsl.pipeline`, or a component of either)."""


@dataclass(frozen=True)
class Package:
    pipeline_spec: dict[str, Any]
    platform_spec: dict[str, Any] | None
    source_name: str
    """The file, or the function, it came from (for a default run name)."""

    @property
    def name(self) -> str:
        name = (self.pipeline_spec.get("pipelineInfo") or {}).get("name")
        return str(name) if name else self.source_name

    def run_spec(self) -> dict[str, Any]:
        """The `pipeline_spec` of a run: the PipelineSpec, with the PlatformSpec under
        "platform_spec" when there is one (as KFP stores it)."""
        if self.platform_spec:
            return {"pipeline_spec": self.pipeline_spec, "platform_spec": self.platform_spec}
        return self.pipeline_spec

    def to_yaml(self) -> bytes:
        import yaml

        documents = [self.pipeline_spec] + ([self.platform_spec] if self.platform_spec else [])
        return yaml.safe_dump_all(documents, sort_keys=True).encode()

    def with_caching(self, enabled: bool) -> Package:
        """Every task's `cachingOptions.enableCache` set to `enabled`, as kfp.Client does."""
        spec = copy.deepcopy(self.pipeline_spec)
        dags = [spec.get("root") or {}, *(spec.get("components") or {}).values()]
        for dag in dags:
            for task in ((dag.get("dag") or {}).get("tasks") or {}).values():
                task.setdefault("cachingOptions", {})["enableCache"] = enabled
        return Package(spec, self.platform_spec, self.source_name)


def load_package(source: PipelineSource) -> Package:
    """The package of `source` (see `PipelineSource`).

    Raises:
        InvalidArgument: the file cannot be read or holds no PipelineSpec; the function
            does not compile (with the compiler's message).
    """
    if isinstance(source, str | os.PathLike):
        return read_package(Path(source))
    if isinstance(source, Mapping):
        return _from_documents([dict(source)], "pipeline")
    module = type(source).__module__
    if module.startswith("sluice.dsl"):
        return _compile_sluice(source)
    if module.split(".")[0] == "kfp":
        return _compile_kfp(source)
    raise errors.InvalidArgument(
        f"cannot run {source!r}: expected a pipeline function (Sluice or kfp), "
        "a compiled package file or a PipelineSpec"
    )


def read_package(path: Path) -> Package:
    """A compiled package file: YAML (one or two documents) or JSON."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise errors.InvalidArgument(f"cannot read the pipeline package {path}: {error}") from None
    return _from_documents(documents, path.stem)


def _from_documents(documents: list[Any], source_name: str) -> Package:
    if not documents or not isinstance(documents[0], dict):
        raise errors.InvalidArgument(f"{source_name} does not hold a pipeline spec")
    first = documents[0]
    if "pipeline_spec" in first and isinstance(first["pipeline_spec"], dict):
        # The stored form, as a run's or a version's `pipeline_spec` holds it.
        return Package(first["pipeline_spec"], first.get("platform_spec"), source_name)
    if "root" not in first and "pipelineInfo" not in first:
        raise errors.InvalidArgument(f"{source_name} does not hold a pipeline spec (no 'root')")
    platform = documents[1] if len(documents) > 1 and isinstance(documents[1], dict) else None
    return Package(first, platform, source_name)


def _compile_sluice(pipeline: Any) -> Package:
    from sluice.compiler import compile_package
    from sluice.dsl import CompileError

    try:
        compiled = compile_package(pipeline)
    except CompileError as error:
        raise errors.InvalidArgument(str(error)) from None
    return Package(compiled.pipeline_spec, compiled.platform_spec, getattr(pipeline, "__name__", "pipeline"))


def _compile_kfp(pipeline: Any) -> Package:
    # Only here is kfp imported: the pipeline came from it, so it is installed.
    from kfp import compiler

    with tempfile.TemporaryDirectory(prefix="sluice-kfp-") as directory:
        path = Path(directory) / "pipeline.yaml"
        try:
            compiler.Compiler().compile(pipeline, str(path))
        except Exception as error:  # kfp raises many kinds; all mean "does not compile"
            raise errors.InvalidArgument(f"kfp could not compile {pipeline!r}: {error}") from None
        package = read_package(path)
    return Package(package.pipeline_spec, package.platform_spec, getattr(pipeline, "name", "pipeline"))
