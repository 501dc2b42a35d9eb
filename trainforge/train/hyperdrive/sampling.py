"""Hyperparameter sampling: random, grid and Bayesian, as ``azureml.train.hyperdrive.sampling``."""

from __future__ import annotations

from typing import Any

from trainforge.hyperdrive.space import SpaceError, check_space
from trainforge.train.hyperdrive.exceptions import HyperDriveConfigException


class HyperParameterSampling:
    """Base of the sampling methods: a parameter space and the method's name."""

    SAMPLING_NAME = ""

    def __init__(
        self,
        sampling_method_name: str,
        parameter_space: dict[str, list[Any]],
        properties: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(parameter_space, dict):
            raise HyperDriveConfigException(
                f"{type(self).__name__}: parameter_space must be a dict of name -> expression"
            )
        space = {
            name: [expr[0], list(expr[1])]
            if isinstance(expr, list | tuple) and len(expr) == 2
            else expr
            for name, expr in parameter_space.items()
        }
        try:
            check_space(sampling_method_name, space)
        except SpaceError as exc:
            raise HyperDriveConfigException(str(exc)) from None
        self._sampling_method_name = sampling_method_name
        self._parameter_space = space
        self._properties = dict(properties) if properties else None

    def to_json(self) -> dict[str, Any]:
        """The service-side JSON: ``{"name", "parameter_space", "properties"}``."""
        definition: dict[str, Any] = {
            "name": self._sampling_method_name,
            "parameter_space": self._parameter_space,
        }
        if self._properties:
            definition["properties"] = self._properties
        return definition

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HyperParameterSampling) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._parameter_space!r})"


class RandomParameterSampling(HyperParameterSampling):
    """Random sampling over any expression.

    Reproducible: give ``properties={"rngSeed": 42}`` (or ``seed=42``) and the same sweep
    draws the same values for the same child runs.
    """

    SAMPLING_NAME = "RANDOM"

    def __init__(
        self,
        parameter_space: dict[str, list[Any]],
        properties: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        properties = dict(properties or {})
        if seed is not None:
            properties["rngSeed"] = seed
        seed_value = properties.get("rngSeed")
        if seed_value is not None and (
            not isinstance(seed_value, int) or isinstance(seed_value, bool)
        ):
            raise HyperDriveConfigException(f"rngSeed: expected an int, got {seed_value!r}")
        super().__init__(self.SAMPLING_NAME, parameter_space, properties)


class GridParameterSampling(HyperParameterSampling):
    """Every combination of ``choice`` values; the sweep ends when the grid is exhausted."""

    SAMPLING_NAME = "GRID"

    def __init__(
        self, parameter_space: dict[str, list[Any]], properties: dict[str, Any] | None = None
    ) -> None:
        super().__init__(self.SAMPLING_NAME, parameter_space, properties)


class BayesianParameterSampling(HyperParameterSampling):
    """Bayesian optimization (optuna's TPE) over ``choice``, ``uniform`` and ``quniform``.

    Each new child run's values are chosen from the results of the completed ones; no
    early-termination policy can be combined with it.
    """

    SAMPLING_NAME = "BayesianOptimization"

    def __init__(
        self, parameter_space: dict[str, list[Any]], properties: dict[str, Any] | None = None
    ) -> None:
        if not parameter_space:
            raise HyperDriveConfigException(
                "BayesianParameterSampling: parameter_space must not be None or empty"
            )
        super().__init__(self.SAMPLING_NAME, parameter_space, properties)
