"""Raw HTTP access for entry scripts (``azureml.contrib.services``): ``@rawhttp`` on
``run`` hands it the request as an ``AMLRequest``; it may answer with an ``AMLResponse``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.responses import Response

from trainforge.node.entry_script import RAW_HTTP_ATTR

F = TypeVar("F", bound=Callable[..., Any])


def rawhttp(func: F) -> F:
    """Mark ``run`` to receive the whole request (method, headers, args, body)."""
    setattr(func, RAW_HTTP_ATTR, True)
    return func


class AMLRequest:
    """The request a ``@rawhttp`` run gets, with the Flask-like reads the SDK's has."""

    def __init__(
        self, method: str, headers: dict[str, str], args: dict[str, str], data: bytes, path: str
    ) -> None:
        self.method = method
        self.headers = headers
        self.args = args
        self.data = data
        self.full_path = path

    def get_data(self, as_text: bool = False) -> bytes | str:
        return self.data.decode("utf-8") if as_text else self.data

    def get_json(self, force: bool = False, silent: bool = False) -> Any:
        try:
            return json.loads(self.data)
        except ValueError:
            if silent:
                return None
            raise


class AMLResponse:
    """What a ``@rawhttp`` run may return: a body, a status and headers
    (``json_str=True``: the body is JSON text already)."""

    def __init__(
        self,
        message: Any,
        status_code: int = 200,
        response_headers: dict[str, str] | None = None,
        json_str: bool = False,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.headers = dict(response_headers or {})
        self.json_str = json_str

    def to_starlette(self) -> Response:
        if isinstance(self.message, bytes):
            return Response(self.message, self.status_code, self.headers)
        if self.json_str or not isinstance(self.message, str):
            body = self.message if self.json_str else json.dumps(self.message)
            return Response(body, self.status_code, self.headers, media_type="application/json")
        return Response(self.message, self.status_code, self.headers, media_type="text/plain")
