"""The SDK's coercion of tag and property values: anything but a string or None becomes str()."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("trainforge")


def sanitize(values: Mapping[str, Any]) -> dict[str, str | None]:
    """``values`` with non-string values turned into strings, as azureml's RunClient does
    (``run.tag("Competition Rank", 1)`` stores ``'1'``); None stays None."""
    out: dict[str, str | None] = {}
    for key, value in values.items():
        if value is None or isinstance(value, str):
            out[key] = value
        else:
            log.warning("Converting non-string tag to string: (%s: %s)", key, value)
            out[key] = str(value)
    return out
