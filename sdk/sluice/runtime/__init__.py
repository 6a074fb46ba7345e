"""The code that runs inside a Sluice Python component's task (standard library only).

Everything lives in `sluice.runtime.executor`, which the compiler embeds in each Python
component's command; the names below are loaded from it on first use, so that
`python -m sluice.runtime.executor` runs the module once.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from sluice.runtime.executor import (
        HTML,
        Artifact,
        ClassificationMetrics,
        Dataset,
        Markdown,
        Metrics,
        Model,
        PipelineTaskFinalStatus,
        execute,
        load_function,
        main,
    )

__all__ = [
    "HTML",
    "Artifact",
    "ClassificationMetrics",
    "Dataset",
    "Markdown",
    "Metrics",
    "Model",
    "PipelineTaskFinalStatus",
    "execute",
    "load_function",
    "main",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("sluice.runtime.executor"), name)
    raise AttributeError(f"module 'sluice.runtime' has no attribute {name!r}")
