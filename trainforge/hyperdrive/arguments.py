"""How sampled values reach a trial's script: the SDK's argument rules."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def _is_flag(item: str) -> bool:
    if not item.startswith("-"):
        return False
    try:
        float(item)  # "-1" is a value, not a flag
    except ValueError:
        return True
    return False


def remove_duplicates(
    arguments: Sequence[str], names: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Drop base arguments that a sampled parameter also sets (HyperDrive wins).

    Returns the kept arguments and the flags that were overridden; a flag's value (the
    next item, when it is not itself a flag) goes with it.
    """
    sampled = {name.lstrip("-") for name in names}
    kept: list[str] = []
    overridden: list[str] = []
    i = 0
    while i < len(arguments):
        item = arguments[i]
        if _is_flag(item) and item.lstrip("-") in sampled:
            overridden.append(item)
            i += 1
            if i < len(arguments) and not _is_flag(arguments[i]):
                i += 1
            continue
        kept.append(item)
        i += 1
    return kept, overridden


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    return json.dumps(value)


def trial_arguments(base: Sequence[str], parameters: Mapping[str, Any]) -> list[str]:
    """The base arguments (duplicates removed) plus ``--<name> <value>`` per parameter."""
    kept, _ = remove_duplicates(base, list(parameters))
    for name, value in parameters.items():
        kept += [f"--{name.lstrip('-')}", format_value(value)]
    return kept
