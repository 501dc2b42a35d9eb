"""TrainforgeClient: every call the SDK, CLI and launchers make to the control plane."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from types import EllipsisType
from typing import Any, BinaryIO

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    stop_never,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from trainforge import __version__
from trainforge.client.settings import ClientSettings

API = "/api/v1"
# The request never reached the server: always safe to send again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
# The server may have acted on the request before the connection broke: only requests
# that are idempotent (or carry an Idempotency-Key) are sent again.
MAYBE_SENT = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ReadTimeout)
IDEMPOTENCY_HEADER = "Idempotency-Key"


class ApiError(Exception):
    """The control plane refused a request; ``code`` and ``message`` say why."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message


class ServerBusy(Exception):
    """A 503 with Retry-After: the server rolled the request back whole (its database was
    locked by others), so sending it again, whatever its method, does it once."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"server busy: {response.request.method} {response.request.url.path}")
        self.response = response


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

    Connection failures are retried with backoff for ``retry_s`` seconds (for ever when
    None; by default TRAINFORGE_CLIENT_RETRY_S, as an SDK or CLI call waits: node agents,
    launchers and run processes pass None and wait as long as it takes), re-reading the server's address each time, so runs ride out a restart of the
    control plane. A POST is sent again only when the server cannot have acted on it or it
    is idempotent (``post`` gives each call an Idempotency-Key that its retries reuse).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float = 60.0,
        retry_s: float | None | EllipsisType = ...,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.endpoint = endpoint
        self.retry_s = (
            ClientSettings().client_retry_s if isinstance(retry_s, EllipsisType) else retry_s
        )
        # The longest pause between tries: a node agent keeps it well inside the heartbeat
        # timeout, so it is heard soon after the server is back.
        self.max_backoff_s = max_backoff_s
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
        idempotent: bool | None = None,
    ) -> httpx.Response:
        headers = dict(headers or {})
        if idempotent is None:
            idempotent = method != "POST" or IDEMPOTENCY_HEADER in headers
        # A file body can be sent again from where it started; a generator cannot.
        seekable = getattr(content, "seekable", None)
        start = content.tell() if seekable is not None and seekable() else None  # type: ignore[union-attr]
        resendable = content is None or isinstance(content, bytes) or start is not None

        def send() -> httpx.Response:
            if start is not None:
                content.seek(start)  # type: ignore[union-attr]
            response = self._http.request(
                method,
                f"{self.endpoint.address}{API}{path}",
                json=json,
                params={k: v for k, v in (params or {}).items() if v is not None},
                content=content,
                headers={**headers, "Authorization": f"Bearer {self.endpoint.token}"},
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
            if response.status_code == 503 and response.headers.get("Retry-After"):
                raise ServerBusy(response)
            return response

        def retryable(exc: BaseException) -> bool:
            if not resendable:
                return False
            return isinstance(exc, NOT_SENT + (ServerBusy,)) or (
                idempotent and isinstance(exc, MAYBE_SENT)
            )

        while True:
            try:
                response = self._retrying(retry, retryable)(send)
            except ServerBusy as busy:
                response = busy.response
            if response.status_code == 401 and self.endpoint.refresh():
                continue
            if response.status_code >= 400:
                raise _api_error(response)
            return response

    def _retrying(self, retry: bool, retryable: Callable[[BaseException], bool]) -> Retrying:
        def find_server(_state: RetryCallState) -> None:
            self.endpoint.refresh()  # a restarted server may listen elsewhere

        stop: stop_base
        if not retry:
            stop = stop_after_delay(0)
        elif self.retry_s is None:
            stop = stop_never
        else:
            stop = stop_after_delay(self.retry_s)
        return Retrying(
            retry=retry_if_exception(retryable),
            stop=stop,
            wait=wait_exponential(multiplier=0.2, max=self.max_backoff_s) + wait_random(0, 0.2),
            before_sleep=find_server,
            reraise=True,
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        """POST with a fresh Idempotency-Key: a retry after a lost answer creates nothing twice."""
        key = {IDEMPOTENCY_HEADER: uuid.uuid4().hex}
        return self.request("POST", path, json=body, params=params, headers=key).json()

    def put(self, path: str, body: Any = None) -> Any:
        response = self.request("PUT", path, json=body)
        return response.json() if response.content else None

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body).json()

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def upload(
        self, path: str, data: bytes | BinaryIO, params: dict[str, Any] | None = None
    ) -> Any:
        return self.request("PUT", path, content=data, params=params).json()

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
