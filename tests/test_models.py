"""The model registry as users reach it: ``Model.register`` (file, folder, child paths),
versions, lookups, ``Model.list`` filters, download, updates, delete, ``run.register_model``,
``Model.get_model_path``'s search order, the REST API's refusals and the ``trainforge model``
CLI. The control plane is served from this process (tests/inprocess.py); the flows that need
real runs are in test_model_flows.py."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from tests.cli import failed, flat, ok
from tests.inprocess import Api, api_fixture  # noqa: F401  (the fixture)
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.core import Experiment, Model, Workspace
from trainforge.core.resource_configuration import ResourceConfiguration
from trainforge.exceptions import ModelNotFoundException, WebserviceException
from trainforge.server.auth import run_token


@pytest.fixture
def ws(cli_server: Api) -> Workspace:
    return Workspace.create("models-ws", exist_ok=True, show_output=False)


def _file(folder: Path, name: str, payload: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(pickle.dumps(payload))
    return path


def test_register_a_file_twice_gives_versions_and_lookups(ws: Workspace, tmp_path: Path) -> None:
    first = _file(tmp_path / "a", "sklearn_regression_model.pkl", {"alpha": 0.1})
    second = _file(tmp_path / "b", "sklearn_regression_model.pkl", {"alpha": 0.2})
    m1 = Model.register(
        workspace=ws,
        model_path=str(first),
        model_name="sklearn_regression_model.pkl",
        tags={"area": "diabetes", "type": "regression"},
        properties={"mse": 3000},
        description="Ridge regression model to predict diabetes",
        model_framework=Model.Framework.SCIKITLEARN,
        model_framework_version="1.5",
        resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5),
    )
    m2 = Model.register(ws, str(second), "sklearn_regression_model.pkl", tags={"area": "x"})
    assert (m1.version, m2.version) == (1, 2)
    assert m1.id == "sklearn_regression_model.pkl:1"
    assert (m1.tags, m1.properties) == ({"area": "diabetes", "type": "regression"}, {"mse": "3000"})
    assert m1.description == "Ridge regression model to predict diabetes"
    assert (m1.model_framework, m1.model_framework_version) == ("ScikitLearn", "1.5")
    assert m1.resource_configuration is not None
    assert (m1.resource_configuration.cpu, m1.resource_configuration.memory_in_gb) == (1, 0.5)
    assert m1.workspace is ws and m1.run_id is None and m1.run is None
    assert m1.created_time is not None and m1.created_by["userName"]
    assert m1.url.startswith("aml://") and m1.mime_type

    latest = Model(ws, "sklearn_regression_model.pkl")
    assert latest.version == 2 and latest.tags == {"area": "x"}
    assert Model(ws, "sklearn_regression_model.pkl", version=1).description == m1.description
    assert Model(ws, id="sklearn_regression_model.pkl:1").tags == m1.tags
    assert Model(ws, "sklearn_regression_model.pkl", tags=[["area", "diabetes"]]).version == 1
    assert set(ws.models) == {"sklearn_regression_model.pkl"}
    assert ws.models["sklearn_regression_model.pkl"].version == 2

    # Each version keeps its own bytes.
    out1 = Path(m1.download(str(tmp_path / "d1")))
    out2 = Path(latest.download(str(tmp_path / "d2")))
    assert out1.name == "sklearn_regression_model.pkl"
    assert pickle.loads(out1.read_bytes()) == {"alpha": 0.1}
    assert pickle.loads(out2.read_bytes()) == {"alpha": 0.2}
    with pytest.raises(WebserviceException, match="exist_ok"):
        m1.download(str(tmp_path / "d1"))
    assert m1.download(str(tmp_path / "d1"), exist_ok=True) == str(out1)

    payload = m1.serialize()
    assert payload["id"] == m1.id and payload["framework"] == "ScikitLearn"
    assert payload["resourceConfiguration"]["cpu"] == 1
    assert Model.deserialize(ws, payload).version == 1


def test_list_filters(ws: Workspace, tmp_path: Path) -> None:
    path = _file(tmp_path, "m.pkl", 1)
    Model.register(ws, str(path), "alpha", tags={"stage": "dev"}, model_framework="PyTorch")
    Model.register(ws, str(path), "alpha", tags={"stage": "prod"}, properties={"acc": "0.9"})
    Model.register(ws, str(path), "beta", tags={"stage": "prod"})

    def ids(**filters: Any) -> list[str]:
        return [m.id for m in Model.list(ws, **filters)]

    assert ids() == ["alpha:2", "alpha:1", "beta:1"]
    assert ids(name="alpha") == ["alpha:2", "alpha:1"]
    assert ids(latest=True) == ["alpha:2", "beta:1"]
    assert ids(tags=["stage"]) == ["alpha:2", "alpha:1", "beta:1"]
    assert ids(tags=[["stage", "prod"]]) == ["alpha:2", "beta:1"]
    assert ids(properties=[["acc", "0.9"]]) == ["alpha:2"]
    assert ids(model_framework="PyTorch") == ["alpha:1"]
    assert ids(name="gamma") == []


def test_a_folder_registers_whole_or_by_child_paths(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "variables.data").write_bytes(b"w" * 100_000)
    (folder / "notes.txt").write_text("not part of the model")

    whole = Model.register(ws, str(folder), "tf-dnn-mnist")
    assert whole.asset_name == "model"
    out = Path(whole.download(str(tmp_path / "out")))
    assert out == tmp_path / "out" / "model"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "notes.txt",
        "saved_model.pb",
        "variables/variables.data",
    ]
    assert (out / "variables" / "variables.data").read_bytes() == b"w" * 100_000

    some = Model.register(
        ws, str(folder), "tf-dnn-mnist", child_paths=["saved_model.pb", "variables/variables.data"]
    )
    assert some.version == 2
    out = Path(some.download(str(tmp_path / "out2")))
    assert not (out / "notes.txt").exists() and (out / "saved_model.pb").read_bytes() == b"graph"


def test_updates_change_metadata_and_deletes_never_reuse_a_version(
    ws: Workspace, tmp_path: Path
) -> None:
    path = _file(tmp_path, "m.pkl", 1)
    model = Model.register(ws, str(path), "churn", tags={"a": "1", "b": "2"})
    model.add_tags({"c": "3"})
    model.remove_tags(["a"])
    model.add_properties({"auc": "0.8"})
    model.update(description="better")
    again = Model(ws, "churn", version=1)
    assert again.tags == {"b": "2", "c": "3"}
    assert again.properties == {"auc": "0.8"} and again.description == "better"
    model.update(tags={"only": "this"})
    assert Model(ws, "churn").tags == {"only": "this"}

    second = Model.register(ws, str(path), "churn")
    second.delete()
    with pytest.raises(ModelNotFoundException, match="no version 2") as caught:
        Model(ws, "churn", version=2)
    assert isinstance(caught.value, WebserviceException)
    assert Model(ws, "churn").version == 1
    assert Model.register(ws, str(path), "churn").version == 3


def test_bad_input_names_the_field(ws: Workspace, tmp_path: Path, cli_server: Api) -> None:
    path = _file(tmp_path, "m.pkl", 1)
    with pytest.raises(WebserviceException, match="model_path: .*cannot be found"):
        Model.register(ws, str(tmp_path / "missing.pkl"), "m")
    with pytest.raises(WebserviceException, match="Model name 'bad name!' is invalid"):
        Model.register(ws, str(path), "bad name!")
    with pytest.raises(WebserviceException, match="child_paths: 'nope' is not a file"):
        Model.register(ws, str(tmp_path), "m", child_paths=["nope"])
    with pytest.raises(ModelNotFoundException, match="ModelNotFound"):
        Model(ws, "never-registered")
    with pytest.raises(WebserviceException, match="version: 'x'"):
        Model(ws, "m", version="x")
    with pytest.raises(WebserviceException, match="id: 'nocolon'"):
        Model(ws, id="nocolon")
    with pytest.raises(WebserviceException, match="datasets: the dataset is not registered"):
        Model.register(ws, str(path), "m", datasets=[("training", object())])

    base = f"/workspaces/{ws.name}"
    answers = {
        "bad name": cli_server.request(
            "POST", f"{base}/models", json={"name": "-x", "upload_id": "0" * 32, "asset_name": "a"}
        ),
        "no source": cli_server.request("POST", f"{base}/models", json={"name": "m"}),
        "unknown upload": cli_server.request(
            "POST", f"{base}/models", json={"name": "m", "upload_id": "0" * 32, "asset_name": "a"}
        ),
        "bad upload id": cli_server.request(
            "PUT", f"{base}/model-uploads/NOT-HEX/files/x", content=b"x"
        ),
        "climbing file": cli_server.request(
            "PUT", f"{base}/model-uploads/{'1' * 32}/files/a/%2E%2E/%2E%2E/x", content=b"x"
        ),
        "version 0": cli_server.request("GET", f"{base}/models/m/versions/0"),
        "unknown dataset": cli_server.request(
            "POST",
            f"{base}/models",
            json={
                "name": "m",
                "run_id": "r",
                "run_path": "x",
                "datasets": [{"scenario": "training", "dataset_id": "nope"}],
            },
        ),
        "unknown run": cli_server.request(
            "POST", f"{base}/models", json={"name": "m", "run_id": "nope", "run_path": "x"}
        ),
        "other workspace": cli_server.request("GET", "/workspaces/no-such-ws/models"),
    }
    codes = {what: answer.status_code for what, answer in answers.items()}
    assert codes == {
        "bad name": 422,
        "no source": 422,
        "unknown upload": 400,
        "bad upload id": 422,
        "climbing file": 400,
        "version 0": 422,
        "unknown dataset": 400,
        "unknown run": 404,
        "other workspace": 404,
    }
    messages = {what: answer.json()["error"]["message"] for what, answer in answers.items()}
    assert messages["bad name"].startswith("name: Model name '-x' is invalid")
    assert "either upload_id (uploaded files) or run_id" in messages["no source"]
    assert messages["unknown upload"].startswith("upload_id:")
    assert messages["version 0"].startswith("version:")
    assert messages["bad upload id"].startswith("upload_id:")
    assert "climbs out" in messages["climbing file"]
    assert messages["unknown dataset"].startswith("datasets: dataset 'nope'")
    assert all(str(cli_server.plane.settings.home) not in m for m in messages.values())


def test_models_of_two_workspaces_never_meet(cli_server: Api, tmp_path: Path) -> None:
    one = Workspace.create("models-one", exist_ok=True, show_output=False)
    two = Workspace.create("models-two", exist_ok=True, show_output=False)
    Model.register(one, str(_file(tmp_path / "1", "m.pkl", "one")), "shared")
    Model.register(one, str(_file(tmp_path / "1", "m.pkl", "one")), "shared")
    Model.register(two, str(_file(tmp_path / "2", "m.pkl", "two")), "shared")
    assert Model(one, "shared").version == 2 and Model(two, "shared").version == 1
    out = Model(two, "shared").download(str(tmp_path / "out"))
    assert pickle.loads(Path(out).read_bytes()) == "two"
    assert [m.id for m in Model.list(two)] == ["shared:1"]


def _logged_run(ws: Workspace, tmp_path: Path) -> Any:
    run = Experiment(ws, "train-on-local").start_logging(snapshot_directory=None)
    folder = tmp_path / "outputs"
    _file(folder, "ridge_0.40.pkl", {"alpha": 0.4})
    (folder / "extra").mkdir()
    (folder / "extra" / "vocab.txt").write_text("a b c")
    run.upload_folder("outputs", str(folder))
    run.log("mse", 3424.9)
    run.complete()
    return run


def test_run_register_model_links_the_run_and_copies_its_files(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _logged_run(ws, tmp_path)
    model = run.register_model(model_name="ridge", model_path="./outputs/ridge_0.40.pkl")
    assert (model.name, model.version, model.run_id) == ("ridge", 1, run.id)
    assert model.experiment_name == "train-on-local" and model.run is not None
    assert model.run.id == run.id
    assert [m.id for m in Model.list(ws, run_id=run.id)] == ["ridge:1"]

    folder = run.register_model("ridge-folder", "outputs", tags={"kind": "folder"})
    assert folder.asset_name == "outputs" and folder.tags == {"kind": "folder"}

    with pytest.raises(WebserviceException, match="model_path: could not locate 'outputs/nope'"):
        run.register_model("ridge", "outputs/nope.pkl".replace(".pkl", ""))

    # get_model_path with a workspace downloads into ./azureml-models/<name>/<version>/.
    monkeypatch.chdir(tmp_path)
    path = Model.get_model_path("ridge", _workspace=ws)
    assert path == str(Path("azureml-models") / "ridge" / "1" / "ridge_0.40.pkl")
    assert pickle.loads(Path(path).read_bytes()) == {"alpha": 0.4}
    # A cached version is used as it is (here: changed on purpose, so it shows).
    Path(path).write_bytes(pickle.dumps("cached"))
    assert Model.get_model_path("ridge", version=1, _workspace=ws) == path
    assert pickle.loads(Path(path).read_bytes()) == "cached"


def test_get_model_path_outside_runs_searches_model_dir_cache_then_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for variable in ("AZUREML_RUN_ID", "AZUREML_MODEL_DIR"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ModelNotFoundException, match="ModelNotFound"):
        Model.get_model_path("m")
    (tmp_path / "m").write_text("plain")
    assert Model.get_model_path("m") == "m"
    for version in ("1", "3"):
        _file(tmp_path / "azureml-models" / "m" / version, f"v{version}.pkl", version)
    assert Model.get_model_path("m") == str(Path("azureml-models/m/3/v3.pkl"))
    assert Model.get_model_path("m", version=1) == str(Path("azureml-models/m/1/v1.pkl"))

    # Scoring code: AZUREML_MODEL_DIR names one model's version folder...
    single = tmp_path / "app" / "azureml-models" / "m" / "7"
    _file(single, "model.pkl", 7)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(single))
    assert Model.get_model_path("m") == str(single / "model.pkl")
    # ...or, with several models, the folder above them.
    multi = tmp_path / "multi" / "azureml-models"
    _file(multi / "a" / "2", "a.pkl", "a")
    _file(multi / "b" / "1", "b.onnx", "b")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(multi))
    assert Model.get_model_path("b") == str(multi / "b" / "1" / "b.onnx")
    assert Model.get_model_path("a", version=2) == str(multi / "a" / "2" / "a.pkl")
    (multi / "a" / "2" / "second.pkl").write_text("x")
    with pytest.raises(WebserviceException, match="exactly one file or folder"):
        Model.get_model_path("a")


def test_a_run_token_registers_models_but_never_deletes_them(
    cli_server: Api, ws: Workspace, tmp_path: Path
) -> None:
    run = _logged_run(ws, tmp_path)
    token = run_token(b"k" * 32, ws.name, run.id)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/workspaces/{ws.name}"
    upload = "2" * 32
    staged = cli_server.request(
        "PUT", f"{base}/model-uploads/{upload}/files/m.pkl", content=b"abc", headers=headers
    )
    assert staged.status_code == 200, staged.text
    made = cli_server.request(
        "POST",
        f"{base}/models",
        json={"name": "from-run", "upload_id": upload, "asset_name": "m.pkl"},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == f"run {run.id}"
    by_run = cli_server.request(
        "POST",
        f"{base}/models",
        json={"name": "from-run", "run_id": run.id, "run_path": "outputs/ridge_0.40.pkl"},
        headers=headers,
    )
    assert by_run.json()["version"] == 2
    refused = {
        "delete": cli_server.request(
            "DELETE", f"{base}/models/from-run/versions/1", headers=headers
        ).status_code,
        "update": cli_server.request(
            "PATCH",
            f"{base}/models/from-run/versions/1",
            json={"add_tags": {"a": "b"}},
            headers=headers,
        ).status_code,
        "other workspace": cli_server.request(
            "GET", "/workspaces/models-other/models", headers=headers
        ).status_code,
    }
    assert refused == {"delete": 403, "update": 403, "other workspace": 403}


# -- CLI ----------------------------------------------------------------------------------
def test_cli_registers_lists_shows_downloads_and_deletes(ws: Workspace, tmp_path: Path) -> None:
    path = _file(tmp_path, "model.pkl", {"w": 1})
    said = ok("model", "register", str(path), "-n", "cli-model", "-t", "stage=dev", "-w", ws.name)
    assert "model cli-model version 1: model.pkl" in flat(said)
    ok(
        "model",
        "register",
        str(path),
        "-n",
        "cli-model",
        "--framework",
        "ScikitLearn",
        "-w",
        ws.name,
    )
    listed = json.loads(ok("model", "list", "-w", ws.name, "-o", "json"))
    assert [m["id"] for m in listed] == ["cli-model:2", "cli-model:1"]
    table = ok("model", "list", "--tag", "stage=dev", "-w", ws.name)
    assert "cli-model" in table and "stage=dev" in table
    shown = json.loads(ok("model", "show", "cli-model", "-w", ws.name))
    assert (shown["version"], shown["framework"]) == (2, "ScikitLearn")
    where = ok(
        "model", "download", "cli-model", "-v", "1", "-d", str(tmp_path / "dl"), "-w", ws.name
    )
    assert pickle.loads(Path(where.strip()).read_bytes()) == {"w": 1}
    assert "deleted model cli-model version 2" in ok(
        "model", "delete", "cli-model", "-v", "2", "-w", ws.name
    )
    shown = failed(1, "model", "show", "cli-model", "-v", "2", "-w", ws.name)
    assert shown.startswith("error: ModelNotFoundException: ModelNotFound")
    assert "model_path:" in failed(
        1, "model", "register", str(tmp_path / "nope"), "-n", "x", "-w", ws.name
    )


# -- the store on SQLite and PostgreSQL ----------------------------------------------------
def _stage(api: Api, ws: str, upload: str, name: str, data: bytes) -> None:
    api.call("PUT", f"/workspaces/{ws}/model-uploads/{upload}/files/{name}", content=data)


def test_versions_on_both_stores_never_repeat(api: Api) -> None:
    ws = api.workspace("store-ws")
    base = f"/workspaces/{ws}/models"
    made = []
    for n in range(3):
        upload = f"{n:032x}"
        _stage(api, ws, upload, "model/a.bin", bytes([n]) * 10)
        _stage(api, ws, upload, "model/sub/b.bin", b"b")
        made.append(
            api.call(
                "POST",
                base,
                json={
                    "name": "m",
                    "upload_id": upload,
                    "asset_name": "model",
                    "tags": {"n": str(n)},
                },
            )
        )
    assert [m["version"] for m in made] == [1, 2, 3]
    assert (made[0]["is_folder"], made[0]["file_count"], made[0]["size"]) == (True, 2, 11)
    files = api.call("GET", f"{base}/m/versions/2/files")
    assert sorted(f["name"] for f in files) == ["model/a.bin", "model/sub/b.bin"]
    assert api.request("GET", f"{base}/m/versions/2/files/model/a.bin").content == b"\x01" * 10
    api.call("DELETE", f"{base}/m/versions/3")
    assert api.request("GET", f"{base}/m/versions/3").status_code == 404
    _stage(api, ws, "f" * 32, "x.pkl", b"x")
    again = api.call("POST", base, json={"name": "m", "upload_id": "f" * 32, "asset_name": "x.pkl"})
    assert again["version"] == 4
    listed = api.call("GET", base, params={"tag": "n=1"})
    assert [m["id"] for m in listed["models"]] == ["m:2"]
    latest = api.call("GET", base, params={"latest": "true"})
    assert [m["id"] for m in latest["models"]] == ["m:4"]
    # The same upload cannot be registered twice: its files moved into version 1.
    reused = api.request(
        "POST", base, json={"name": "m", "upload_id": f"{0:032x}", "asset_name": "model"}
    )
    assert reused.status_code == 400 and reused.json()["error"]["message"].startswith("upload_id:")
