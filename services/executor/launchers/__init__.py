"""Launchers run a task's process: locally (`local`) or, later, as a Kubernetes pod."""

from services.executor.launchers.base import Launcher, LaunchOutcome, LaunchRequest
from services.executor.launchers.local import LocalLauncher

__all__ = ["LaunchOutcome", "LaunchRequest", "Launcher", "LocalLauncher"]
