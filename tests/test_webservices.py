"""Scoring services as the register-model-deploy-local sample uses them: a sklearn model
trained and registered here, deployed with ``Model.deploy`` to a LocalWebservice (a real
uvicorn scoring process kept up by its host), called with ``service.run`` and with plain
httpx, and the refusals of bad input. The control plane is served from this process; the
services' processes are real and stopped by each test (``service.delete``)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.cli import failed, flat, ok
from tests.helpers import wait_until
from tests.inprocess import Api
from trainforge.client.api import api
from trainforge.client.api.services import ServicesApi
from trainforge.core import Environment, InferenceConfig, Model, Webservice, Workspace
from trainforge.core.webservice import LocalWebservice
from trainforge.exceptions import WebserviceException

joblib = pytest.importorskip("joblib")
pytest.importorskip("sklearn")
pytest.importorskip("inference_schema")
pytestmark = pytest.mark.real_process

SCORE = """
    import json
    import os

    import joblib
    import numpy as np
    from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
    from inference_schema.schema_decorators import input_schema, output_schema

    def init():
        global model
        path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "sklearn_regression_model.pkl")
        model = joblib.load(path)
        print("init loaded", path, flush=True)

    input_sample = np.array([[0.0] * 10])
    output_sample = np.array([100.0])

    @input_schema("data", NumpyParameterType(input_sample))
    @output_schema(NumpyParameterType(output_sample))
    def run(data):
        if data[0][0] == 999:
            raise ValueError("a feature of 999 is not a patient")
        return model.predict(data).tolist()
"""

FAILING_INIT = """
    def init():
        raise RuntimeError("the model file is corrupt")

    def run(raw_data):
        return raw_data
"""

TWO_MODELS = """
    import json, os
    from trainforge.core.model import Model

    def init():
        global found
        found = {
            "model_dir": os.getenv("AZUREML_MODEL_DIR"),
            "listing": sorted(os.listdir(os.getenv("AZUREML_MODEL_DIR"))),
            "ridge": Model.get_model_path("ridge"),
            "vocab": Model.get_model_path("vocab", version=1),
        }

    def run(raw_data):
        asked = json.loads(raw_data)
        return {**found, "echo": asked, "files": sorted(os.listdir(found["vocab"]))}
"""


def _write(folder: Path, name: str, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(code))
    return path


def _env() -> Environment:
    env = Environment("LocalDeploy")
    env.python.user_managed_dependencies = True
    return env


def _deploy(
    ws: Workspace, name: str, models: list[Model], source: Path, code: str, env: bool = True
) -> Any:
    """``code`` as score.py of ``source``, deployed as the LocalWebservice ``name``."""
    _write(source, "score.py", code)
    config = InferenceConfig(
        entry_script="score.py", source_directory=str(source), environment=_env() if env else None
    )
    return Model.deploy(ws, name, models, config, LocalWebservice.deploy_configuration())


@pytest.fixture
def ws(cli_server: Api) -> Iterator[Workspace]:
    workspace = Workspace.create("serving-ws", exist_ok=True, show_output=False)
    yield workspace
    for service in Webservice.list(workspace):  # whatever a failed test left running
        service.delete()


@pytest.fixture
def ridge(ws: Workspace, tmp_path: Path) -> tuple[Model, Any, Any]:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    fitted = Ridge(alpha=0.4).fit(X, y)
    path = tmp_path / "sklearn_regression_model.pkl"
    joblib.dump(fitted, path)
    model = Model.register(
        workspace=ws,
        model_path=str(path),
        model_name="sklearn_regression_model.pkl",
        tags={"area": "diabetes", "type": "regression"},
        description="Ridge regression model to predict diabetes",
    )
    return model, fitted, X


def _processes_on(port: int) -> list[int]:
    return [
        c.pid
        for c in psutil.net_connections("tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid
    ]


def test_a_sklearn_model_deployed_locally_scores_over_http(
    ws: Workspace, ridge: tuple[Model, Any, Any], tmp_path: Path
) -> None:
    model, fitted, X = ridge
    source = tmp_path / "app"
    _write(source, "score.py", SCORE)
    inference_config = InferenceConfig(
        entry_script="score.py", source_directory=str(source), environment=_env()
    )
    deployment_config = LocalWebservice.deploy_configuration()
    service = Model.deploy(ws, "test", [model], inference_config, deployment_config)
    service.wait_for_deployment()
    assert isinstance(service, LocalWebservice) and service.state == "running"
    expected = fitted.predict(X[:2]).tolist()

    rows = json.dumps({"data": X[:2].tolist()})
    assert service.run(rows) == pytest.approx(expected)
    assert service.run(rows.encode("utf-8")) == pytest.approx(expected)
    assert service.scoring_uri == f"http://localhost:{service.port}/score"
    plain = httpx.post(
        service.scoring_uri, content=rows, headers={"Content-Type": "application/json"}
    )
    assert plain.status_code == 200 and plain.json() == pytest.approx(expected)
    base = service.scoring_uri.removesuffix("/score")
    assert httpx.get(f"{base}/").text == "Healthy"
    swagger = httpx.get(service.swagger_uri).json()
    body = swagger["paths"]["/score"]["post"]["parameters"][0]["schema"]
    assert body["properties"]["data"]["type"] == "array"
    assert "init loaded" in service.get_logs()

    # Bad requests are refused with the reason; the service keeps serving.
    refused = {
        "not json": httpx.post(service.scoring_uri, content=b"{not json"),
        "wrong field": httpx.post(service.scoring_uri, json={"rows": [[0] * 10]}),
        "run raises": httpx.post(service.scoring_uri, json={"data": [[999] + [0] * 9]}),
        "too large": httpx.post(service.scoring_uri, content=b"[" + b"0," * 60_000_000 + b"0]"),
    }
    codes = {what: answer.status_code for what, answer in refused.items()}
    assert codes == {"not json": 400, "wrong field": 400, "run raises": 500, "too large": 413}
    assert "not JSON" in refused["not json"].json()["message"]
    assert (
        "ValueError: a feature of 999 is not a patient" in refused["run raises"].json()["message"]
    )
    with pytest.raises(WebserviceException, match="500.*a feature of 999"):
        service.run(json.dumps({"data": [[999] + [0] * 9]}))
    assert service.run(rows) == pytest.approx(expected)
    assert "ValueError: a feature of 999 is not a patient" in service.get_logs()

    # Every request was counted, per service, over REST and in the logs.
    stats = api(ws, ServicesApi)

    seen: list[Any] = []

    def counted() -> Any:
        seen.append(stats.stats("test"))
        return seen[-1] if seen[-1].requests == 9 else None

    try:
        counts = wait_until(counted, 30, "the service's counts")
    except AssertionError:
        raise AssertionError(f"the counts stayed at {seen[-1]}") from None
    assert counts.errors == 5 and counts.p50_ms is not None and counts.p99_ms is not None
    assert 0 < counts.p50_ms <= counts.p99_ms
    assert "[stats] requests 9, errors 5, latency p50" in service.get_logs()

    # Lookups and the registry's guard.
    found = Webservice(ws, "test")
    assert isinstance(found, LocalWebservice) and found.port == service.port
    assert [s.name for s in Webservice.list(ws, model_name=model.name)] == ["test"]
    assert set(ws.webservices) == {"test"}
    assert [m.id for m in found.models] == [model.id]
    with pytest.raises(WebserviceException, match="deployed in service"):
        model.delete()

    port = service.port
    assert _processes_on(port)
    service.delete()
    assert not _processes_on(port)
    with pytest.raises(WebserviceException, match="WebserviceNotFound"):
        Webservice(ws, "test")


def test_a_failing_init_fails_the_deployment_with_its_traceback(
    ws: Workspace, ridge: tuple[Model, Any, Any], tmp_path: Path
) -> None:
    model, _, _ = ridge
    script = _write(tmp_path / "broken", "score.py", FAILING_INIT)
    config = InferenceConfig(entry_script=str(script), environment=_env())
    with pytest.raises(WebserviceException) as caught:
        Model.deploy(ws, "broken", [model], config, LocalWebservice.deploy_configuration())
    message = caught.value.message
    assert "init() failed" in message and "RuntimeError: the model file is corrupt" in message
    assert 'score.py", line 3, in init' in message
    service = Webservice(ws, "broken")
    assert service.state == "failed" and "the model file is corrupt" in (service.error or "")
    service.delete()


def test_two_models_one_a_folder_lie_under_the_model_dir(
    ws: Workspace, ridge: tuple[Model, Any, Any], tmp_path: Path
) -> None:
    ridge_model = Model.register(ws, str(tmp_path / "sklearn_regression_model.pkl"), "ridge")
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "words.txt").write_text("a b c")
    (vocab / "ids.json").write_text("{}")
    vocab_model = Model.register(ws, str(vocab), "vocab")
    service = _deploy(ws, "two-models", [ridge_model, vocab_model], tmp_path / "two", TWO_MODELS)
    try:
        answer = service.run(json.dumps({"hello": 1}))
        model_dir = Path(answer["model_dir"])
        assert model_dir.name == "azureml-models" and answer["listing"] == ["ridge", "vocab"]
        assert answer["ridge"] == str(model_dir / "ridge" / "1" / "sklearn_regression_model.pkl")
        assert answer["vocab"] == str(model_dir / "vocab" / "1" / "vocab")
        assert answer["files"] == ["ids.json", "words.txt"] and answer["echo"] == {"hello": 1}
    finally:
        service.delete()


def test_names_ports_and_overwrite_are_checked(
    ws: Workspace, ridge: tuple[Model, Any, Any], tmp_path: Path
) -> None:
    model, _, _ = ridge
    source = tmp_path / "app"
    _write(source, "score.py", "def init():\n    pass\n\ndef run(raw_data):\n    return 1\n")
    config = InferenceConfig(entry_script="score.py", source_directory=str(source))
    local = LocalWebservice.deploy_configuration()
    for bad in ("ab", "Upper-Case", "under_score", "-starts-with-dash", "x" * 33):
        with pytest.raises(WebserviceException, match="Service name .* is invalid"):
            Model.deploy(ws, bad, [model], config, local)
    with pytest.raises(WebserviceException, match="entry_script: .*missing.py"):
        Model.deploy(
            ws, "svc", [model], InferenceConfig("missing.py", source_directory=str(source)), local
        )
    with pytest.raises(WebserviceException, match="port: 70000"):
        LocalWebservice.deploy_configuration(port=70000)

    first = Model.deploy(ws, "svc", [model], config, local)
    try:
        with pytest.raises(WebserviceException, match="already exists.*overwrite=True"):
            Model.deploy(ws, "svc", [model], config, local)
        with pytest.raises(WebserviceException, match=f"port: {first.port}"):
            Model.deploy(
                ws, "svc-two", [model], config, LocalWebservice.deploy_configuration(first.port)
            )
        again = Model.deploy(ws, "svc", [model], config, local, overwrite=True)
        assert again.run("{}") == 1
        wait_until(
            lambda: not _processes_on(first.port) or first.port == again.port,
            30,
            "the old one to stop",
        )
    finally:
        Webservice(ws, "svc").delete()


RAW = """
    from trainforge.contrib.services.aml_request import AMLRequest, rawhttp
    from trainforge.contrib.services.aml_response import AMLResponse

    def init():
        pass

    @rawhttp
    def run(request):
        if request.method != "POST":
            return AMLResponse("POST only", 405)
        body = request.get_json()
        return AMLResponse({"sum": sum(body["values"]), "agent": request.headers.get("x-who")}, 201)
"""


def _scoring_pids(service: LocalWebservice) -> list[int]:
    """The service's scoring processes (its host holds the listening socket too, so the
    socket's owner may be either)."""
    folder = f"/workspaces/{service.workspace.name}/services/{service.name}/"
    found = []
    for process in psutil.process_iter(["cmdline"]):
        args = process.info["cmdline"] or []
        if "trainforge.node.scoring" in args and any(folder in arg for arg in args):
            found.append(process.pid)
    return found


def _scoring_pid(service: LocalWebservice) -> int:
    found = wait_until(lambda: _scoring_pids(service), 30, "the scoring process to start")
    return found[0]


def test_a_killed_scoring_process_comes_back_and_says_so(
    ws: Workspace, ridge: tuple[Model, Any, Any], tmp_path: Path
) -> None:
    model, fitted, X = ridge
    service = _deploy(ws, "crashes", [model], tmp_path / "app", SCORE)
    try:
        rows = json.dumps({"data": X[:1].tolist()})
        first = _scoring_pid(service)
        psutil.Process(first).kill()

        def back() -> bool:
            service.update_deployment_state()
            pids = _scoring_pids(service)
            return service.state == "running" and bool(pids) and pids[0] != first

        wait_until(back, 60, "the scoring process to be started again")
        assert service.run(rows) == pytest.approx(fitted.predict(X[:1]).tolist())
        assert api(ws, ServicesApi).get(service.name).restarts == 1
        logs = service.get_logs()
        assert f"scoring process {first} exited" in logs and "(restart 1)" in logs
        assert logs.count("init loaded") == 2
    finally:
        service.delete()


def test_rawhttp_entry_scripts_get_the_request(
    ws: Workspace, ridge: tuple[Model, Any, Any], tmp_path: Path
) -> None:
    model, _, _ = ridge
    service = _deploy(ws, "raw-http", [model], tmp_path / "raw", RAW, env=False)
    try:
        answer = httpx.post(
            service.scoring_uri, json={"values": [1, 2, 3]}, headers={"x-who": "me"}
        )
        assert (answer.status_code, answer.json()) == (201, {"sum": 6, "agent": "me"})
        # The CLI finds, shows and reads the service.
        listed = flat(ok("service", "list", "-w", ws.name))
        assert "raw-http Local running" in listed and service.scoring_uri in listed
        shown = json.loads(ok("service", "show", "raw-http", "-w", ws.name))
        assert (shown["state"], shown["models"]) == ("Healthy", [model.id])
        assert "[stats] requests 1, errors 0" in ok("service", "logs", "raw-http", "-w", ws.name)
        assert "WebserviceNotFound" in failed(1, "service", "show", "nope", "-w", ws.name)
    finally:
        assert "deleted service raw-http" in ok("service", "delete", "raw-http", "-w", ws.name)
    assert Webservice.list(ws) == []


def test_an_aci_service_with_keys_refuses_requests_without_one(
    ws: Workspace, ridge: tuple[Model, Any, Any], tmp_path: Path
) -> None:
    from trainforge.core.webservice import AciWebservice

    model, fitted, X = ridge
    source = tmp_path / "aci"
    _write(source, "score.py", SCORE)
    aci_config = AciWebservice.deploy_configuration(
        cpu_cores=2,
        memory_gb=1,
        tags={"data": "diabetes", "method": "sklearn"},
        description="Predict diabetes with sklearn",
        auth_enabled=True,
    )
    service = Model.deploy(
        workspace=ws,
        name="aci-ridge",
        models=[model],
        inference_config=InferenceConfig(
            entry_script="score.py", source_directory=str(source), environment=_env()
        ),
        deployment_config=aci_config,
    )
    try:
        service.wait_for_deployment(show_output=True)
        assert isinstance(service, AciWebservice) and service.state == "Healthy"
        assert (service.cpu_cores, service.memory_gb, service.auth_enabled) == (2, 1, True)
        assert service.tags == {"data": "diabetes", "method": "sklearn"}
        rows = json.dumps({"data": X[:1].tolist()})
        expected = fitted.predict(X[:1]).tolist()
        assert service.run(input_data=rows) == pytest.approx(expected)

        primary, secondary = service.get_keys()

        def post(key: str | None) -> int:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return httpx.post(service.scoring_uri, content=rows, headers=headers).status_code

        assert (post(None), post("not-a-key"), post(primary), post(secondary)) == (
            401,
            401,
            200,
            200,
        )
        service.regen_key("Primary")
        new_primary, same_secondary = service.get_keys()
        assert new_primary != primary and same_secondary == secondary
        assert (post(primary), post(new_primary)) == (401, 200)
        assert service.run(rows) == pytest.approx(expected)
        with pytest.raises(WebserviceException, match="key: 'Tertiary'"):
            service.regen_key("Tertiary")
        with pytest.raises(WebserviceException, match="token auth is AKS"):
            service.get_token()
        assert "with 2 worker(s)" in service.get_logs()
        assert [s.name for s in Webservice.list(ws, compute_type="ACI")] == ["aci-ridge"]
    finally:
        service.delete()


VERSIONED = """
    import os

    def init():
        global where
        where = sorted(os.listdir(os.getenv("AZUREML_MODEL_DIR")))

    def run(raw_data):
        return {"code": "CODE", "models": where}
"""


def test_reload_takes_new_code_and_update_new_models(
    ws: Workspace, ridge: tuple[Model, Any, Any], tmp_path: Path
) -> None:
    model, _, _ = ridge
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a b")
    other = Model.register(ws, str(vocab), "vocab")
    source = tmp_path / "reloading"
    _write(source, "score.py", VERSIONED.replace("CODE", "v1"))
    config = InferenceConfig(entry_script="score.py", source_directory=str(source))
    local_service = Model.deploy(
        ws, "reloads", [model], config, LocalWebservice.deploy_configuration()
    )
    try:
        local_service.wait_for_deployment()
        first = local_service.run(json.dumps({}))
        assert first == {"code": "v1", "models": ["sklearn_regression_model.pkl"]}
        _write(source, "score.py", VERSIONED.replace("CODE", "v2"))
        local_service.reload()
        assert local_service.run(json.dumps({}))["code"] == "v2"
        local_service.update(models=[other], wait=True)
        assert local_service.run(json.dumps({})) == {"code": "v2", "models": ["vocab.txt"]}
        assert [m.id for m in Webservice(ws, "reloads").models] == [other.id]
        assert "reloading: a new scoring process starts" in local_service.get_logs()
        with pytest.raises(WebserviceException, match="reload: this object does not know"):
            Webservice(ws, "reloads").reload()  # type: ignore[attr-defined]
    finally:
        local_service.delete()


PACKAGED = """
    import json, sys
    import tabulate

    def init():
        print("init with tabulate", tabulate.__version__, flush=True)

    def run(raw_data):
        return {"prefix": sys.prefix, "table": tabulate.tabulate(json.loads(raw_data)["rows"])}
"""


@pytest.mark.slow
def test_a_service_runs_in_the_environment_built_for_its_packages(
    ws: Workspace, ridge: tuple[Model, Any, Any], tmp_path: Path, cli_server: Api
) -> None:
    import importlib.util

    from trainforge.core.conda_dependencies import CondaDependencies
    from trainforge.node.work_root import envs_root

    assert importlib.util.find_spec("tabulate") is None, "tabulate is in the test venv"
    model, _, _ = ridge
    source = tmp_path / "packaged"
    _write(source, "score.py", PACKAGED)
    environment = Environment("LocalDeploy")
    environment.python.conda_dependencies = CondaDependencies.create(pip_packages=["tabulate"])
    service = Model.deploy(
        ws,
        "packaged",
        [model],
        InferenceConfig(
            entry_script="score.py", source_directory=str(source), environment=environment
        ),
        LocalWebservice.deploy_configuration(),
    )
    try:
        answer = service.run(json.dumps({"rows": [[1, 2]]}))
        assert Path(answer["prefix"]).parent == envs_root(cli_server.plane.settings.home, ws.name)
        assert answer["table"].split() == ["-", "-", "1", "2", "-", "-"]
        assert "init with tabulate" in service.get_logs()
    finally:
        service.delete()


def test_update_under_load_refuses_no_request(
    ws: Workspace, ridge: tuple[Model, Any, Any], tmp_path: Path
) -> None:
    """Requests in a loop (each on a new connection, as ``service.run`` and ``curl`` make
    them, and on one kept-alive connection) while the service is updated twice, once with
    a failing version: every request is answered 200, first by v1, then by v2, never by
    the failing one, and v1's folder is gone once v2 serves."""
    import threading

    model, _, _ = ridge
    source = tmp_path / "rolling"
    _write(source, "score.py", VERSIONED.replace("CODE", "v1"))
    config = InferenceConfig(entry_script="score.py", source_directory=str(source))
    service = Model.deploy(ws, "rolls", [model], config, LocalWebservice.deploy_configuration())
    stop = threading.Event()
    answers: list[tuple[str, int, str]] = []

    def load(kind: str) -> None:
        with httpx.Client(timeout=30) as pooled:
            while not stop.is_set():
                try:
                    if kind == "pooled":
                        answer = pooled.post(service.scoring_uri, content=b"{}")
                    else:
                        answer = httpx.post(service.scoring_uri, content=b"{}", timeout=30)
                    code = answer.json()["code"] if answer.status_code == 200 else answer.text
                    answers.append((kind, answer.status_code, code))
                except httpx.HTTPError as exc:
                    answers.append((kind, 0, repr(exc)))

    threads = [threading.Thread(target=load, args=(kind,)) for kind in ("fresh", "pooled")]
    try:
        service.wait_for_deployment()
        first_app = Path(_app_dir(service))
        for thread in threads:
            thread.start()
        wait_until(lambda: len(answers) >= 20, 30, "requests before the update")
        # A version whose init() fails: the old one goes on serving.
        _write(source, "score.py", FAILING_INIT)
        with pytest.raises(WebserviceException, match="init\\(\\) failed"):
            service.update(inference_config=config, wait=True)
        assert "previous version goes on serving" in (Webservice(ws, "rolls").error or "")
        seen = len(answers)
        wait_until(lambda: len(answers) >= seen + 20, 30, "requests after the failed update")
        _write(source, "score.py", VERSIONED.replace("CODE", "v2"))
        service.update(inference_config=config, wait=True)
        seen = len(answers)
        wait_until(lambda: len(answers) >= seen + 20, 30, "requests after the update")
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(60)
        service.delete()
    failed = [a for a in answers if a[1] != 200]
    assert failed == [], failed[:5]
    for kind in ("fresh", "pooled"):
        codes = [code for k, _, code in answers if k == kind]
        assert codes[0] == "v1" and codes[-1] == "v2", kind
        switch = codes.index("v2")
        assert set(codes[:switch]) == {"v1"} and set(codes[switch:]) == {"v2"}, kind
    assert not first_app.exists()


def _app_dir(service: LocalWebservice) -> str:
    """The app folder the service's scoring process serves from (its working folder)."""
    return psutil.Process(_scoring_pid(service)).cwd()
