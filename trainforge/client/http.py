"""TrainforgeClient: every call the SDK, CLI and launchers make to the control plane."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Generator, Iterator
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


class StaleToken(Exception):
    """The server refused the token and a fresh one was found, but the body cannot be sent
    again from inside the auth flow (a file stream): the retry policy sends it again."""


class TokenAuth(httpx.Auth):
    """The endpoint's bearer token on every request. On a 401 the endpoint is read again
    (a restarted server has a new token and maybe a new address) and the request re-sent."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.endpoint.token}"
        response = yield request
        if response.status_code != 401 or not self.endpoint.refresh():
            return
        if not isinstance(request.stream, httpx.ByteStream):
            raise StaleToken()
        request.url = httpx.URL(self.endpoint.address + request.url.raw_path.decode("ascii"))
        request.headers["Host"] = request.url.netloc.decode("ascii")
        request.headers["Authorization"] = f"Bearer {self.endpoint.token}"
        yield request


def new_idempotency_key() -> dict[str, str]:
    """A fresh Idempotency-Key header: every retry of the one call sends the same key."""
    return {IDEMPOTENCY_HEADER: uuid.uuid4().hex}


class LazyTlsTransport(httpx.BaseTransport):
    """Plain HTTP through a transport that holds no certificates; HTTPS through one made
    on its first use.

    httpx's default transport loads the CA bundle when the client is made (0.1-0.2 s of
    CPU here), and every launcher and every run process makes a client: on one machine the
    control plane is on loopback and never speaks TLS, so they would pay it for nothing.
    """

    def __init__(self) -> None:
        self._plain = httpx.HTTPTransport(verify=False)  # never used for https
        self._tls: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https":
            return self._plain.handle_request(request)
        with self._lock:
            if self._tls is None:
                self._tls = httpx.HTTPTransport()  # verifies, as httpx does by default
        return self._tls.handle_request(request)

    def close(self) -> None:
        self._plain.close()
        if self._tls is not None:
            self._tls.close()


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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.retry_s = (
            ClientSettings().client_retry_s if isinstance(retry_s, EllipsisType) else retry_s
        )
        # The longest pause between tries: a node agent keeps it well inside the heartbeat
        # timeout, so it is heard soon after the server is back.
        self.max_backoff_s = max_backoff_s
        self._http = httpx.Client(
            timeout=timeout,
            headers={"User-Agent": f"trainforge/{__version__}"},
            auth=TokenAuth(endpoint),
            # An in-process server's, in tests; else TLS only where the address asks for it.
            transport=transport or LazyTlsTransport(),
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
        persistent: bool = False,
    ) -> httpx.Response:
        """Send one request under the client's retry policy; a 4xx or 5xx raises ApiError.

        A ``persistent`` request (an idempotent write that must not be lost, like a batch
        of metrics) is also sent again after a 5xx or any transport error, for ever.
        """
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
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
            if response.status_code == 503 and response.headers.get("Retry-After"):
                raise ServerBusy(response)
            if response.status_code >= 400:
                raise _api_error(response)
            return response

        def retryable(exc: BaseException) -> bool:
            if not resendable:
                return False
            if isinstance(exc, (StaleToken, ServerBusy, *NOT_SENT)):
                return True
            if isinstance(exc, ApiError):
                return persistent and exc.status_code >= 500
            return idempotent and isinstance(
                exc, httpx.TransportError if persistent else MAYBE_SENT
            )

        try:
            return self._retrying(retry, retryable, for_ever=persistent)(send)
        except ServerBusy as busy:  # still busy when the policy gave up
            raise _api_error(busy.response) from None

    def _retrying(
        self, retry: bool, retryable: Callable[[BaseException], bool], for_ever: bool = False
    ) -> Retrying:
        """The client's one retry policy: exponential backoff with jitter, capped at
        ``max_backoff_s``, for ``retry_s`` seconds (for ever when None), looking for a
        restarted server before each new try."""

        def find_server(_state: RetryCallState) -> None:
            self.endpoint.refresh()  # a restarted server may listen elsewhere

        stop: stop_base
        if not retry:
            stop = stop_after_delay(0)
        elif self.retry_s is None or for_ever:
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
        return self.request(
            "POST", path, json=body, params=params, headers=new_idempotency_key()
        ).json()

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
            "GET", f"{self.endpoint.address}{API}{path}", params=params
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
