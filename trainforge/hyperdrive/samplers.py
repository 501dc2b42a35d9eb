"""The next trial's hyperparameters: random (seeded), grid (exhaustible) and Bayesian (optuna).

Every sampler is a function of the stored sweep (seed, trial index, finished trials), so a
restarted control plane picks up exactly where it left off.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trainforge.hyperdrive import space


@dataclass
class Sample:
    """A trial's values as the script sees them, and optuna's internal view of them."""

    parameters: dict[str, Any]
    internal: dict[str, Any] | None = None


@dataclass
class Finished:
    """A completed trial, for Bayesian sampling: its optuna params and its best metric."""

    internal: dict[str, Any]
    value: float


def capacity(method: str, parameter_space: dict[str, list[Any]]) -> int | None:
    """How many distinct trials the method can produce (None: unbounded)."""
    return space.grid_size(parameter_space) if method == "GRID" else None


def next_sample(
    method: str,
    parameter_space: dict[str, list[Any]],
    index: int,
    seed: int,
    maximize: bool,
    finished: Sequence[Finished] = (),
) -> Sample | None:
    """The parameters of trial ``index``; None when the grid is exhausted."""
    if method == "GRID":
        if index >= space.grid_size(parameter_space):
            return None
        return Sample(next(itertools.islice(space.grid_points(parameter_space), index, None)))
    if method == "BayesianOptimization":
        return _bayesian(parameter_space, index, seed, maximize, finished)
    rng = random.Random(f"{seed}:{index}")
    return Sample({name: space.draw(expr, rng) for name, expr in parameter_space.items()})


def _distributions(parameter_space: dict[str, list[Any]]) -> dict[str, Any]:
    import optuna

    found: dict[str, Any] = {}
    for name, (kind, args) in parameter_space.items():
        if kind == "choice":
            found[name] = optuna.distributions.CategoricalDistribution(list(args[0]))
        elif kind == "uniform":
            found[name] = optuna.distributions.FloatDistribution(float(args[0]), float(args[1]))
        else:  # quniform: round(uniform / q) * q, i.e. the multiples of q in the range
            q = args[2]
            found[name] = optuna.distributions.IntDistribution(
                math.ceil(args[0] / q), math.floor(args[1] / q)
            )
    return found


def _bayesian(
    parameter_space: dict[str, list[Any]],
    index: int,
    seed: int,
    maximize: bool,
    finished: Sequence[Finished],
) -> Sample:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = _distributions(parameter_space)
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=optuna.samplers.TPESampler(seed=(seed + index) % 2**32),
    )
    for done in finished:
        study.add_trial(
            optuna.trial.create_trial(
                params=done.internal, distributions=distributions, value=done.value
            )
        )
    trial = study.ask(distributions)
    internal = dict(trial.params)
    values: dict[str, Any] = {}
    for name, (kind, args) in parameter_space.items():
        value = internal[name]
        values[name] = int(value * args[2]) if kind == "quniform" else value
    return Sample(values, internal)
