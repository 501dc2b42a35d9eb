"""AutoMLRun.continue_experiment on a real control plane: a finished local classification
run continued with more iterations, as a new AutoML run that links it and goes on from
its search, while the finished run stays as it was."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from trainforge.core import Experiment
from trainforge.exceptions import UserErrorException
from trainforge.train.automl import AutoMLConfig, ConfigException
from trainforge.train.automl.run import AutoMLRun

pytestmark = pytest.mark.slow
CONTINUED = "azureml.automl.continued_run_id"


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    names = dict(enumerate(load_iris().target_names))
    return frame.assign(species=frame.pop("target").map(names))


def _config(iris: pd.DataFrame, iterations: int) -> AutoMLConfig:
    return AutoMLConfig(
        task="classification",
        primary_metric="accuracy",
        training_data=iris,
        label_column_name="species",
        iterations=iterations,
        n_cross_validations=2,
        enable_voting_ensemble=False,
        experiment_timeout_minutes=10,
        allowed_models=["LogisticRegression", "KNN", "RandomForest"],
    )


def _seen(run: AutoMLRun) -> dict[str, Any]:
    """What a user can read of an AutoML run and its children."""
    children = sorted(run.get_children(), key=lambda c: c.id)
    details = run.get_details()
    return {
        "status": run.get_status(),
        "end": details.get("endTimeUtc"),
        "properties": run.get_properties(),
        "tags": run.get_tags(),
        "children": [(c.id, c.get_status(), c.get_metrics().get("accuracy")) for c in children],
        "iterations": [
            (c.iteration, c.run_id, c.learner, json.dumps(c.config, sort_keys=True), c.score)
            for c in run._automl().children
        ],
        "best": run._automl().best_run_id,
    }


def test_a_finished_run_continues_as_a_new_run_that_goes_on_from_its_search(
    experiment: Experiment, iris: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    automl_run = experiment.submit(_config(iris, iterations=3))
    assert isinstance(automl_run, AutoMLRun)
    assert automl_run.wait_for_completion()["status"] == "Completed"
    before = _seen(automl_run)

    more = automl_run.continue_experiment(
        training_data=iris, iterations=2, experiment_timeout_minutes=10, show_output=True
    )
    assert isinstance(more, AutoMLRun) and more.type == "automl"
    assert more.id != automl_run.id and more.experiment.name == experiment.name
    assert more.get_status() == "Completed"
    assert "ITERATION" in capsys.readouterr().out
    # The link, and the continued run's settings.
    properties = more.get_properties()
    assert properties[CONTINUED] == automl_run.id
    assert (properties["task"], properties["primary_metric"]) == ("classification", "accuracy")
    assert properties["iterations"] == "5"

    # Its own children are numbered after the continued run's iterations.
    children = sorted(more.get_children(), key=lambda c: c.id)
    assert [c.id for c in children] == [f"{more.id}_3", f"{more.id}_4"]
    assert all(c.get_status() == "Completed" for c in children)
    state = more._automl()
    assert state.continued_from == automl_run.id and state.first_iteration == 3
    assert [c.iteration for c in state.children] == [0, 1, 2, 3, 4]
    # The continued run's iterations come first, as they were; the search proposed none
    # of their pipelines again.
    seeded = [(c.iteration, c.run_id, c.learner, json.dumps(c.config, sort_keys=True), c.score)
              for c in state.children[:3]]  # fmt: skip
    assert seeded == before["iterations"]
    tried = {(c.learner, json.dumps(c.config, sort_keys=True)) for c in state.children[:3]}
    for child in state.children[3:]:
        assert (child.learner, json.dumps(child.config, sort_keys=True)) not in tried

    # The best of all five; get_output() on the new run returns it and it predicts.
    scores = {c.run_id: c.score for c in state.children}
    best_run, fitted_model = more.get_output()
    assert scores[best_run.id] == max(s for s in scores.values() if s is not None)
    if best_run.id.startswith(f"{automl_run.id}_"):
        assert best_run.id == before["best"]  # the continued run's best stayed best
    predicted = fitted_model.predict(iris.drop(columns=["species"]))
    assert (predicted == iris["species"]).mean() > 0.9
    old_second, _ = more.get_output(iteration=1)
    assert old_second.id == f"{automl_run.id}_1"
    assert sum(row["iterations"] for row in more.summary()) == 5

    # Its first iterations are the continued run's: not its to cancel.
    with pytest.raises(UserErrorException, match="continues; it has ended"):
        more.cancel_iteration(1)

    # The continued run is as it was: no child, metric, property or status written.
    assert _seen(automl_run) == before

    # A continuation continues too, without new data: one more, numbered 5.
    last = more.continue_experiment(iterations=1)
    last.wait_for_completion()
    assert [c.id for c in last.get_children()] == [f"{last.id}_5"]
    assert last.get_properties()[CONTINUED] == more.id
    # The 2019 SDK's X and y as the new training data.
    xy = last.continue_experiment(X=iris.drop(columns=["species"]), y=iris["species"], iterations=1)
    xy.wait_for_completion()
    assert [c.id for c in xy.get_children()] == [f"{xy.id}_6"]
    assert next(iter(xy.get_children())).get_status() == "Completed"


def test_continuing_is_refused_while_the_run_goes_on_and_for_bad_arguments(
    experiment: Experiment, iris: pd.DataFrame
) -> None:
    automl_run = experiment.submit(_config(iris, iterations=50))
    assert isinstance(automl_run, AutoMLRun)
    try:
        with pytest.raises(UserErrorException, match="continue it once it has ended"):
            automl_run.continue_experiment(iterations=2)
    finally:
        automl_run.cancel()
    automl_run.wait_for_completion(raise_on_error=False)
    with pytest.raises(ConfigException, match="'iterations'"):
        automl_run.continue_experiment(iterations=0)
    with pytest.raises(ConfigException, match="'sample_weight'"):
        automl_run.continue_experiment(sample_weight=[1.0] * len(iris), iterations=1)
    with pytest.raises(ConfigException, match="label_column_name"):
        automl_run.continue_experiment(training_data=iris.drop(columns=["species"]))
    assert [r.id for r in experiment.get_runs()] == [automl_run.id]  # nothing submitted
