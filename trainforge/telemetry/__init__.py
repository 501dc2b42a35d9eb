"""``azureml.telemetry``: accepted so that sample notebooks run; trainforge sends nothing."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any


@functools.cache
def _say_once() -> None:
    # cache: the note is printed the first time only, however often a notebook calls it.
    print(
        "trainforge collects no diagnostics: set_diagnostics_collection is accepted and does nothing.",
        file=sys.stderr,
    )


def set_diagnostics_collection(
    send_diagnostics: bool = True,
    verbosity: int = logging.INFO,
    reset: bool = False,
    path: str | None = None,
) -> None:
    """Accepted and ignored: trainforge sends no telemetry anywhere."""
    _say_once()


def get_diagnostics_collection_info(
    component_name: str | None = None, path: str | None = None
) -> dict[str, Any]:
    """What ``set_diagnostics_collection`` would have set: diagnostics are always off here."""
    return {"send_diagnostics": False, "verbosity": logging.getLevelName(logging.INFO)}
