import services.executor.launchers.kubernetes as package


def test_public_names() -> None:
    assert sorted(package.__all__) == [
        "FileExchange",
        "KubernetesLauncher",
        "KubernetesLauncherConfig",
        "PodLaunchOutcome",
        "PodPlan",
        "PodTask",
        "build_pod_manifest",
        "make_api_client",
        "pod_name",
        "pod_task_of",
    ]
    for name in package.__all__:
        assert getattr(package, name) is not None
