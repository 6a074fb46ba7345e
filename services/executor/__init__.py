"""The executor service: runs task attempts dispatched by the scheduler.

The public names are re-exported here; `tests/services/executor/test_public_api.py` pins them.
"""

from services.executor.attempt import attempt_dir_for, execute_attempt, log_tail, run_attempt
from services.executor.launchers import Launcher, LaunchOutcome, LaunchRequest, LocalLauncher
from services.executor.staging import ArtifactLocation, ArtifactStager, LocalFileStager, locate
from services.executor.task import (
    ArtifactInfo,
    AttemptOutcome,
    AttemptState,
    OutputArtifactSpec,
    TaskOutputs,
    TaskResources,
    TaskSpec,
)

__all__ = [
    "ArtifactInfo",
    "ArtifactLocation",
    "ArtifactStager",
    "AttemptOutcome",
    "AttemptState",
    "LaunchOutcome",
    "LaunchRequest",
    "Launcher",
    "LocalFileStager",
    "LocalLauncher",
    "OutputArtifactSpec",
    "TaskOutputs",
    "TaskResources",
    "TaskSpec",
    "attempt_dir_for",
    "execute_attempt",
    "locate",
    "log_tail",
    "run_attempt",
]
