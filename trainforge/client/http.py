"""TrainforgeClient: every call the SDK, CLI and launchers make to the control plane."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import httpx

from trainforge import __version__

API = "/api/v1"
RETRYABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectTimeout)


class ApiError(Exception):
    """The control plane refused a request; ``code`` and ``message`` say why."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message


class Endpoint:
    """An address and a token; ``refresh`` finds them again after a server restart."""

    def __init__(
        self,
        address: str,
        token: str,
        refresh: Callable[[], tuple[str, str] | None] | None = None,
    ) -> None:
        self.address = address.rstrip("/")
        self.token = token
        self._refresh = refresh

    def refresh(self) -> bool:
        if self._refresh is None:
            return False
        found = self._refresh()
        if found is None or (found[0].rstrip("/"), found[1]) == (self.address, self.token):
            return False
        self.address, self.token = found[0].rstrip("/"), found[1]
        return True


class TrainforgeClient:
    """A thin typed door onto ``/api/v1``: paths in, JSON or bytes out, errors as ApiError.

    Connection failures are retried for ``retry_s`` seconds, re-reading the server's
    address each time, so runs ride out a restart of the control plane.
    """

    def __init__(
        self, endpoint: Endpoint, *, timeout: float = 60.0, retry_s: float = 120.0
    ) -> None:
        self.endpoint = endpoint
        self.retry_s = retry_s
        self._http = httpx.Client(
            timeout=timeout, headers={"User-Agent": f"trainforge/{__version__}"}
        )

    @property
    def address(self) -> str:
        return self.endpoint.address

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: bytes | Iterator[bytes] | BinaryIO | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        deadline = time.monotonic() + (self.retry_s if retry else 0)
        delay = 0.2
        while True:
            try:
                response = self._http.request(
                    method,
                    f"{self.endpoint.address}{API}{path}",
                    json=json,
                    params={k: v for k, v in (params or {}).items() if v is not None},
                    content=content,
                    headers={**(headers or {}), "Authorization": f"Bearer {self.endpoint.token}"},
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except RETRYABLE:
                if time.monotonic() >= deadline or (
                    content is not None and not isinstance(content, bytes)
                ):
                    raise
                self.endpoint.refresh()
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if response.status_code == 401 and self.endpoint.refresh():
                continue
            if response.status_code >= 400:
                raise _api_error(response)
            return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json=body, params=params).json()

    def put(self, path: str, body: Any = None) -> Any:
        response = self.request("PUT", path, json=body)
        return response.json() if response.content else None

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body).json()

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def upload(self, path: str, data: bytes | BinaryIO) -> Any:
        return self.request("PUT", path, content=data).json()

    def download(self, path: str, params: dict[str, Any] | None = None) -> Iterator[bytes]:
        with self._http.stream(
            "GET",
            f"{self.endpoint.address}{API}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.endpoint.token}"},
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise _api_error(response)
            yield from response.iter_bytes(1 << 20)

    def exists(self, path: str) -> bool:
        try:
            self.request("HEAD", path)
        except ApiError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        return ApiError(
            response.status_code, "ServiceError", response.text[:500] or response.reason_phrase
        )
