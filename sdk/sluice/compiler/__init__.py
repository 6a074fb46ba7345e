"""Compiling Sluice pipelines to the KFP pipeline IR (`PipelineSpec`, schema 2.1.0).

`Compiler().compile(pipeline, "pipeline.yaml")` writes the YAML package; `compile_pipeline`
returns the `PipelineSpec` as plain data. Compilation is pure and deterministic: the same
pipeline always gives the same bytes.
"""

from sluice.compiler.builder import CompiledPipeline
from sluice.compiler.compiler import Compiler, compile_package, compile_pipeline, to_yaml

__all__ = ["CompiledPipeline", "Compiler", "compile_package", "compile_pipeline", "to_yaml"]
