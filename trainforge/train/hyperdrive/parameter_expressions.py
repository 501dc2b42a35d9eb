"""Parameter expressions that describe a search space, as the SDK encodes them.

Each function returns the SDK's serializable list, e.g. ``uniform(0.1, 0.5)`` is
``["uniform", [0.1, 0.5]]`` and ``choice(1, 2)`` is ``["choice", [[1, 2]]]``.
"""

from __future__ import annotations

from typing import Any

from trainforge.hyperdrive.space import SpaceError, check_expression
from trainforge.train.hyperdrive.exceptions import HyperDriveConfigException


def _expression(kind: str, *args: Any) -> list[Any]:
    try:
        check_expression(kind, list(args))
    except SpaceError as exc:
        raise HyperDriveConfigException(str(exc)) from None
    return [kind, list(args)]


def choice(*options: Any) -> list[Any]:
    """A discrete set of options: ``choice(1, 2, 3)``, ``choice([1, 2, 3])`` or ``choice(range(4))``."""
    if len(options) == 1 and isinstance(options[0], range | list):
        values = list(options[0])
    elif any(isinstance(option, range | list) for option in options):
        raise HyperDriveConfigException(
            "choice: options must be a non-empty single list, a non-empty single range() or a "
            "positive number of comma separated values"
        )
    else:
        values = list(options)
    return _expression("choice", values)


def randint(upper: int) -> list[Any]:
    """Random integers in [0, upper)."""
    return _expression("randint", upper)


def uniform(min_value: float, max_value: float) -> list[Any]:
    """Values uniformly distributed between min_value and max_value."""
    return _expression("uniform", min_value, max_value)


def quniform(min_value: float, max_value: float, q: int) -> list[Any]:
    """``round(uniform(min_value, max_value) / q) * q``."""
    return _expression("quniform", min_value, max_value, q)


def loguniform(min_value: float, max_value: float) -> list[Any]:
    """``exp(uniform(min_value, max_value))``: the logarithm is uniformly distributed."""
    return _expression("loguniform", min_value, max_value)


def qloguniform(min_value: float, max_value: float, q: int) -> list[Any]:
    """``round(exp(uniform(min_value, max_value)) / q) * q``."""
    return _expression("qloguniform", min_value, max_value, q)


def normal(mu: float, sigma: float) -> list[Any]:
    """Real values normally distributed with mean mu and standard deviation sigma."""
    return _expression("normal", mu, sigma)


def qnormal(mu: float, sigma: float, q: int) -> list[Any]:
    """``round(normal(mu, sigma) / q) * q``."""
    return _expression("qnormal", mu, sigma, q)


def lognormal(mu: float, sigma: float) -> list[Any]:
    """``exp(normal(mu, sigma))``: the logarithm is normally distributed."""
    return _expression("lognormal", mu, sigma)


def qlognormal(mu: float, sigma: float, q: int) -> list[Any]:
    """``round(exp(normal(mu, sigma)) / q) * q``."""
    return _expression("qlognormal", mu, sigma, q)
