"""The FastAPI application of the control plane."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from trainforge import __version__
from trainforge.server.errors import ServiceError
from trainforge.server.nul_guard import RefuseNul, refuse_nul_in_body
from trainforge.server.plane import ControlPlane
from trainforge.server.routers import (
    automl,
    computes,
    datasets,
    datastores,
    environments,
    file_links,
    files,
    gang,
    models,
    pipelines,
    processes,
    published_pipelines,
    runs,
    schedules,
    services,
    studio,
    sweeps,
    workspaces,
)
from trainforge.server.routers.deps import authorize
from trainforge.server.settings import API_PREFIX, ServerSettings
from trainforge.server.store.database import is_busy

log = logging.getLogger("trainforge.server")
STUDIO_PAGE = Path(__file__).parent / "static" / "studio.html"
STUDIO_ASSETS = Path(__file__).parent / "static" / "vendor"


def _error(status_code: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        status_code=status_code, content={"error": {"code": code, "message": message}}
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path")]
    return ".".join(parts) or "request"


def create_app(settings: ServerSettings) -> FastAPI:
    plane = ControlPlane(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        plane.events.bind(asyncio.get_running_loop())
        plane.start()
        try:
            yield
        finally:
            await plane.replicas.router.aclose()
            plane.close()

    app = FastAPI(
        title="trainforge control plane",
        version=__version__,
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.plane = plane
    app.add_middleware(RefuseNul)

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status_code, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{_field(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        ]
        return _error(422, "ValidationError", "; ".join(problems))

    @app.exception_handler(OperationalError)
    async def database_error(request: Request, exc: OperationalError) -> JSONResponse:
        if not is_busy(exc):
            return await unexpected_error(request, exc)
        # Rolled back whole, so the caller may send the same request again.
        log.warning(
            "ServerBusy: the database stayed locked on %s %s", request.method, request.url.path
        )
        response = _error(
            503, "ServerBusy", "The server is too busy to store this now; send it again."
        )
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # The text of an unexpected error carries server paths and SQL: it goes to the
        # server's log under an id, and the caller gets only the id to quote.
        error_id = uuid.uuid4().hex
        log.error(
            "unhandled error %s on %s %s",
            error_id,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        return JSONResponse(
            status_code=500,
            content={
                "error": {
                    "code": "InternalError",
                    "message": f"The server failed on this request; its log has the details "
                    f"under error id {error_id}",
                    "id": error_id,
                }
            },
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # The studio's vendored libraries (uPlot for its charts): served from the package,
    # nothing fetched from the internet.
    app.mount("/studio-assets", StaticFiles(directory=STUDIO_ASSETS), name="studio-assets")

    @app.get("/studio/{path:path}", include_in_schema=False)
    def studio_page(path: str) -> FileResponse:
        """The studio page; it reads data through the API, signed in by its cookie."""
        return FileResponse(STUDIO_PAGE, media_type="text/html")

    @app.get("/studio-login", include_in_schema=False)
    def studio_login(
        request: Request,
        code: Annotated[str, Query(max_length=128)] = "",
        next: Annotated[str, Query(max_length=2048)] = "/studio/",
    ) -> Response:
        """``trainforge studio``'s one-time link: signs the browser in, then opens ``next``."""
        return studio.redeem_login(request, code, next, request.app.state.plane)

    secured = [Depends(authorize), Depends(refuse_nul_in_body)]
    for module in (
        workspaces,
        runs,
        files,
        computes,
        gang,
        datastores,
        datasets,
        environments,
        sweeps,
        automl,
        pipelines,
        published_pipelines,
        schedules,
        processes,
        models,
        services,
        file_links,
        studio,
    ):
        app.include_router(module.router, prefix=API_PREFIX, dependencies=secured)
    # Signed links carry their own proof (an expiring signature), not a bearer token.
    app.include_router(file_links.public_router, prefix=API_PREFIX)
    # An AKS service's scoring address takes the service's key or token (its router checks).
    app.include_router(services.public_router, prefix=API_PREFIX)
    app.include_router(
        studio.public_router, prefix=API_PREFIX, dependencies=[Depends(refuse_nul_in_body)]
    )
    return app
