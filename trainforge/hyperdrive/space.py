"""Search spaces in the SDK's list encoding (``["uniform", [0.1, 0.5]]``): checks and draws."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from typing import Any

ARITY: dict[str, int] = {
    "choice": 1,
    "randint": 1,
    "uniform": 2,
    "quniform": 3,
    "loguniform": 2,
    "qloguniform": 3,
    "normal": 2,
    "qnormal": 3,
    "lognormal": 2,
    "qlognormal": 3,
}
ARGUMENT_NAMES: dict[str, tuple[str, ...]] = {
    "choice": ("options",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "loguniform": ("min_value", "max_value"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
}
# What each sampling method accepts (None: every expression).
SUPPORTED: dict[str, frozenset[str] | None] = {
    "RANDOM": None,
    "GRID": frozenset({"choice"}),
    "BayesianOptimization": frozenset({"choice", "uniform", "quniform"}),
}
SAMPLING_LABEL = {
    "RANDOM": "RandomParameterSampling",
    "GRID": "GridParameterSampling",
    "BayesianOptimization": "BayesianParameterSampling",
}


class SpaceError(ValueError):
    """A search space or expression the SDK would refuse; the message names the field."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integral(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )


def check_expression(kind: str, args: list[Any], where: str = "") -> None:
    """Raise SpaceError unless ``kind(*args)`` is a valid parameter expression."""
    at = f"{where}: " if where else ""
    if kind not in ARITY:
        raise SpaceError(
            f"{at}unknown parameter expression {kind!r}; use one of {', '.join(ARITY)}"
        )
    if not isinstance(args, list) or len(args) != ARITY[kind]:
        names = ", ".join(ARGUMENT_NAMES[kind])
        raise SpaceError(f"{at}{kind} takes [{names}], got {args!r}")
    if kind == "choice":
        options = args[0]
        if not isinstance(options, list) or not options:
            raise SpaceError(
                f"{at}choice: options must be a non-empty single list, a non-empty single "
                "range() or a positive number of comma separated values"
            )
        return
    if kind == "randint":
        upper = args[0]
        if not isinstance(upper, int) or isinstance(upper, bool) or upper <= 0:
            raise SpaceError(f"{at}randint: upper must be a positive int, got {upper!r}")
        return
    for name, value in zip(ARGUMENT_NAMES[kind], args, strict=True):
        if name == "q":
            if not _integral(value) or value <= 0:
                raise SpaceError(f"{at}{kind}: q must be a positive int, got {value!r}")
        elif not _number(value):
            raise SpaceError(f"{at}{kind}: {name} must be a float, got {value!r}")
    if kind in ("uniform", "quniform") and args[0] >= args[1]:
        raise SpaceError(
            f"{at}{kind}: min_value must be < max_value, got {args[0]!r} >= {args[1]!r}"
        )
    if kind in ("loguniform", "qloguniform") and args[0] > args[1]:
        raise SpaceError(
            f"{at}{kind}: min_value must be <= max_value, got {args[0]!r} > {args[1]!r}"
        )
    if kind in ("normal", "qnormal", "lognormal", "qlognormal") and args[1] < 0:
        raise SpaceError(f"{at}{kind}: sigma must be non negative, got {args[1]!r}")


def _check_choice_values(options: list[Any], where: str) -> None:
    """Grid and Bayesian sampling: choice values must be int, float or str, not mixed with str."""
    for value in options:
        if type(value) not in (int, str, float):
            raise SpaceError(f"{where}: 'choice' values should be 'int', 'string' or 'float'")
    strings = sum(1 for value in options if isinstance(value, str))
    if strings not in (0, len(options)):
        raise SpaceError(f"{where}: either all or none of the 'choice' values should be 'str' type")


def check_space(method: str, space: Any) -> None:
    """Raise SpaceError unless ``space`` is a valid parameter space for ``method``."""
    label = SAMPLING_LABEL.get(method)
    if label is None:
        raise SpaceError(
            f"sampling name: unknown sampling method {method!r}; use one of {', '.join(SUPPORTED)}"
        )
    if not isinstance(space, dict) or not space:
        raise SpaceError(f"{label}: parameter_space must be a non-empty dict of name -> expression")
    allowed = SUPPORTED[method]
    for name, expression in space.items():
        where = f"parameter_space[{name!r}]"
        if not isinstance(name, str) or not name.lstrip("-"):
            raise SpaceError(f"{where}: a parameter name must be a non-empty string")
        if (
            not isinstance(expression, list | tuple)
            or len(expression) != 2
            or not isinstance(expression[0], str)
        ):
            raise SpaceError(
                f"{where}: give a parameter expression such as choice(1, 2) or uniform(0, 1), "
                f"got {expression!r}"
            )
        kind, args = expression[0], list(expression[1])
        check_expression(kind, args, where)
        if allowed is not None and kind not in allowed:
            raise SpaceError(
                f"{where}: {label} supports only the following distributions: "
                f"[{', '.join(sorted(allowed))}], not {kind}"
            )
        if allowed is not None and kind == "choice":
            _check_choice_values(args[0], where)
    names = [name.lstrip("-") for name in space]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SpaceError(
            f"parameter_space: {', '.join(duplicates)} given twice (with and without leading dashes)"
        )


def _quantize(value: float, q: float) -> int | float:
    quantized = round(value / q) * q
    return int(quantized) if _integral(q) else quantized


def draw(expression: list[Any], rng: random.Random) -> Any:
    """One value of ``expression`` with the SDK's semantics."""
    kind, args = expression[0], list(expression[1])
    if kind == "choice":
        return rng.choice(args[0])
    if kind == "randint":
        return rng.randrange(args[0])
    if kind == "uniform":
        return rng.uniform(args[0], args[1])
    if kind == "quniform":
        return _quantize(rng.uniform(args[0], args[1]), args[2])
    if kind == "loguniform":
        return math.exp(rng.uniform(args[0], args[1]))
    if kind == "qloguniform":
        return _quantize(math.exp(rng.uniform(args[0], args[1])), args[2])
    if kind == "normal":
        return rng.gauss(args[0], args[1])
    if kind == "qnormal":
        return _quantize(rng.gauss(args[0], args[1]), args[2])
    if kind == "lognormal":
        return math.exp(rng.gauss(args[0], args[1]))
    if kind == "qlognormal":
        return _quantize(math.exp(rng.gauss(args[0], args[1])), args[2])
    raise SpaceError(f"unknown parameter expression {kind!r}")


def grid_size(space: dict[str, list[Any]]) -> int:
    return math.prod(len(expression[1][0]) for expression in space.values())


def grid_points(space: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """The cartesian product of the choices, in key order then option order."""
    names = list(space)
    for values in itertools.product(*(space[name][1][0] for name in names)):
        yield dict(zip(names, values, strict=True))
