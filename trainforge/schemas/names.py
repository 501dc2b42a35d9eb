"""Name rules of the Azure ML service, checked at the edge of the API."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

WORKSPACE_NAME = re.compile(r"^[a-zA-Z0-9][\w-]{2,32}$")
EXPERIMENT_NAME = re.compile(r"^[a-zA-Z0-9][\w-]{0,254}$")
SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
RUN_ID = re.compile(r"^[\w.-]{1,256}$")


def _checker(pattern: re.Pattern[str], what: str, rule: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{what} {value!r} is invalid: {rule}")
        return value

    return check


WORKSPACE_RULE = (
    "3 to 33 characters, starting with a letter or digit, then letters, digits, '_' or '-'"
)
EXPERIMENT_RULE = (
    "1 to 255 characters, starting with a letter or digit, then letters, digits, '_' or '-'"
)
SECRET_RULE = "1 to 127 characters: letters, digits and '-'"
RUN_ID_RULE = "1 to 256 characters: letters, digits, '_', '-' and '.'"

WorkspaceName = Annotated[
    str, AfterValidator(_checker(WORKSPACE_NAME, "Workspace name", WORKSPACE_RULE))
]
ExperimentName = Annotated[
    str, AfterValidator(_checker(EXPERIMENT_NAME, "Experiment name", EXPERIMENT_RULE))
]
SecretName = Annotated[str, AfterValidator(_checker(SECRET_NAME, "Secret name", SECRET_RULE))]
RunId = Annotated[str, AfterValidator(_checker(RUN_ID, "Run id", RUN_ID_RULE))]


def validate(pattern: re.Pattern[str], value: str, what: str, rule: str) -> str:
    """Raise ValueError naming the field and the rule when ``value`` breaks it."""
    return _checker(pattern, what, rule)(value)


def new_script_run_id(experiment_name: str) -> str:
    """A script run's id as Azure ML gives one: ``<experiment>_<epoch seconds>_<8 hex>``
    (made by the SDK when it must know the id before submitting, else by the server)."""
    return f"{experiment_name}_{int(time.time())}_{uuid.uuid4().hex[:8]}"
