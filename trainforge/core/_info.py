"""Read-only attributes of facade objects that show what the service last answered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class InfoField:
    """An attribute that reads ``self._info.<name>`` (the object's last answer from the
    control plane), through ``copy`` when given (``dict``: callers may change their copy)."""

    def __init__(self, field: str | None = None, copy: Callable[[Any], Any] | None = None) -> None:
        self.field = field
        self.copy = copy

    def __set_name__(self, owner: type, name: str) -> None:
        self.field = self.field or name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = getattr(instance._info, self.field or "")
        return self.copy(value) if self.copy is not None and value is not None else value
