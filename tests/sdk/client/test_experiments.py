"""Experiments through `sluice.Client`, over both transports."""

from __future__ import annotations

import pytest
from sluice.client import Client, StorageState, errors

from tests.sdk.client.conftest import unique


def test_experiments_are_created_found_listed_archived_and_deleted(client: Client) -> None:
    name = unique("exp")
    created = client.create_experiment(name, description="for the client tests")

    assert created.display_name == name
    assert created.description == "for the client tests"
    assert created.storage_state is StorageState.AVAILABLE
    assert not created.archived
    assert client.get_experiment(created.experiment_id) == created
    assert client.get_experiment_by_name(name) == created
    listed = client.list_experiments(display_name__contains=name)
    assert [e.experiment_id for e in listed] == [created.experiment_id]
    assert listed.total_size == 1

    client.archive_experiment(created.experiment_id)
    assert client.get_experiment(created.experiment_id).archived
    assert [e.display_name for e in client.list_experiments(display_name=name, storage_state="ARCHIVED")] == [
        name
    ]
    client.unarchive_experiment(created.experiment_id)
    assert not client.get_experiment(created.experiment_id).archived

    client.delete_experiment(created.experiment_id)
    with pytest.raises(errors.NotFound):
        client.get_experiment(created.experiment_id)


def test_experiment_names_are_unique_and_unknown_ones_are_not_found(client: Client) -> None:
    name = unique("exp")
    client.create_experiment(name)

    with pytest.raises(errors.AlreadyExists, match=name) as caught:
        client.create_experiment(name)
    assert not caught.value.retryable
    with pytest.raises(errors.NotFound, match="nothing-like-this"):
        client.get_experiment_by_name("nothing-like-this")
