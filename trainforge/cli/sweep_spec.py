"""The sweep file ``trainforge sweep submit`` reads (YAML or JSON), turned into a HyperDriveConfig."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trainforge.train.hyperdrive import parameter_expressions
from trainforge.train.hyperdrive.exceptions import HyperDriveConfigException

EXPRESSION = re.compile(r"^\s*(\w+)\s*\((.*)\)\s*$", re.S)
POLICIES = {
    "bandit": "BanditPolicy",
    "median_stopping": "MedianStoppingPolicy",
    "truncation_selection": "TruncationSelectionPolicy",
    "asha": "ASHAPolicy",
    "none": "NoTerminationPolicy",
}
SAMPLINGS = {
    "random": "RandomParameterSampling",
    "grid": "GridParameterSampling",
    "bayesian": "BayesianParameterSampling",
}


class SamplingSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["random", "grid", "bayesian"]
    # name -> "uniform(0.01, 0.1)" or the SDK's encoding ["uniform", [0.01, 0.1]]
    parameter_space: dict[str, str | list[Any]]
    seed: int | None = None


class PolicySection(BaseModel):
    """``type`` plus the policy's own arguments (slack_factor, evaluation_interval, ...)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["bandit", "median_stopping", "truncation_selection", "asha", "none"] = "none"


class SweepFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment: str = "default"
    source_directory: str = "."
    script: str
    arguments: list[Any] = Field(default_factory=list)
    compute_target: str = "local"
    sampling: SamplingSection
    policy: PolicySection = Field(default_factory=PolicySection)
    primary_metric_name: str
    primary_metric_goal: Literal["maximize", "minimize"]
    max_total_runs: int
    max_concurrent_runs: int | None = None
    max_duration_minutes: int = 10080


def expression(name: str, text: str | list[Any]) -> list[Any]:
    """``"choice(16, 32)"`` -> ``["choice", [[16, 32]]]``; the SDK's list encoding passes through."""
    if isinstance(text, list):
        return text
    match = EXPRESSION.match(text)
    function = getattr(parameter_expressions, match.group(1), None) if match else None
    if match is None or function is None or match.group(1).startswith("_"):
        raise HyperDriveConfigException(
            f"sampling.parameter_space[{name!r}]: {text!r} is not an expression such as "
            "choice(16, 32), uniform(0.01, 0.1) or loguniform(-6, -1)"
        )
    try:
        args = ast.literal_eval(f"[{match.group(2)}]")
    except (ValueError, SyntaxError):
        raise HyperDriveConfigException(
            f"sampling.parameter_space[{name!r}]: the arguments of {text!r} must be literals"
        ) from None
    return function(*args)


def load(path: Path) -> tuple[SweepFile, Any]:
    """Read a sweep file; return it and the HyperDriveConfig it describes."""
    from trainforge.core import ScriptRunConfig
    from trainforge.train import hyperdrive

    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        import json

        data = json.loads(text)
    spec = SweepFile.model_validate(data)
    space = {name: expression(name, value) for name, value in spec.sampling.parameter_space.items()}
    sampling_class = getattr(hyperdrive, SAMPLINGS[spec.sampling.type])
    sampling = (
        sampling_class(space, seed=spec.sampling.seed)
        if spec.sampling.type == "random"
        else sampling_class(space)
    )
    options = spec.policy.model_dump(exclude={"type"})
    try:
        policy = getattr(hyperdrive, POLICIES[spec.policy.type])(**options)
    except TypeError as exc:
        raise HyperDriveConfigException(f"policy: {exc}") from None
    src = ScriptRunConfig(
        source_directory=str((path.parent / spec.source_directory).resolve()),
        script=spec.script,
        arguments=spec.arguments,
        compute_target=spec.compute_target,
    )
    config = hyperdrive.HyperDriveConfig(
        run_config=src,
        hyperparameter_sampling=sampling,
        policy=policy,
        primary_metric_name=spec.primary_metric_name,
        primary_metric_goal=hyperdrive.PrimaryMetricGoal.from_str(spec.primary_metric_goal),
        max_total_runs=spec.max_total_runs,
        max_concurrent_runs=spec.max_concurrent_runs,
        max_duration_minutes=spec.max_duration_minutes,
    )
    return spec, config
