"""Experiments: create, find, list, archive, delete."""

from __future__ import annotations

from sluice.client import _convert, _rpc, errors
from sluice.client._base import ApiBase, list_request
from sluice.client.filters import FilterValue
from sluice.client.models import Experiment, Page


class ExperimentsApi(ApiBase):
    def create_experiment(
        self, name: str, *, description: str = "", namespace: str = "", webhook_url: str = ""
    ) -> Experiment:
        """Create an experiment; names are unique.

        `webhook_url` (Sluice) is POSTed a signed JSON body when a run of it finishes.

        Raises:
            AlreadyExists: an experiment has this name.
        """
        experiment = {
            "display_name": name,
            "description": description,
            "namespace": namespace,
            "webhook_url": webhook_url,
        }
        return _convert.experiment(self._call(_rpc.CREATE_EXPERIMENT, {"experiment": experiment}))

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Raises NotFound."""
        return _convert.experiment(self._call(_rpc.GET_EXPERIMENT, {"experiment_id": experiment_id}))

    def get_experiment_by_name(self, name: str, *, namespace: str = "") -> Experiment:
        """Raises NotFound."""
        found = self.list_experiments(page_size=1, namespace=namespace, display_name=name)
        if not found.items:
            raise errors.NotFound(f"experiment {name!r} not found")
        return found.items[0]

    def list_experiments(
        self,
        *,
        page_size: int = 0,
        page_token: str = "",
        sort_by: str = "",
        namespace: str = "",
        filter: str | None = None,
        **filters: FilterValue,
    ) -> Page[Experiment]:
        """A page of experiments; `filters` as in `sluice.client.filters` (e.g.
        `display_name__contains="mnist"`, `storage_state="ARCHIVED"`), `filter` KFP's JSON."""
        request = list_request(
            page_size=page_size,
            page_token=page_token,
            sort_by=sort_by,
            filter=filter,
            filters=filters,
            namespace=namespace,
        )
        return _convert.page(self._call(_rpc.LIST_EXPERIMENTS, request), "experiments", _convert.experiment)

    def archive_experiment(self, experiment_id: str) -> None:
        """Archive an experiment and its runs."""
        self._call(_rpc.ARCHIVE_EXPERIMENT, {"experiment_id": experiment_id})

    def unarchive_experiment(self, experiment_id: str) -> None:
        self._call(_rpc.UNARCHIVE_EXPERIMENT, {"experiment_id": experiment_id})

    def delete_experiment(self, experiment_id: str) -> None:
        self._call(_rpc.DELETE_EXPERIMENT, {"experiment_id": experiment_id})

    def _experiment_id(self, experiment: str | Experiment | None, experiment_id: str | None) -> str:
        """The id of the experiment to run in: `experiment_id`, or the experiment (or name,
        created when missing); "" for the server's default experiment."""
        if experiment_id:
            return experiment_id
        if isinstance(experiment, Experiment):
            return experiment.experiment_id
        if not experiment:
            return ""
        try:
            return self.get_experiment_by_name(experiment).experiment_id
        except errors.NotFound:
            pass
        try:
            return self.create_experiment(experiment).experiment_id
        except errors.AlreadyExists:
            # Created by someone else in between.
            return self.get_experiment_by_name(experiment).experiment_id
