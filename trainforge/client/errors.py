"""Turning the control plane's refusals into the SDK's exceptions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from trainforge.client.http import ApiError
from trainforge.exceptions import AzureMLException, ServiceException, UserErrorException

M = TypeVar("M", bound=BaseModel)


@contextmanager
def sdk_errors(
    not_found: type[AzureMLException] = UserErrorException,
    user_error: type[AzureMLException] = UserErrorException,
) -> Iterator[None]:
    """Raise ``not_found`` for a 404, ``user_error`` for other 4xx, ServiceException for 5xx."""
    try:
        yield
    except ApiError as exc:
        if exc.status_code == 404:
            raise not_found(exc.message) from None
        if exc.status_code < 500:
            raise user_error(exc.message) from None
        raise ServiceException(exc.message, status_code=exc.status_code, code=exc.code) from None


def validated(model: type[M], **fields: Any) -> M:
    """``model(**fields)``, with pydantic's refusal turned into a UserErrorException that
    names each field and what it allows."""
    try:
        return model(**fields)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(
                message if not where or message.startswith(where) else f"{where}: {message}"
            )
        raise UserErrorException("; ".join(problems)) from None
