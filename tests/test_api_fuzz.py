"""Schemathesis over the OpenAPI document: no generated request answers 500.

Two runs. The whole API in-process (ASGI) with its own home and no scheduler loop, so a
fuzzed compute never starts node agents: every operation is exercised, bounded in
examples per operation and in time (a valid long poll waits 0.2 s at most). Path
parameters ``ws`` and ``run_id`` mostly name a real workspace and run, so that requests
get past the lookups to the code behind them. Then the operations that start processes
(run submit, sweeps, children, compute create/update/delete, preempt) against a real
server with its scheduler running, with small bounds (a cluster has at most 2 nodes, a
run at most 2 nodes of 2 processes, a sweep at most 4 trials), its runs pointed at a real
snapshot and at the local target or a real cluster; afterwards the scheduler still runs a
plain run on each, and everything the server started is stopped by pid, leaving nothing.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FlakyFailure, Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.helpers import processes_of, wait_until
from trainforge.client import local_server
from trainforge.server.app import create_app
from trainforge.server.settings import ServerSettings
from trainforge.storage import snapshot

TOKEN = "fuzz-token"
WORKSPACE = "fuzz"
MAX_EXAMPLES = 6


class Fuzzed:
    """The app under test, its home, its known run, and what it answered."""

    def __init__(self, app: FastAPI, home: Path, run_id: str) -> None:
        self.app = app
        self.home = home
        self.run_id = run_id
        self.statuses: Counter[int] = Counter()


def without_lifespan(app: FastAPI) -> Callable[..., Any]:
    """``app`` for schemathesis's ASGI transport, which runs an app's lifespan: answered
    here, so the control plane's loops never start and a fuzzed compute (up to 1,000
    nodes) provisions no node agents in-process."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return asgi


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    home = tmp_path_factory.mktemp("fuzz-home")
    settings_ = ServerSettings(
        home=home,
        token=TOKEN,
        signing_key=b"f" * 32,
        endpoint="http://127.0.0.1:1",
        local_datastore_roots=[home.parent / "fuzz-data"],
        max_file_bytes=2**20,
    )
    app = create_app(settings_)
    client = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    assert client.post("/api/v1/workspaces", json={"name": WORKSPACE}).status_code == 201
    run = client.post(
        f"/api/v1/workspaces/{WORKSPACE}/experiments/fuzz/runs", json={"kind": "interactive"}
    )
    fuzz = Fuzzed(app, home, run.json()["run_id"])
    yield fuzz
    app.state.plane.close()
    _report("in-process, every operation", fuzz.statuses)


def _fuzz(operations: list[Any], call: Callable[[Any], None], examples: int) -> None:
    """Each operation with ``examples`` valid and as many invalid cases; ``call`` records
    the answers without raising."""
    bounded = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                bounded(given(case=operation.as_strategy(generation_mode=mode))(call))()
            except Unsatisfiable:  # nothing of this operation can be made invalid
                continue
            except FlakyFailure as exc:
                # Negative generation may reject an example on replay; that says nothing
                # about the server, whose answers ``call`` records without raising.
                if "Unreliable assumption" not in str(exc):
                    raise


def _report(what: str, statuses: Counter[int]) -> None:
    total = sum(statuses.values())
    errors = sum(n for status, n in statuses.items() if status >= 500)
    print(
        f"\nschemathesis ({what}): {total} cases, {errors} answered 5xx; statuses {dict(statuses)}"
    )


@pytest.mark.timeout(900)  # about 2 minutes on an idle 2-core machine
def test_no_generated_request_answers_500(fuzzed: Fuzzed) -> None:
    """Every operation, with valid and with invalid data; the 500s are listed at the end.

    schemathesis's Python API drives Hypothesis here (its pytest plugin does not load
    under pytest 9).
    """
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", without_lifespan(fuzzed.app))
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40

    def call(case) -> None:  # type: ignore[no-untyped-def]
        params = case.path_parameters or {}
        deletes_workspace = case.method == "DELETE" and case.path.endswith("/workspaces/{ws}")
        if "ws" in params and not deletes_workspace:
            params["ws"] = WORKSPACE
        if "run_id" in params:
            params["run_id"] = fuzzed.run_id
        if case.path.endswith("/wait") and "timeout" not in (case.query or {}):
            case.query = {**(case.query or {}), "timeout": 0.2}  # not the 10 s default
        for poll in ("wait", "timeout"):  # valid long polls wait briefly: bounded in time
            value = (case.query or {}).get(poll)
            if isinstance(value, int | float) and 0.2 < value <= 30:
                case.query[poll] = 0.2
        response = case.call(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        fuzzed.statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {case.query} {str(case.body)[:200]} "
                f"answered {response.status_code}: {response.text[:300]}"
            )

    _fuzz(operations, call, MAX_EXAMPLES)
    assert not failures, "\n".join(failures[:30])
    started = processes_of(fuzzed.home)
    assert not started, [process.cmdline() for process in started]


# -- the operations that start processes, on a real server with its scheduler running --------
STARTERS = {
    ("POST", "/experiments/{experiment}/runs"),
    ("POST", "/experiments/{experiment}/sweeps"),
    ("POST", "/runs/{run_id}/children"),
    ("POST", "/computes"),
    ("PATCH", "/computes/{name}"),
    ("DELETE", "/computes/{name}"),
    ("POST", "/computes/{name}/nodes/{node_id}/preempt"),
}
STARTER_EXAMPLES = 6
CLUSTER = "fuzz-cpu"
# The most a fuzzed request may ask for: a fuzzer must not start unbounded agents.
SMALL = {
    "max_nodes": 2,
    "min_nodes": 1,
    "node_count": 2,
    "process_count_per_node": 2,
    "worker_count": 2,
    "parameter_server_count": 1,
    "max_total_runs": 4,
    "max_concurrent_runs": 2,
    "count": 3,
}
TRAIN = "import sys\nprint('fuzzed run', sys.argv[1:])\n"


def _small(value: Any, places: dict[str, str]) -> None:
    """Bound what ``value`` (a request body) asks for, in place: counts within SMALL, the
    local backend only (a fuzzed Ray address would be dialled), targets and snapshots
    that exist (``places``), so that valid requests reach the scheduler and the nodes."""
    if isinstance(value, list):
        for item in value:
            _small(item, places)
        return
    if not isinstance(value, dict):
        return
    for key, item in list(value.items()):
        if key in SMALL and isinstance(item, int) and not isinstance(item, bool):
            value[key] = min(item, SMALL[key])
        elif key == "backend" and item == "ray":
            value[key] = "local"
        elif key in places and isinstance(item, str):
            value[key] = places[key]
        else:
            _small(item, places)


def _api(address: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{address}/api/v1/workspaces/{WORKSPACE}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def _ended(api: httpx.Client, run_id: str) -> str | None:
    status = api.get(f"/runs/{run_id}").json()["status"]
    return status if status in ("Completed", "Failed", "Canceled") else None


@pytest.fixture
def server_home(tmp_path: Path) -> Iterator[Path]:
    """A real control plane (its scheduler running) in its own home; afterwards the
    server and every node agent and launcher it recorded are stopped by pid."""
    home = tmp_path / "home"
    saved = {k: os.environ.get(k) for k in ("TRAINFORGE_LOCAL_DATASTORE_ROOTS", "TRAINFORGE_PORT")}
    os.environ["TRAINFORGE_LOCAL_DATASTORE_ROOTS"] = str(tmp_path / "data")
    os.environ["TRAINFORGE_PORT"] = "0"
    try:
        yield home
    finally:
        local_server.stop_all(home)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_process_starting_requests_answer_no_500_and_leave_nothing(
    server_home: Path, tmp_path: Path
) -> None:
    state = local_server.ensure_server(server_home)
    api = _api(state.address, state.token)
    made = api.post(f"{state.address}/api/v1/workspaces", json={"name": WORKSPACE})
    assert made.status_code == 201, made.text
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(TRAIN)
    snap = snapshot.take(source)
    try:
        api.put(f"/snapshots/{snap.id}", content=snap.zip_path.read_bytes()).raise_for_status()
    finally:
        snap.zip_path.unlink(missing_ok=True)
    cluster = {"name": CLUSTER, "scale_settings": {"min_nodes": 0, "max_nodes": 1}}
    api.post("/computes", json=cluster).raise_for_status()
    parent = api.post("/experiments/fuzz/runs", json={"kind": "interactive"}).json()["run_id"]

    schema = schemathesis.openapi.from_url(f"{state.address}/api/v1/openapi.json")
    prefix = "/api/v1/workspaces/{ws}"
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if (op.method.upper(), op.path.removeprefix(prefix)) in STARTERS
    ]
    assert len(operations) == len(STARTERS)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    submitted: list[str] = []
    targets = iter(range(10**6))

    def call(case) -> None:  # type: ignore[no-untyped-def]
        params = case.path_parameters or {}
        params["ws"] = WORKSPACE
        if "experiment" in params:
            params["experiment"] = "fuzz"  # names from the pattern, not the document
        if "run_id" in params:
            params["run_id"] = parent
        if "name" in params and case.method.upper() != "DELETE":
            params["name"] = CLUSTER
        target = CLUSTER if next(targets) % 2 else "local"
        if case.path.endswith("/runs") and isinstance(case.body, dict):
            # The document leaves the definition optional; a script run needs one, and a
            # run that starts is the point here.
            case.body.setdefault("definition", {"script": "train.py"})
        _small(case.body, {"target": target, "snapshot_id": snap.id})
        response = case.call(
            base_url=state.address, headers={"Authorization": f"Bearer {state.token}"}, timeout=60
        )
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {str(case.body)[:200]} "
                f"answered {response.status_code}: {response.text[:300]}"
            )
        elif response.status_code == 201 and case.path.endswith("/runs"):
            submitted.append(response.json()["run_id"])

    _fuzz(operations, call, STARTER_EXAMPLES)
    _report("a real server, the operations that start processes", statuses)
    assert not failures, "\n".join(failures[:30])
    assert submitted, "no fuzzed run was accepted: the bounds left nothing to start"
    print(f"schemathesis: {len(submitted)} fuzzed runs accepted")

    # The scheduler still runs plain work on the local target and on the cluster.
    api.patch(f"/computes/{CLUSTER}", json={"min_nodes": 0, "max_nodes": 1})
    plain = {"kind": "script", "snapshot_id": snap.id, "definition": {"script": "train.py"}}
    for target in ("local", CLUSTER):
        body = {**plain, "definition": {**plain["definition"], "target": target}}
        run_id = api.post("/experiments/after-fuzz/runs", json=body).json()["run_id"]
        status = wait_until(
            lambda run_id=run_id: _ended(api, run_id), 180, f"the plain run on {target}"
        )
        assert status == "Completed", api.get(f"/runs/{run_id}").json()
    api.close()

    local_server.stop_all(server_home)
    left = processes_of(server_home)
    assert not left, [process.cmdline() for process in left]
