"""Building the `kubernetes` client's `ApiClient` the launcher is given."""

from __future__ import annotations

from typing import Any

from kubernetes import client, config


def make_api_client(
    *,
    host: str = "",
    in_cluster: bool = False,
    kubeconfig: str = "",
    context: str = "",
) -> Any:
    """An `ApiClient` for one of three setups.

    Args:
        host: a plain URL, without credentials (an emulator, `kubectl proxy`).
        in_cluster: the pod's service account (the executor runs in the cluster).
        kubeconfig: a kubeconfig file (the default one when empty and no other setup is given).
        context: the kubeconfig context; its current one when empty.
    """
    configuration = client.Configuration()
    if host:
        configuration.host = host.rstrip("/")
    elif in_cluster:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(
            config_file=kubeconfig or None, context=context or None, client_configuration=configuration
        )
    return client.ApiClient(configuration)
