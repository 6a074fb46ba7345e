"""The one error the DSL and the compiler raise for a mistake in a pipeline or component."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from types import FrameType

_DSL_DIR = os.path.dirname(os.path.abspath(__file__))
_SDK_DIR = os.path.dirname(_DSL_DIR)


@dataclass(frozen=True)
class SourceLocation:
    """A place in the user's code."""

    filename: str
    """The file, as Python reports it."""
    lineno: int
    """The line number (1-based)."""

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"


def caller_location() -> SourceLocation | None:
    """The innermost frame of the call stack outside the `sluice` package: the user's line."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_SDK_DIR + os.sep):
            return SourceLocation(frame.f_code.co_filename, frame.f_lineno)
        frame = frame.f_back
    return None


class CompileError(Exception):
    """A mistake in a pipeline or a component, found when it is defined or compiled.

    The message names the component (or pipeline), the argument when there is one, and the
    `file:line` where the mistake is; the same facts are attributes.
    """

    def __init__(
        self,
        message: str,
        *,
        component: str | None = None,
        argument: str | None = None,
        location: SourceLocation | None = None,
    ) -> None:
        self.reason = message
        """What is wrong, without the context."""
        self.component = component
        """The component or pipeline concerned."""
        self.argument = argument
        """The argument (input, output or parameter) concerned."""
        self.location = location
        """Where in the user's code."""
        super().__init__(self._format())

    def _format(self) -> str:
        context = []
        if self.component is not None:
            context.append(f"component {self.component!r}")
        if self.argument is not None:
            context.append(f"argument {self.argument!r}")
        prefix = f"{self.location}: " if self.location is not None else ""
        about = ", ".join(context)
        return f"{prefix}{about}: {self.reason}" if about else f"{prefix}{self.reason}"
