"""Turning the control plane's refusals into the SDK's exceptions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trainforge.client.http import ApiError
from trainforge.exceptions import AzureMLException, ServiceException, UserErrorException


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
