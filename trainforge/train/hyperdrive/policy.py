"""Early termination policies, as ``azureml.train.hyperdrive.policy``.

The rules themselves (what each policy cancels, and when) are documented and applied in
``trainforge.hyperdrive.policies``; these classes only configure them.
"""

from __future__ import annotations

from typing import Any

from trainforge.hyperdrive.policies import PolicyError, check_policy
from trainforge.train.hyperdrive.exceptions import HyperDriveConfigException


class EarlyTerminationPolicy:
    """Base of the policies: a name and its properties (the service-side JSON)."""

    POLICY_NAME = ""

    def __init__(self, name: str, properties: dict[str, Any] | None = None) -> None:
        try:
            check_policy(name, properties or {})
        except PolicyError as exc:
            raise HyperDriveConfigException(f"{type(self).__name__}: {exc}") from None
        self._name = name
        self._properties = properties

    def to_json(self) -> dict[str, Any]:
        policy: dict[str, Any] = {"name": self._name}
        if self._properties is not None:
            policy["properties"] = self._properties
        return policy

    @property
    def evaluation_interval(self) -> int | None:
        return (self._properties or {}).get("evaluation_interval")

    @property
    def delay_evaluation(self) -> int | None:
        return (self._properties or {}).get("delay_evaluation")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EarlyTerminationPolicy) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._properties or {}})"


class BanditPolicy(EarlyTerminationPolicy):
    """Cancel runs outside the slack (a ratio or an amount) of the best run at each interval."""

    POLICY_NAME = "Bandit"

    def __init__(
        self,
        evaluation_interval: int = 1,
        slack_factor: float | None = None,
        slack_amount: float | None = None,
        delay_evaluation: int = 0,
    ) -> None:
        if not slack_factor and not slack_amount or (slack_factor and slack_amount):
            raise HyperDriveConfigException(
                "BanditPolicy: slack_factor, slack_amount: Bandit termination policy expects "
                "exactly one of slack factor or slack amount to be set"
            )
        properties: dict[str, Any] = {
            "evaluation_interval": evaluation_interval,
            "delay_evaluation": delay_evaluation,
        }
        if slack_factor:
            properties["slack_factor"] = slack_factor
        else:
            properties["slack_amount"] = slack_amount
        super().__init__(self.POLICY_NAME, properties)
        self._slack_factor = slack_factor
        self._slack_amount = slack_amount

    @property
    def slack_factor(self) -> float | None:
        return self._slack_factor

    @property
    def slack_amount(self) -> float | None:
        return self._slack_amount


class MedianStoppingPolicy(EarlyTerminationPolicy):
    """Cancel runs whose best value is worse than the median of all runs' running averages."""

    POLICY_NAME = "MedianStopping"

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        super().__init__(
            self.POLICY_NAME,
            {"evaluation_interval": evaluation_interval, "delay_evaluation": delay_evaluation},
        )


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    """Cancel the lowest ``truncation_percentage`` percent of runs at each interval."""

    POLICY_NAME = "TruncationSelection"

    def __init__(
        self,
        truncation_percentage: int,
        evaluation_interval: int = 1,
        delay_evaluation: int = 0,
        exclude_finished_jobs: bool = False,
    ) -> None:
        super().__init__(
            self.POLICY_NAME,
            {
                "evaluation_interval": evaluation_interval,
                "delay_evaluation": delay_evaluation,
                "truncation_percentage": truncation_percentage,
                "exclude_finished_jobs": exclude_finished_jobs,
            },
        )

    @property
    def truncation_percentage(self) -> int:
        return (self._properties or {})["truncation_percentage"]


class NoTerminationPolicy(EarlyTerminationPolicy):
    """No early termination: every run goes to completion."""

    POLICY_NAME = "Default"

    def __init__(self) -> None:
        super().__init__(self.POLICY_NAME)


class ASHAPolicy(EarlyTerminationPolicy):
    """Asynchronous successive halving (trainforge's own, not in the Azure SDK).

    Rungs sit at ``evaluation_interval * reduction_factor**k`` intervals (k = 0, 1, ...;
    those below ``delay_evaluation`` or above ``max_intervals`` are skipped). A run that
    reaches a rung goes on only if it is in the top ``1/reduction_factor`` of the runs that
    reached that rung before it.
    """

    POLICY_NAME = "ASHA"

    def __init__(
        self,
        evaluation_interval: int = 1,
        delay_evaluation: int = 0,
        reduction_factor: int = 3,
        max_intervals: int | None = None,
    ) -> None:
        properties: dict[str, Any] = {
            "evaluation_interval": evaluation_interval,
            "delay_evaluation": delay_evaluation,
            "reduction_factor": reduction_factor,
        }
        if max_intervals is not None:
            properties["max_intervals"] = max_intervals
        super().__init__(self.POLICY_NAME, properties)
