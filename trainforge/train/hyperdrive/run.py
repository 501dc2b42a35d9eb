"""HyperDriveRun: the parent run of a sweep, its children and the best of them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from trainforge.client.api import api
from trainforge.client.api.sweeps import SweepsApi
from trainforge.client.errors import sdk_errors
from trainforge.core.run import Run, get_run
from trainforge.schemas.runs import RunStatus
from trainforge.train.hyperdrive.exceptions import (
    HyperDriveConfigException,
    HyperDriveNotImplementedException,
)
from trainforge.train.hyperdrive.runconfig import HyperDriveConfig

if TYPE_CHECKING:
    from trainforge.core.experiment import Experiment

HYPERPARAMETER_TAG_PREFIXES = ("_aml_system_", "")
BEST_TABLE = "best_child_by_primary_metric"


class HyperDriveRun(Run):
    """A submitted HyperDrive sweep (``run.type == 'hyperdrive'``).

    Its children are the sweep's trials (``<id>_0``, ``<id>_1``, ...);
    ``wait_for_completion(show_output=True)`` streams ``azureml-logs/hyperdrive.txt``.
    """

    RUN_TYPE = "hyperdrive"

    def __init__(
        self,
        experiment: Experiment,
        run_id: str,
        hyperdrive_config: HyperDriveConfig | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(run_id, str):
            raise HyperDriveConfigException(f"run_id: expected a str, got {type(run_id).__name__}")
        super().__init__(experiment, run_id, **kwargs)
        self._hyperdrive_config = hyperdrive_config
        self._output_logs_pattern = "azureml-logs/hyperdrive.txt"

    def _sweep(self) -> dict[str, Any]:
        with sdk_errors():
            return api(self.experiment.workspace, SweepsApi).get(self.id).model_dump(mode="json")

    @property
    def hyperdrive_config(self) -> HyperDriveConfig:
        """The HyperDriveConfig of this run (rebuilt from the service when loaded by id)."""
        if self._hyperdrive_config is None:
            self._hyperdrive_config = HyperDriveConfig._from_service(self._sweep())
        return self._hyperdrive_config

    def cancel(self) -> bool:
        """Cancel the HyperDrive run and every child run still queued or running."""
        with sdk_errors():
            self._info = api(self.experiment.workspace, SweepsApi).cancel(self.id)
        return True

    def get_hyperparameters(self) -> dict[str, str]:
        """{child run id: JSON of its sampled values}, as recorded on this run's tags."""
        result: dict[str, str] = {}
        for tag, value in self.get_tags().items():
            for prefix in HYPERPARAMETER_TAG_PREFIXES:
                head = f"{prefix}{self.id}_"
                if tag.startswith(head) and tag[len(head) :].isdigit() and value is not None:
                    result.setdefault(tag[len(prefix) :], value)
        return result

    def get_metrics(self, *args: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:  # type: ignore[override]
        """{child run id: its metrics} for every run this HyperDrive run launched."""
        found = super().get_metrics(recursive=True)
        return {run_id: values for run_id, values in found.items() if run_id != self.id}

    def get_children_sorted_by_primary_metric(
        self, top: int = 0, reverse: bool = False, discard_no_metric: bool = False
    ) -> list[dict[str, Any]]:
        """Children best-first by their best primary metric value (per the goal).

        Each item has ``run_id``, ``hyperparameters`` (JSON), ``best_primary_metric`` and
        ``status``; children without the metric come last unless ``discard_no_metric``.
        ``reverse`` flips only the children that have the metric.
        """
        if not isinstance(top, int) or isinstance(top, bool) or top < 0:
            raise HyperDriveConfigException("top: should be 0 or a positive integer")
        if not isinstance(reverse, bool):
            raise HyperDriveConfigException("reverse: should be a bool")
        if not isinstance(discard_no_metric, bool):
            raise HyperDriveConfigException("discard_no_metric: should be a bool")
        sweep = self._sweep()
        maximize = sweep["primary_metric_config"]["goal"] == "maximize"
        hyperparameters = self.get_hyperparameters()
        with_metric, without = [], []
        for trial in sweep["trials"]:
            child = {
                "run_id": trial["run_id"],
                "hyperparameters": hyperparameters.get(
                    trial["run_id"], json.dumps(trial["parameters"])
                ),
                "best_primary_metric": trial["best_primary_metric"],
                "status": trial["status"],
            }
            if child["best_primary_metric"] is not None:
                with_metric.append(child)
            elif not discard_no_metric:
                without.append(child)
        with_metric.sort(key=lambda c: c["best_primary_metric"], reverse=maximize != reverse)
        ordered = with_metric + without
        return ordered if top == 0 else ordered[:top]

    def get_best_run_by_primary_metric(
        self,
        include_failed: bool = True,
        include_canceled: bool = True,
        include_resume_from_runs: bool = True,
    ) -> Run | None:
        """The child run with the best primary metric value, or None if none logged it.

        As the SDK does, the answer comes from this run's ``best_child_by_primary_metric``
        table when its newest row qualifies (final once the sweep has ended), else from
        comparing the children.
        """
        table = Run.get_metrics(self, name=BEST_TABLE).get(BEST_TABLE) or {}
        if table.get("run_id"):
            final = table["final"][-1]
            if final or not RunStatus(self.get_status()).is_terminal:
                best = get_run(self._workspace, table["run_id"][-1], self._experiment)
                status = best.get_status()
                if (include_failed or status != RunStatus.FAILED) and (
                    include_canceled or status != RunStatus.CANCELED
                ):
                    return best
        for child in self.get_children_sorted_by_primary_metric(discard_no_metric=True):
            status = child["status"]
            if status == RunStatus.FAILED and not include_failed:
                continue
            if status == RunStatus.CANCELED and not include_canceled:
                continue
            return get_run(self._workspace, child["run_id"], self._experiment)
        return None

    def fail(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Not supported for HyperDrive runs."""
        raise HyperDriveNotImplementedException("Fail is not supported for a HyperDriveRun")

    def get_diagnostics(self) -> None:
        """Not supported for HyperDrive runs."""
        raise HyperDriveNotImplementedException(
            "Get diagnostics is not supported for a HyperDriveRun"
        )


Run.add_type_provider(HyperDriveRun.RUN_TYPE, HyperDriveRun)
