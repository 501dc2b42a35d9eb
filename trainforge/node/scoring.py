"""A scoring process: the entry script's ``init()`` once, then ``POST /score`` (its
``run()``), ``GET /`` (health) and ``GET /swagger.json`` on uvicorn, in the model's
environment, with ``AZUREML_MODEL_DIR`` set as in Azure ML.

``python -m trainforge.node.scoring <serving spec json> [<listening fd> <health fd>]``: a
failing ``init()`` prints its traceback and exits with status 3 before anything listens.
With the two descriptors (the service's host passes them) it serves on sockets the host
holds: the service's port, which the next scoring process of an ``update`` shares, so no
connection is ever refused, and a private port of its own on which the host asks whether
this one is healthy. On SIGTERM a single-worker process drains before it stops: it accepts
no more connections (the next process takes them), answers the requests it has with
``Connection: close`` for ``DRAIN_S``, then shuts down as uvicorn does, after the requests
in flight.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from trainforge.node.entry_script import (
    EntryScript,
    EntryScriptError,
    RequestError,
    call,
    initialize,
    load,
)
from trainforge.schemas.services import ScoringCounts, ServingSpec

INIT_FAILED = 3
SPEC_VARIABLE = "TRAINFORGE_SERVING_SPEC"
# The latencies each scoring process keeps for the service's percentiles.
RECENT_LATENCIES = 10_000
# How long a stopping process answers what it accepted before it shuts down: clients that
# keep connections open move to the next process meanwhile.
DRAIN_S = 0.5


class Keys:
    """The service's keys, read again from their file whenever it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: float | None = None
        self._keys: list[bytes] = []

    def current(self) -> list[bytes]:
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            return []  # no file: nothing is accepted
        if stamp != self._stamp:
            found = json.loads(self.path.read_text())
            self._keys = [
                found[k].encode() for k in ("primary_key", "secondary_key") if found.get(k)
            ]
            self._stamp = stamp
        return self._keys

    def accepts(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        given = token.strip().encode()
        return any(hmac.compare_digest(given, key) for key in self.current())


def _default(value: Any) -> Any:
    """numpy arrays and scalars (what run() often returns) as JSON lists and numbers."""
    for attr in ("tolist", "item"):
        method = getattr(value, attr, None)
        if callable(method):
            return method()
    raise TypeError(f"run() returned a {type(value).__name__}, which is not JSON serializable")


def swagger(spec: ServingSpec, script: EntryScript) -> dict[str, Any]:
    """The service's OpenAPI 2.0 document, from the entry script's schemas when it has them."""
    body: dict[str, Any] = script.input_schema or {"type": "string"}
    answer: dict[str, Any] = script.output_schema or {"type": "object"}
    return {
        "swagger": "2.0",
        "info": {"title": spec.service_name, "description": "API specification", "version": "1.0"},
        "schemes": ["http"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": {
            "/": {
                "get": {
                    "operationId": "ServiceHealthCheck",
                    "description": "Simple health check endpoint",
                    "responses": {"200": {"description": "Success"}},
                }
            },
            "/score": {
                "post": {
                    "operationId": "RunMLService",
                    "description": "Run web service's model and get the prediction output",
                    "parameters": [
                        {
                            "name": "serviceInputPayload",
                            "in": "body",
                            "description": "The input payload for executing the real-time "
                            "machine learning service.",
                            "schema": body,
                        }
                    ],
                    "responses": {
                        "200": {"description": "Success", "schema": answer},
                        "default": {
                            "description": "The service failed to execute due to an error."
                        },
                    },
                }
            },
        },
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


class Counter:
    """This process's requests, errors and recent latencies, written to its stats file
    at most once a second (by a thread, off the request path) when they changed."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.counts = ScoringCounts(pid=os.getpid(), started=time.time())
        self.recent: deque[float] = deque(maxlen=RECENT_LATENCIES)
        self.lock = threading.Lock()
        self.changed = threading.Event()
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            threading.Thread(target=self._keep, name="scoring counts", daemon=True).start()

    def add(self, seconds: float, failed: bool) -> None:
        with self.lock:
            self.counts.requests += 1
            self.counts.errors += int(failed)
            self.recent.append(round(seconds * 1000, 3))
        self.changed.set()

    def _keep(self) -> None:
        assert self.folder is not None
        target = self.folder / f"{self.counts.pid}.json"
        while True:
            self.changed.wait()
            self.changed.clear()
            with self.lock:
                self.counts.latencies_ms = list(self.recent)
                text = self.counts.model_dump_json()
            partial = target.with_name(f".{target.name}.partial")
            partial.write_text(text)
            partial.replace(target)
            time.sleep(1.0)


def create_app(spec: ServingSpec, script: EntryScript) -> Starlette:
    document = swagger(spec, script)
    keys = Keys(Path(spec.keys_file)) if spec.keys_file else None
    counter = Counter(Path(spec.stats_dir) if spec.stats_dir else None)

    async def health(_request: Request) -> Response:
        return PlainTextResponse("Healthy")

    async def swagger_json(_request: Request) -> Response:
        return JSONResponse(document)

    async def score(request: Request) -> Response:
        began = time.perf_counter()
        response = await answer(request)
        counter.add(time.perf_counter() - began, response.status_code >= 400)
        return response

    async def answer(request: Request) -> Response:
        if keys is not None and not keys.accepts(request.headers.get("authorization", "")):
            return _error(
                401, "this service needs 'Authorization: Bearer <key>' with one of its keys"
            )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > spec.max_request_bytes:
            return _error(413, f"the request body is larger than {spec.max_request_bytes} bytes")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > spec.max_request_bytes:
                return _error(
                    413, f"the request body is larger than {spec.max_request_bytes} bytes"
                )
        if script.raw_http:
            from trainforge.node.raw_http import AMLRequest, AMLResponse

            amlrequest = AMLRequest(
                request.method,
                dict(request.headers),
                dict(request.query_params),
                raw,
                request.url.path,
            )
            try:
                result = await run_in_threadpool(script.run, amlrequest)
            except Exception as exc:  # the user's run(): its error, the service keeps serving
                traceback.print_exc()
                return _error(500, f"run() raised {type(exc).__name__}: {exc}")
            if isinstance(result, AMLResponse):
                return result.to_starlette()
            return JSONResponse(result)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _error(400, "the request body is not UTF-8 text (send JSON)")
        try:
            result = await run_in_threadpool(call, script, text)
        except RequestError as exc:
            return _error(400, str(exc))
        except Exception as exc:  # the user's run(): its error, the service keeps serving
            traceback.print_exc()
            return _error(500, f"run() raised {type(exc).__name__}: {exc}")
        try:
            payload = json.dumps(result, default=_default)
        except (TypeError, ValueError) as exc:
            return _error(500, str(exc))
        return Response(payload, media_type="application/json")

    routes = [
        Route("/", health, methods=["GET"]),
        Route("/score", score, methods=["POST"]),
        Route("/swagger.json", swagger_json, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def prepare(spec: ServingSpec) -> EntryScript:
    """The working folder, variables and ``init()`` of the service, as Azure ML's container
    sets them up: cwd is the app folder, ``AZUREML_MODEL_DIR`` the models' folder."""
    os.chdir(spec.app_dir)
    os.environ.update(spec.environment_variables)
    os.environ["AZUREML_MODEL_DIR"] = spec.model_dir
    script = load(Path(spec.app_dir) / spec.entry_script, Path(spec.app_dir))
    initialize(script)
    return script


def app_from_environment() -> Starlette:
    """The app of each uvicorn worker when there are several: each runs ``init()`` once, as
    each worker of Azure ML's scoring server does."""
    # Read, then gone: the entry script sees no TRAINFORGE_* variable, as a run's does not.
    spec = ServingSpec.model_validate_json(Path(os.environ.pop(SPEC_VARIABLE)).read_text())
    return create_app(spec, prepare(spec))


class _Closing:
    """ASGI wrapper: once ``draining`` is set, every answer says ``Connection: close``."""

    def __init__(self, app: Any, draining: threading.Event) -> None:
        self.app = app
        self.draining = draining

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.draining.is_set():
            await self.app(scope, receive, send)
            return

        async def closing(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, closing)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, but SIGTERM first stops accepting and drains (see the module)."""

    def __init__(self, config: uvicorn.Config, draining: threading.Event) -> None:
        super().__init__(config)
        self.draining = draining
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.draining.is_set() or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self.draining.set()
        self._loop.call_soon_threadsafe(self._drain, sig)

    def _drain(self, sig: int) -> None:
        for server in getattr(self, "servers", []):
            server.close()  # the listening socket stays open in the host and the next process
        assert self._loop is not None
        self._loop.call_later(DRAIN_S, super().handle_exit, sig, None)


def _sockets(args: list[str]) -> list[socket.socket] | None:
    """The listening sockets the host passed (the service's port, the health port)."""
    if len(args) < 3:
        return None
    return [socket.socket(fileno=int(fd)) for fd in args[1:3]]


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    spec = ServingSpec.model_validate_json(Path(args[0]).read_text())
    sockets = _sockets(args)
    try:
        script = prepare(spec)
    except EntryScriptError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return INIT_FAILED
    print(
        f"init() done; serving {spec.service_name} on {spec.host}:{spec.port} "
        f"with {spec.workers} worker(s)",
        flush=True,
    )
    common: dict[str, Any] = dict(
        host=spec.host, port=spec.port, log_level="warning", access_log=False
    )
    if spec.workers > 1:
        os.environ[SPEC_VARIABLE] = str(Path(args[0]).resolve())
        target = "trainforge.node.scoring:app_from_environment"
        if sockets is None:
            uvicorn.run(target, factory=True, workers=spec.workers, **common)
        else:
            from uvicorn.supervisors import Multiprocess

            config = uvicorn.Config(target, factory=True, workers=spec.workers, **common)
            Multiprocess(config, sockets=sockets).run()
        return 0
    draining = threading.Event()
    app = _Closing(create_app(spec, script), draining)
    DrainingServer(uvicorn.Config(app, **common), draining).run(sockets=sockets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
