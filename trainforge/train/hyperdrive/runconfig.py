"""HyperDriveConfig: what to sweep, how, and within which budgets."""

from __future__ import annotations

import enum
import warnings
from typing import TYPE_CHECKING, Any, cast

from trainforge.client.api import api
from trainforge.client.api.sweeps import SweepsApi
from trainforge.client.errors import sdk_errors
from trainforge.core._tags import sanitize
from trainforge.hyperdrive.arguments import remove_duplicates
from trainforge.schemas.sweeps import MAX_DURATION_MINUTES, MAX_TOTAL_RUNS
from trainforge.train.hyperdrive.exceptions import HyperDriveConfigException
from trainforge.train.hyperdrive.policy import EarlyTerminationPolicy, NoTerminationPolicy
from trainforge.train.hyperdrive.sampling import BayesianParameterSampling, HyperParameterSampling

if TYPE_CHECKING:
    from trainforge.core.experiment import Experiment
    from trainforge.schemas.sweeps import SweepSettings
    from trainforge.train.hyperdrive.run import HyperDriveRun

RECOMMENDED_MIN_RUNS_PER_PARAMETER_BAYESIAN = 20
RECOMMENDED_MAX_CONCURRENT_RUNS_BAYESIAN = 20


class PrimaryMetricGoal(enum.Enum):
    """Whether the primary metric is to be maximized or minimized."""

    MINIMIZE = "MINIMIZE"
    MAXIMIZE = "MAXIMIZE"

    @staticmethod
    def from_str(goal: str) -> PrimaryMetricGoal:
        for member in PrimaryMetricGoal:
            if member.value.lower() == str(goal).lower():
                return member
        raise HyperDriveConfigException(
            f"primary_metric_goal: {goal!r} is not a goal; use 'maximize' or 'minimize'"
        )


def _positive_int(name: str, value: Any, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise HyperDriveConfigException(f"{name}: expected a positive int, got {value!r}")
    if maximum is not None and value > maximum:
        raise HyperDriveConfigException(f"{name}: must be at most {maximum}, got {value}")
    return value


class HyperDriveConfig:
    """A HyperDrive sweep: sampling, primary metric, early termination policy and budgets.

    Give exactly one of ``estimator`` and ``run_config`` (a ScriptRunConfig); each child run
    runs it with ``--<name> <value>`` appended for every sampled parameter. Submit with
    ``Experiment.submit`` to get a HyperDriveRun.
    """

    def __init__(
        self,
        hyperparameter_sampling: HyperParameterSampling,
        primary_metric_name: str,
        primary_metric_goal: PrimaryMetricGoal,
        max_total_runs: int,
        max_concurrent_runs: int | None = None,
        max_duration_minutes: int = MAX_DURATION_MINUTES,
        policy: EarlyTerminationPolicy | None = None,
        estimator: Any = None,
        run_config: Any = None,
        resume_from: Any = None,
        resume_child_runs: Any = None,
        pipeline: Any = None,
        debug_flag: Any = None,
        **kwargs: Any,
    ) -> None:
        from trainforge.core.script_run_config import ScriptRunConfig

        given = [
            name
            for name, value in (
                ("estimator", estimator),
                ("run_config", run_config),
                ("pipeline", pipeline),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise HyperDriveConfigException(
                "estimator, run_config, pipeline: exactly one of them must be given"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if pipeline is not None:
            raise HyperDriveConfigException(
                "pipeline: HyperDrive over pipelines is not supported yet; give an estimator or "
                "a ScriptRunConfig"
            )
        if run_config is not None and not isinstance(run_config, ScriptRunConfig):
            raise HyperDriveConfigException(
                f"run_config: expected a ScriptRunConfig, got {type(run_config).__name__}"
            )
        if resume_from is not None or resume_child_runs is not None:
            raise HyperDriveConfigException(
                "resume_from, resume_child_runs: warm-starting from earlier HyperDrive runs is "
                "not supported yet"
            )
        if not isinstance(hyperparameter_sampling, HyperParameterSampling):
            raise HyperDriveConfigException(
                "hyperparameter_sampling: expected RandomParameterSampling, "
                "GridParameterSampling or BayesianParameterSampling, got "
                f"{type(hyperparameter_sampling).__name__}"
            )
        if not isinstance(primary_metric_name, str) or not primary_metric_name:
            raise HyperDriveConfigException(
                "primary_metric_name: the name of the metric the child runs log, a non-empty string"
            )
        if not isinstance(primary_metric_goal, PrimaryMetricGoal):
            primary_metric_goal = PrimaryMetricGoal.from_str(primary_metric_goal)
        if policy is not None and not isinstance(policy, EarlyTerminationPolicy):
            raise HyperDriveConfigException(
                f"policy: expected an early termination policy, got {type(policy).__name__}"
            )
        bayesian = isinstance(hyperparameter_sampling, BayesianParameterSampling)
        if bayesian and policy is not None and not isinstance(policy, NoTerminationPolicy):
            raise HyperDriveConfigException(
                "policy: No early termination policy is currently supported with Bayesian sampling"
            )
        max_total_runs = _positive_int("max_total_runs", max_total_runs, MAX_TOTAL_RUNS)
        if max_concurrent_runs is not None:
            max_concurrent_runs = _positive_int("max_concurrent_runs", max_concurrent_runs)
        max_duration_minutes = _positive_int("max_duration_minutes", max_duration_minutes)
        if max_duration_minutes > MAX_DURATION_MINUTES:
            warnings.warn(
                f"The experiment maximum duration provided ({max_duration_minutes} minutes) exceeds "
                f"the service limit of {MAX_DURATION_MINUTES} minutes. The maximum duration will be "
                f"overridden with {MAX_DURATION_MINUTES} minutes.",
                stacklevel=2,
            )
            max_duration_minutes = MAX_DURATION_MINUTES

        self._estimator = estimator
        self._run_config = run_config
        self._hyperparameter_sampling = hyperparameter_sampling
        self._policy = policy or NoTerminationPolicy()
        self._generator_config = hyperparameter_sampling.to_json()
        self._policy_config = self._policy.to_json()
        self._primary_metric_config = {
            "name": primary_metric_name,
            "goal": primary_metric_goal.name.lower(),
        }
        self._max_total_runs = max_total_runs
        self._max_concurrent_runs = max_concurrent_runs or max_total_runs
        self._max_duration_minutes = max_duration_minutes
        self._resume_from = None

        if bayesian:
            recommended = RECOMMENDED_MIN_RUNS_PER_PARAMETER_BAYESIAN * len(
                hyperparameter_sampling._parameter_space
            )
            if max_total_runs < recommended:
                warnings.warn(
                    "For best results with Bayesian Sampling we recommend using a maximum number "
                    f"of runs greater than or equal to {RECOMMENDED_MIN_RUNS_PER_PARAMETER_BAYESIAN} "
                    f"times the number of hyperparameters being tuned. Current value for "
                    f"max_total_runs:{max_total_runs}. Recommendend value:{recommended}.",
                    stacklevel=2,
                )
            if self._max_concurrent_runs > RECOMMENDED_MAX_CONCURRENT_RUNS_BAYESIAN:
                warnings.warn(
                    f"We recommend using {RECOMMENDED_MAX_CONCURRENT_RUNS_BAYESIAN} max concurrent "
                    "runs or fewer when using Bayesian sampling since a higher number might not "
                    f"provide the best result. Current max concurrent runs:{self._max_concurrent_runs}.",
                    stacklevel=2,
                )

    # -- what the SDK exposes -----------------------------------------------------------
    @property
    def estimator(self) -> Any:
        return self._estimator

    @property
    def run_config(self) -> Any:
        return self._run_config

    @property
    def source_directory(self) -> str | None:
        return getattr(self._estimator or self._run_config, "source_directory", None)

    @property
    def hyperparameter_sampling(self) -> HyperParameterSampling:
        return self._hyperparameter_sampling

    @property
    def policy(self) -> EarlyTerminationPolicy:
        return self._policy

    @property
    def primary_metric_name(self) -> str:
        return self._primary_metric_config["name"]

    @property
    def primary_metric_goal(self) -> PrimaryMetricGoal:
        return PrimaryMetricGoal.from_str(self._primary_metric_config["goal"])

    @property
    def max_total_runs(self) -> int:
        return self._max_total_runs

    @property
    def max_concurrent_runs(self) -> int:
        return self._max_concurrent_runs

    @property
    def max_duration_minutes(self) -> int:
        return self._max_duration_minutes

    # -- submission ---------------------------------------------------------------------
    def _base_run_config(self) -> Any:
        """The trials' RunConfiguration, with base arguments HyperDrive overrides removed."""
        import copy

        config = self._estimator or self._run_config
        run_config = copy.deepcopy(config.run_config)
        names = list(self._generator_config["parameter_space"])
        kept, overridden = remove_duplicates([str(a) for a in run_config.arguments], names)
        if overridden:
            warnings.warn(
                "The same input parameter(s) are specified in estimator/run_config script params "
                "and HyperDrive parameter space. HyperDrive parameter space definition will override "
                f"duplicate entries in estimator. {overridden} is the list of overridden parameter(s).",
                stacklevel=4,
            )
            run_config.arguments = kept
        return run_config

    def _settings(self) -> SweepSettings:
        """What the service sweeps with, for a submit and for a HyperDriveStep."""
        from trainforge.schemas.sweeps import SweepSettings

        return SweepSettings(
            generator_config=self._generator_config,
            policy_config=self._policy_config,
            primary_metric_config=self._primary_metric_config,
            max_total_runs=self._max_total_runs,
            max_concurrent_runs=self._max_concurrent_runs,
            max_duration_minutes=self._max_duration_minutes,
        )

    def _submit(
        self, experiment: Experiment, tags: dict[str, str] | None = None, **kwargs: Any
    ) -> HyperDriveRun:
        from trainforge.core.run import run_of, submitting_user
        from trainforge.core.script_run import prepare
        from trainforge.schemas.sweeps import SweepCreate

        definition, snapshot_id = prepare(
            experiment, self.source_directory or ".", self._base_run_config()
        )
        request = SweepCreate(
            **self._settings().model_dump(),
            definition=definition,
            snapshot_id=snapshot_id,
            tags=sanitize(tags or {}),
            submitted_by=submitting_user(),
        )
        with sdk_errors():
            info = api(experiment.workspace, SweepsApi).create(experiment.name, request)
        # HyperDriveRun registered its type 'hyperdrive' (its module imports this one).
        return cast("HyperDriveRun", run_of(experiment, info, hyperdrive_config=self))

    @classmethod
    def _from_service(cls, sweep: dict[str, Any]) -> HyperDriveConfig:
        """The configuration of an existing HyperDrive run, as the service stored it."""
        from trainforge.train.hyperdrive.policy import EarlyTerminationPolicy
        from trainforge.train.hyperdrive.sampling import HyperParameterSampling

        config = cls.__new__(cls)
        generator, policy = sweep["generator_config"], sweep["policy_config"]
        config._estimator = config._run_config = None
        config._hyperparameter_sampling = HyperParameterSampling(
            generator["name"], generator["parameter_space"], generator.get("properties")
        )
        config._policy = EarlyTerminationPolicy(policy["name"], policy.get("properties") or None)
        config._generator_config = generator
        config._policy_config = policy
        config._primary_metric_config = dict(sweep["primary_metric_config"])
        config._max_total_runs = sweep["max_total_runs"]
        config._max_concurrent_runs = sweep["max_concurrent_runs"]
        config._max_duration_minutes = sweep["max_duration_minutes"]
        config._resume_from = None
        return config


class HyperDriveRunConfig(HyperDriveConfig):
    """The 2018-2019 name of HyperDriveConfig, with the estimator as first argument."""

    def __init__(
        self,
        estimator: Any,
        hyperparameter_sampling: HyperParameterSampling,
        primary_metric_name: str,
        primary_metric_goal: PrimaryMetricGoal,
        max_total_runs: int,
        max_concurrent_runs: int | None = None,
        max_duration_minutes: int = MAX_DURATION_MINUTES,
        policy: EarlyTerminationPolicy | None = None,
    ) -> None:
        super().__init__(
            hyperparameter_sampling=hyperparameter_sampling,
            primary_metric_name=primary_metric_name,
            primary_metric_goal=primary_metric_goal,
            max_total_runs=max_total_runs,
            max_concurrent_runs=max_concurrent_runs,
            max_duration_minutes=max_duration_minutes,
            policy=policy,
            estimator=estimator,
        )
