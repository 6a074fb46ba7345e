from __future__ import annotations

import services.executor
import services.executor.launchers


def test_public_names_are_pinned() -> None:
    assert sorted(services.executor.__all__) == [
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
    assert sorted(services.executor.launchers.__all__) == [
        "LaunchOutcome",
        "LaunchRequest",
        "Launcher",
        "LocalLauncher",
    ]
    for name in services.executor.__all__:
        assert getattr(services.executor, name) is not None
