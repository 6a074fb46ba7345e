from __future__ import annotations

import services.executor.launchers.forkserver as forkserver


def test_public_names_are_pinned() -> None:
    assert sorted(forkserver.__all__) == [
        "ForkServer",
        "ForkedTask",
        "KfpPythonTask",
        "ServerProfile",
        "eligible_task",
        "kfp_python_task",
        "startup_env",
    ]
    for name in forkserver.__all__:
        assert getattr(forkserver, name) is not None
