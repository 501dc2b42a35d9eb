"""The one scoring address of each AKS-style service, served by the control plane.

``POST .../workspaces/{ws}/scoring/{name}/score`` checks the service's key or token, then
forwards the request (with httpx, on the server's event loop) to one of its replicas: the
one with the fewest requests in flight among those that serve, the next in turn on a tie,
so load spreads evenly and a slow replica gets less. A replica that cannot be reached is
passed over for the rest of the replica loop's pass and the request goes to another; the
body is read (up to the service's limit) before it is sent, so sending it again is safe.

The router also measures what the autoscaler needs: the average number of requests in
flight between two of the replica loop's samples (request-seconds per second, so short
requests between two samples count too).

Its table is kept by the replica loop (``trainforge.server.replica_loop``) from another
thread: every change of its structure and every pick take ``lock``, held for no await.
"""

from __future__ import annotations

import hmac
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

Auth = Literal["none", "key", "token"]
# A replica that refused a connection is passed over this long (the loop's next pass
# knows better by then).
PASS_OVER_S = 1.0
# Headers of the replica's answer that the router passes back.
ANSWER_HEADERS = ("content-type",)


@dataclass
class Replica:
    """A replica as the router sees it: where it answers and whether it serves."""

    name: str
    url: str  # http://127.0.0.1:<port>
    serving: bool  # answers now (Healthy, or its old version while a new one starts)
    fallback: bool  # reachable but restarting: used only when none serves
    in_flight: int = 0
    requests: int = 0
    passed_over_until: float = 0.0


@dataclass
class Route:
    """One service: who may score, where its replicas are, and its load."""

    workspace_id: str
    service_id: int
    created: datetime
    auth: Auth
    replica_key: str
    max_request_bytes: int
    timeout_s: float
    keys: list[bytes] = field(default_factory=list)
    # When the replica loop read the service these keys came from, and when regen_key last
    # set them: keys read before a regeneration never replace the regenerated ones.
    read_at: float = field(default_factory=time.monotonic)
    keys_set_at: float = 0.0
    replicas: dict[str, Replica] = field(default_factory=dict)
    turn: itertools.count[int] = field(default_factory=itertools.count)
    # Request-seconds so far (the integral of in-flight over time), and when it was last
    # brought up to date.
    area: float = 0.0
    area_at: float = field(default_factory=time.monotonic)
    sampled_area: float = 0.0
    sampled_at: float = field(default_factory=time.monotonic)

    def in_flight(self) -> int:
        return sum(r.in_flight for r in self.replicas.values())

    def account(self, now: float) -> None:
        self.area += self.in_flight() * (now - self.area_at)
        self.area_at = now


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


class ScoringRouter:
    """The routes of every AKS-style service of this control plane, by (workspace, name)."""

    def __init__(self, token_check: Callable[[Route, str], bool]) -> None:
        self.lock = threading.Lock()
        self.routes: dict[tuple[str, str], Route] = {}
        self._token_check = token_check
        self._client: httpx.AsyncClient | None = None

    # -- kept by the replica loop ------------------------------------------------------
    def put(self, workspace: str, name: str, route: Route, replicas: list[Replica]) -> None:
        """Set a service's route, keeping the counts of the replicas it had."""
        with self.lock:
            old = self.routes.get((workspace, name))
            if old is not None and (old.service_id, old.created) == (
                route.service_id,
                route.created,
            ):
                old.auth, old.replica_key = route.auth, route.replica_key
                if route.read_at >= old.keys_set_at:
                    old.keys = route.keys
                old.max_request_bytes, old.timeout_s = route.max_request_bytes, route.timeout_s
                route = old
            kept = {}
            for replica in replicas:
                known = route.replicas.get(replica.name)
                if known is not None and known.url == replica.url:
                    known.serving, known.fallback = replica.serving, replica.fallback
                    replica = known
                kept[replica.name] = replica
            route.account(time.monotonic())
            route.replicas = kept
            self.routes[(workspace, name)] = route

    def set_keys(self, workspace: str, name: str, keys: list[str]) -> None:
        """New keys at once (``regen_key``), not at the loop's next pass."""
        with self.lock:
            route = self.routes.get((workspace, name))
            if route is not None:
                route.keys = [key.encode() for key in keys]
                route.keys_set_at = time.monotonic()

    def drop(self, workspace: str, name: str) -> None:
        with self.lock:
            self.routes.pop((workspace, name), None)

    def keep_only(self, present: set[tuple[str, str]]) -> None:
        with self.lock:
            for key in [k for k in self.routes if k not in present]:
                del self.routes[key]

    def sample(self, workspace: str, name: str) -> float:
        """Average requests in flight since the last sample (0 for an unknown service)."""
        with self.lock:
            route = self.routes.get((workspace, name))
            if route is None:
                return 0.0
            now = time.monotonic()
            route.account(now)
            elapsed = now - route.sampled_at
            load = (route.area - route.sampled_area) / elapsed if elapsed > 0 else 0.0
            route.sampled_area, route.sampled_at = route.area, now
            return max(load, float(route.in_flight()))

    def counts(self, workspace: str, name: str) -> dict[str, tuple[int, int]]:
        """Requests sent and in flight, per replica name."""
        with self.lock:
            route = self.routes.get((workspace, name))
            if route is None:
                return {}
            return {r.name: (r.requests, r.in_flight) for r in route.replicas.values()}

    # -- requests ------------------------------------------------------------------------
    def _route(self, workspace: str, name: str) -> Route | None:
        with self.lock:
            return self.routes.get((workspace, name))

    def _allowed(self, route: Route, header: str) -> bool:
        if route.auth == "none":
            return True
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        given = token.strip()
        if route.auth == "token":
            return self._token_check(route, given)
        return any(hmac.compare_digest(given.encode(), key) for key in route.keys)

    def _pick(self, route: Route, tried: set[str]) -> Replica | None:
        """The serving replica with the fewest requests in flight, taken in turn on a tie
        (one restarting only when none serves); counted in flight at once."""
        now = time.monotonic()
        with self.lock:
            usable = [
                r
                for r in route.replicas.values()
                if r.name not in tried and r.passed_over_until <= now
            ]
            tier = [r for r in usable if r.serving] or [r for r in usable if r.fallback]
            if not tier:
                return None
            least = min(r.in_flight for r in tier)
            tied = [r for r in tier if r.in_flight == least]
            chosen = tied[next(route.turn) % len(tied)]
            route.account(now)
            chosen.in_flight += 1
            chosen.requests += 1
            return chosen

    def _done(self, route: Route, replica: Replica, reached: bool) -> None:
        with self.lock:
            route.account(time.monotonic())
            replica.in_flight -= 1
            if not reached:
                replica.requests -= 1
                replica.passed_over_until = time.monotonic() + PASS_OVER_S

    def client(self) -> httpx.AsyncClient:
        # Made on the server's event loop at its first request, and kept: its pool keeps
        # connections to the replicas open between requests.
        if self._client is None:
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=1024, max_keepalive_connections=256)
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def score(self, workspace: str, name: str, request: Request) -> Response:
        route = self._route(workspace, name)
        if route is None:
            return _error(404, f"service {name!r} of workspace {workspace!r} is not served here")
        if not self._allowed(route, request.headers.get("authorization", "")):
            what = "a token from get_token()" if route.auth == "token" else "one of its keys"
            return _error(401, f"this service needs 'Authorization: Bearer <...>' with {what}")
        declared = request.headers.get("content-length")
        limit = route.max_request_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return _error(413, f"the request body is larger than {limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _error(413, f"the request body is larger than {limit} bytes")
        headers = {
            "content-type": request.headers.get("content-type", "application/json"),
            "authorization": f"Bearer {route.replica_key}",
        }
        tried: set[str] = set()
        while True:
            replica = self._pick(route, tried)
            if replica is None:
                return _error(503, f"no replica of service {name!r} serves now; try again")
            tried.add(replica.name)
            reached = False
            try:
                answer = await self.client().post(
                    f"{replica.url}/score",
                    content=bytes(body),
                    headers=headers,
                    params=request.query_params,
                    timeout=route.timeout_s,
                )
                reached = True
            except httpx.ConnectError:
                continue  # never reached it: another replica gets the request
            except httpx.TimeoutException:
                reached = True
                return _error(
                    504, f"replica {replica.name} did not answer within the scoring timeout"
                )
            except httpx.HTTPError as exc:
                reached = True
                return _error(502, f"replica {replica.name} failed: {exc}")
            finally:
                self._done(route, replica, reached)
            kept = {k: v for k, v in answer.headers.items() if k.lower() in ANSWER_HEADERS}
            kept["x-trainforge-replica"] = replica.name
            return Response(answer.content, status_code=answer.status_code, headers=kept)

    async def swagger(self, workspace: str, name: str) -> Response:
        route = self._route(workspace, name)
        if route is None:
            return _error(404, f"service {name!r} of workspace {workspace!r} is not served here")
        replica = self._pick(route, set())
        if replica is None:
            return _error(503, f"no replica of service {name!r} serves now; try again")
        try:
            answer = await self.client().get(f"{replica.url}/swagger.json", timeout=30.0)
        except httpx.HTTPError as exc:
            return _error(502, f"replica {replica.name} failed: {exc}")
        finally:
            self._done(route, replica, True)
            with self.lock:
                replica.requests -= 1  # only POST /score counts
        return Response(
            answer.content, status_code=answer.status_code, media_type="application/json"
        )

    def health(self, workspace: str, name: str) -> Response:
        route = self._route(workspace, name)
        if route is None:
            return _error(404, f"service {name!r} of workspace {workspace!r} is not served here")
        with self.lock:
            serving = any(r.serving for r in route.replicas.values())
        if not serving:
            return _error(503, f"no replica of service {name!r} serves now")
        return PlainTextResponse("Healthy")
