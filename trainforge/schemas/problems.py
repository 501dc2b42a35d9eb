"""A pydantic refusal as one line that names each field and what it allows.

The server answers a REST caller with field paths (``scale_settings.max_nodes: ...``); the
SDK raises its exception with the argument's own name (``max_nodes``), as the SDK's
arguments are flat. A rule may give the SDK its own wording (``ctx['sdk']``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

_WHERE_NOT_A_FIELD = ("body", "query", "path")


def _message(error: dict[str, Any] | Any) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def field_path(loc: Sequence[int | str]) -> str:
    """``('body', 'scale_settings', 'max_nodes')`` -> ``'scale_settings.max_nodes'``."""
    return ".".join(str(part) for part in loc if part not in _WHERE_NOT_A_FIELD)


def rest_problems(errors: Sequence[Any]) -> str:
    """Each error as ``<field path>: <message>`` (the message alone for the whole request)."""
    problems = []
    for error in errors:
        where, message = field_path(error["loc"]), _message(error)
        problems.append(
            message if not where or message.startswith(where) else f"{where}: {message}"
        )
    return "; ".join(problems)


def sdk_problems(exc: ValidationError) -> str:
    """Each error in the SDK's words: named by the argument, not by the field path."""
    problems = []
    for error in exc.errors():
        context = error.get("ctx") or {}
        message = str(context.get("sdk") or _message(error))
        names = [part for part in error["loc"] if isinstance(part, str)]
        argument = names[-1] if names else ""
        # The rules' own messages name their arguments; pydantic's own ('Input should be a
        # valid string') need the argument in front.
        own = error["type"] == "value_error" or "sdk" in context
        problems.append(
            message if own or not argument or argument in message else f"{argument}: {message}"
        )
    return "; ".join(problems)
