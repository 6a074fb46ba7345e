"""Sluice: a light, fast ML workflow platform compatible with Kubeflow Pipelines.

`sluice.dsl` defines components and pipelines, `sluice.compiler` compiles them to the KFP
IR, `sluice.Client` talks to a Sluice server. All are imported on first use, so
`import sluice` (and the task runtime) stays cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` is not imported at run time: `import sluice` stays cheap
    from typing import Any

    from sluice import compiler, dsl
    from sluice.client import Client

__all__ = ["Client", "__version__", "compiler", "dsl"]


def __getattr__(name: str) -> Any:
    if name in ("dsl", "compiler"):
        return importlib.import_module(f"sluice.{name}")
    if name == "Client":
        return importlib.import_module("sluice.client").Client
    raise AttributeError(f"module 'sluice' has no attribute {name!r}")
