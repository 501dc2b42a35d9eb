"""The samples' model flows on a real server with real runs: train-on-local (train,
``run.register_model``, ``Model.get_model_path`` in a later run, a run registering its own
output) and HyperDrive's best run registered, then deployed to an ACI-style service."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from trainforge.core import (
    Environment,
    Experiment,
    InferenceConfig,
    Model,
    ScriptRunConfig,
    Workspace,
)
from trainforge.core.webservice import AciWebservice
from trainforge.train.hyperdrive import (
    GridParameterSampling,
    HyperDriveConfig,
    PrimaryMetricGoal,
    choice,
)

joblib = pytest.importorskip("joblib")
pytest.importorskip("sklearn")
from sklearn.datasets import load_diabetes  # noqa: E402

TRAIN = """
    import argparse, os
    import joblib
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error
    from sklearn.model_selection import train_test_split
    from trainforge.core import Run

    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=0.4)
    alpha = parser.parse_args().alpha
    run = Run.get_context()
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    model = Ridge(alpha=alpha).fit(X_train, y_train)
    run.log("alpha", alpha)
    run.log("mse", mean_squared_error(y_test, model.predict(X_test)))
    os.makedirs("outputs", exist_ok=True)
    joblib.dump(model, f"outputs/ridge_{alpha:.2f}.pkl")
    joblib.dump(model, "outputs/model.pkl")
"""

SCORE_IN_A_RUN = """
    import joblib
    from sklearn.datasets import load_diabetes
    from trainforge.core import Run
    from trainforge.core.model import Model

    run = Run.get_context()
    path = Model.get_model_path("diabetes-ridge")
    print("MODEL PATH", path)
    model = joblib.load(path)
    X, _ = load_diabetes(return_X_y=True)
    run.log("prediction", float(model.predict(X[:1])[0]))
    run.upload_file("outputs/copy.pkl", path)
    registered = run.register_model("registered-inside", "outputs/copy.pkl")
    print("REGISTERED", registered.id, registered.run_id)
"""


SCORE_BY_NAME = """
    import json
    import joblib
    from trainforge.core.model import Model

    def init():
        global model
        model = joblib.load(Model.get_model_path("sweep-best"))

    def run(raw_data):
        return model.predict(json.loads(raw_data)["data"]).tolist()
"""


def _write(folder: Path, name: str, code: str) -> None:
    (folder / name).write_text(textwrap.dedent(code))


def _env() -> Environment:
    env = Environment("user-managed-env")
    env.python.user_managed_dependencies = True
    return env


def test_train_on_local_registers_and_a_later_run_finds_the_model(
    ws: Workspace, experiment: Experiment, project: Path, tmp_path: Path
) -> None:
    _write(project, "train.py", TRAIN)
    src = ScriptRunConfig(source_directory=str(project), script="train.py", environment=_env())
    run = experiment.submit(src)
    run.wait_for_completion(show_output=False)
    assert run.get_status() == "Completed"
    assert "outputs/ridge_0.40.pkl" in run.get_file_names()
    model = run.register_model(model_name="diabetes-ridge", model_path="./outputs/ridge_0.40.pkl")
    assert (model.run_id, model.experiment_name) == (run.id, experiment.name)
    assert model.asset_name == "ridge_0.40.pkl"

    _write(project, "score_in_run.py", SCORE_IN_A_RUN)
    later = experiment.submit(
        ScriptRunConfig(str(project), script="score_in_run.py", environment=_env())
    )
    later.wait_for_completion(show_output=False)
    log = later.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"]
    assert later.get_status() == "Completed", log
    assert f"MODEL PATH azureml-models/diabetes-ridge/{model.version}/ridge_0.40.pkl" in log
    assert "prediction" in later.get_metrics()
    inside = Model(ws, "registered-inside")
    assert inside.run_id == later.id and f"REGISTERED {inside.id} {later.id}" in log
    here = Path(inside.download(str(tmp_path)))
    assert type(joblib.load(here)).__name__ == "Ridge"


def test_hyperdrive_best_run_registers_its_model(
    ws: Workspace, experiment: Experiment, project: Path, tmp_path: Path
) -> None:
    _write(project, "train.py", TRAIN)
    src = ScriptRunConfig(source_directory=str(project), script="train.py", environment=_env())
    sweep = experiment.submit(
        HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=GridParameterSampling({"--alpha": choice(0.01, 10.0)}),
            primary_metric_name="mse",
            primary_metric_goal=PrimaryMetricGoal.MINIMIZE,
            max_total_runs=2,
            max_concurrent_runs=2,
        )
    )
    sweep.wait_for_completion(show_output=False)
    best = sweep.get_best_run_by_primary_metric()
    assert best is not None
    mse = {child.id: child.get_metrics()["mse"] for child in sweep.get_children()}
    assert best.id == min(mse, key=lambda run_id: mse[run_id])
    model = best.register_model(model_name="sweep-best", model_path="outputs/model.pkl")
    assert model.run_id == best.id
    fitted = joblib.load(model.download(str(tmp_path)))
    assert fitted.alpha == best.get_metrics()["alpha"]

    # ... and deploy it as the sample does (2019 score.py: Model.get_model_path by name).
    _write(project, "score.py", SCORE_BY_NAME)
    service = Model.deploy(
        workspace=ws,
        name="sweep-best-aci",
        models=[model],
        inference_config=InferenceConfig(
            entry_script="score.py", source_directory=str(project), environment=_env()
        ),
        deployment_config=AciWebservice.deploy_configuration(
            cpu_cores=1, memory_gb=1, tags={"data": "diabetes"}, description="best of the sweep"
        ),
    )
    try:
        service.wait_for_deployment(show_output=True)
        X, _ = load_diabetes(return_X_y=True)
        answer = service.run(input_data=json.dumps({"data": X[:3].tolist()}))
        assert answer == pytest.approx(fitted.predict(X[:3]).tolist())
    finally:
        service.delete()


def test_a_run_registers_its_model_in_an_interpreter_that_never_imported_model(
    ws: Workspace, tmp_path: Path
) -> None:
    # trainforge.core loads its modules on demand: Model is not imported by this code.
    from tests.helpers import run_python

    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(b"weights")
    code = textwrap.dedent(
        f"""
        from trainforge.core import Experiment, Workspace
        ws = Workspace.get({ws.name!r})
        run = Experiment(ws, "fresh-register").start_logging(snapshot_directory=None)
        run.upload_file("outputs/model.pkl", {str(model_file)!r})
        run.complete()
        model = run.register_model(model_name="fresh-model", model_path="outputs/model.pkl")
        print("registered", model.name, model.version, model.run_id == run.id)
        """
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert "registered fresh-model" in done.stdout and done.stdout.strip().endswith("True")
