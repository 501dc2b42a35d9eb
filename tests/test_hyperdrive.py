"""HyperDrive sweeps end to end: a real control plane, real child runs of a learning-curve script."""

from __future__ import annotations

import json
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import restart_server
from tests.sweeps import CEILINGS, CURVE, EXPECTED, POLICIES, STEPS
from trainforge.core import Experiment, Run, ScriptRunConfig
from trainforge.exceptions import UserErrorException
from trainforge.hyperdrive import samplers
from trainforge.train.hyperdrive import (
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveRun,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    uniform,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def curve_project(project: Path) -> Path:
    (project / "train.py").write_text(textwrap.dedent(CURVE))
    return project


def _config(project: Path, sampling, arguments=(), **options) -> HyperDriveConfig:  # type: ignore[no-untyped-def]
    src = ScriptRunConfig(
        source_directory=str(project), script="train.py", arguments=list(arguments)
    )
    options.setdefault("primary_metric_goal", PrimaryMetricGoal.MAXIMIZE)
    return HyperDriveConfig(
        run_config=src, hyperparameter_sampling=sampling, primary_metric_name="accuracy", **options
    )


def _times(run: Run) -> tuple[datetime, datetime]:
    details = run.get_details()
    return (
        datetime.fromisoformat(details["startTimeUtc"].replace("Z", "+00:00")),
        datetime.fromisoformat(details["endTimeUtc"].replace("Z", "+00:00")),
    )


def most_at_once(children: list[Run]) -> int:
    """The largest number of child runs that were running at the same moment."""
    events = []
    for child in children:
        start, end = _times(child)
        events += [(start, 1), (end, -1)]
    running = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    return peak


def by_index(hd: HyperDriveRun) -> dict[int, Run]:
    return {int(child.id.rsplit("_", 1)[1]): child for child in hd.get_children()}


def test_grid_sweep_runs_every_combination_within_its_budgets(
    experiment: Experiment, curve_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sampling = GridParameterSampling({"--ceiling": choice(0.5, 0.9, 0.3), "tag": choice("a", "b")})
    config = _config(
        curve_project,
        sampling,
        arguments=["--ceiling", 0.1, "--steps", 3, "--sleep", 0.05],
        max_total_runs=10,
        max_concurrent_runs=2,
    )
    with pytest.warns(UserWarning, match=r"\['--ceiling'\] is the list of overridden parameter"):
        hd = experiment.submit(config)
    assert isinstance(hd, HyperDriveRun) and hd.type == "hyperdrive" and hd.id.startswith("HD_")
    details = hd.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert details["status"] == "Completed"
    assert "Streaming azureml-logs/hyperdrive.txt" in out
    assert f"Child run {hd.id}_5 queued with" in out
    assert "HyperDrive run completed: 6 child runs (6 completed" in out
    assert "azureml-logs/hyperdrive.txt" in details["logFiles"]

    children = by_index(hd)
    assert sorted(children) == list(range(6))  # the grid is exhausted before max_total_runs
    assert all(child.get_status() == "Completed" for child in children.values())
    assert most_at_once(list(children.values())) <= 2
    expected = [(c, t) for c in (0.5, 0.9, 0.3) for t in ("a", "b")]
    hyperparameters = hd.get_hyperparameters()
    for i, (ceiling, tag) in enumerate(expected):
        child = children[i]
        assert json.loads(hyperparameters[child.id]) == {"--ceiling": ceiling, "tag": tag}
        assert hd.get_tags()[f"_aml_system_{child.id}"] == hyperparameters[child.id]
        log = child.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"]
        argv = json.loads(log.split("argv ", 1)[1].splitlines()[0])
        assert argv == ["--steps", "3", "--sleep", "0.05", "--ceiling", str(ceiling), "--tag", tag]
        assert child.parent is not None and child.parent.id == hd.id

    best = hd.get_best_run_by_primary_metric()
    assert best is not None and json.loads(hyperparameters[best.id])["--ceiling"] == 0.9
    ranked = hd.get_children_sorted_by_primary_metric(top=3)
    assert [json.loads(r["hyperparameters"])["--ceiling"] for r in ranked] == [0.9, 0.9, 0.5]
    assert ranked[0]["best_primary_metric"] == pytest.approx(0.9)
    worst_first = hd.get_children_sorted_by_primary_metric(reverse=True)
    assert worst_first[0]["best_primary_metric"] == pytest.approx(0.3)
    assert set(hd.get_metrics()) == set(hyperparameters)
    table = Run.get_metrics(hd)["best_child_by_primary_metric"]
    assert table["run_id"][-1] == best.id and table["final"][-1] is True

    again = experiment.workspace.get_run(hd.id)  # loaded by id, as another process would
    assert isinstance(again, HyperDriveRun)
    assert again.hyperdrive_config.max_concurrent_runs == 2
    assert again.hyperdrive_config.primary_metric_goal is PrimaryMetricGoal.MAXIMIZE


def test_random_sweep_is_reproducible_and_finds_the_minimum(
    experiment: Experiment, curve_project: Path
) -> None:
    space = {"ceiling": uniform(0.1, 0.9)}
    config = _config(
        curve_project,
        RandomParameterSampling(space, seed=11),
        arguments=["--steps", 2, "--sleep", 0.05],
        primary_metric_goal=PrimaryMetricGoal.MINIMIZE,
        max_total_runs=4,
        max_concurrent_runs=3,
    )
    hd = experiment.submit(config)
    assert hd.wait_for_completion()["status"] == "Completed"
    children = by_index(hd)
    assert sorted(children) == [0, 1, 2, 3]
    assert most_at_once(list(children.values())) <= 3
    drawn = {
        hd.id + f"_{i}": samplers.next_sample("RANDOM", space, i, 11, False).parameters
        for i in range(4)
    }
    assert {k: json.loads(v) for k, v in hd.get_hyperparameters().items()} == drawn
    lowest = min(drawn, key=lambda run_id: drawn[run_id]["ceiling"])
    best = hd.get_best_run_by_primary_metric()
    assert best is not None and best.id == lowest
    # Minimizing, the best value of a run is its lowest: its first interval.
    assert best.get_metrics()["accuracy"][0] == pytest.approx(drawn[lowest]["ceiling"] / 2)


def test_each_policy_cancels_exactly_the_expected_trials(
    experiment: Experiment, curve_project: Path
) -> None:
    """One sweep per policy, trials one at a time (so the verdicts are deterministic)."""
    names = ["Bandit", "MedianStopping", "TruncationSelection", "ASHA"]
    sweeps = {
        name: experiment.submit(
            _config(
                curve_project,
                GridParameterSampling({"ceiling": choice(*CEILINGS)}),
                arguments=["--steps", STEPS, "--sleep", 0.3, "--linger", 1.5],
                policy=POLICIES[name],
                max_total_runs=len(CEILINGS),
                max_concurrent_runs=1,
            )
        )
        for name in names
    }
    for name, hd in sweeps.items():
        assert hd.wait_for_completion()["status"] == "Completed", name
        children = by_index(hd)
        assert sorted(children) == list(range(len(CEILINGS)))
        canceled = {i for i, child in children.items() if child.get_status() == "Canceled"}
        assert canceled == set(EXPECTED[name]), name
        assert most_at_once(list(children.values())) == 1
        label = POLICIES[name].__class__.__name__
        for i in canceled:
            details = children[i].get_details()
            message = details["error"]["error"]["message"]
            assert message.startswith(f"{label} canceled the run at interval {EXPECTED[name][i]}")
            assert details["warnings"] == [{"message": message}]
        for i in set(children) - canceled:
            assert children[i].get_status() == "Completed"
        best = hd.get_best_run_by_primary_metric()
        assert best is not None and best.id == children[CEILINGS.index(max(CEILINGS))].id


# The worst trial (``--lead``) logs each interval first: it waits for the others' previous
# interval, and they wait for its current one (a while, then go on once it is canceled).
STAGGERED = """
    import argparse, time
    from pathlib import Path
    from trainforge.core import Run

    p = argparse.ArgumentParser()
    p.add_argument("--ceiling", type=float, required=True)
    p.add_argument("--lead", type=float, required=True)
    p.add_argument("--sync", required=True)
    p.add_argument("--peers", type=int, required=True)
    p.add_argument("--steps", type=int, default=6)
    args = p.parse_args()
    sync, lead = Path(args.sync), args.ceiling == args.lead

    def wait_for(pattern, count, timeout):
        deadline = time.monotonic() + timeout
        while len(list(sync.glob(pattern))) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    run = Run.get_context()
    for n in range(1, args.steps + 1):
        if lead:
            wait_for(f"peer-*.{n - 1}", args.peers, 60)
        else:
            wait_for(f"lead.{n}", 1, 3)
            time.sleep(0.5)  # the policy sees the lead's value at n on its own first
        run.log("accuracy", args.ceiling * n / args.steps)
        run.flush()
        (sync / (f"lead.{n}" if lead else f"peer-{args.ceiling}.{n}")).touch()
    time.sleep(1.0)  # room for a verdict on the last interval
"""


def test_a_trial_that_reports_each_interval_first_is_canceled(
    experiment: Experiment, project: Path, tmp_path: Path
) -> None:
    """The issue's sweep, small: four learning curves at once under Bandit; the clearly
    worst one starts first and logs every interval a little before the others."""
    (project / "train.py").write_text(textwrap.dedent(STAGGERED))
    sync = tmp_path / "sync"
    sync.mkdir()
    for peer in (0.9, 0.5, 0.95):
        (sync / f"peer-{peer}.0").touch()
    ceilings = [0.3, 0.9, 0.5, 0.95]
    hd = experiment.submit(
        _config(
            project,
            GridParameterSampling({"ceiling": choice(*ceilings)}),
            arguments=["--lead", 0.3, "--sync", str(sync), "--peers", 3],
            policy=POLICIES["Bandit"],
            max_total_runs=4,
            max_concurrent_runs=4,
        )
    )
    assert hd.wait_for_completion()["status"] == "Completed"
    children = by_index(hd)
    worst, best = children[0], children[3]
    assert worst.get_status() == "Canceled", "the worst trial escaped the policy"
    message = worst.get_details()["error"]["error"]["message"]
    assert message.startswith("BanditPolicy canceled the run at interval 2")
    assert best.get_status() == "Completed"
    assert hd.get_best_run_by_primary_metric().id == best.id  # type: ignore[union-attr]


def test_cancel_stops_every_running_child(experiment: Experiment, curve_project: Path) -> None:
    config = _config(
        curve_project,
        RandomParameterSampling({"ceiling": uniform(0, 1)}),
        arguments=["--steps", 200, "--sleep", 0.1],
        max_total_runs=5,
        max_concurrent_runs=2,
    )
    hd = experiment.submit(config)
    deadline = time.monotonic() + 60
    while sum(1 for c in hd.get_children() if c.get_status() == "Running") < 2:
        assert time.monotonic() < deadline, "two children never ran"
        time.sleep(0.2)
    assert hd.cancel() is True
    assert hd.wait_for_completion()["status"] == "Canceled"
    children = list(hd.get_children())
    assert len(children) == 2
    for child in children:
        child.wait_for_completion(raise_on_error=False)
        assert child.get_status() == "Canceled"
        assert (
            f"its HyperDrive run {hd.id} was canceled"
            in child.get_details()["error"]["error"]["message"]
        )


def test_a_sweep_goes_on_after_a_control_plane_restart(
    tf_home: Path, experiment: Experiment, curve_project: Path
) -> None:

    config = _config(
        curve_project,
        GridParameterSampling({"ceiling": choice(0.2, 0.4, 0.6)}),
        arguments=["--steps", 4, "--sleep", 0.3],
        max_total_runs=3,
        max_concurrent_runs=1,
    )
    hd = experiment.submit(config)
    deadline = time.monotonic() + 60
    while not any(c.get_status() == "Running" for c in hd.get_children()):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    restart_server(tf_home)
    again = HyperDriveRun(experiment, hd.id)
    assert again.wait_for_completion()["status"] == "Completed"
    children = by_index(again)
    assert sorted(children) == [0, 1, 2]
    assert all(child.get_status() == "Completed" for child in children.values())
    assert most_at_once(list(children.values())) == 1
    assert again.get_best_run_by_primary_metric().id == children[2].id  # type: ignore[union-attr]


def test_the_service_rejects_an_invalid_space(experiment: Experiment) -> None:
    ws = experiment.workspace
    body = {
        "generator_config": {"name": "GRID", "parameter_space": {"lr": ["uniform", [0, 1]]}},
        "primary_metric_config": {"name": "acc", "goal": "maximize"},
        "max_total_runs": 2,
        "definition": {"script": "train.py"},
        "snapshot_id": "none",
    }
    from trainforge.client.errors import sdk_errors

    with pytest.raises(
        UserErrorException,
        match=r"generator_config: parameter_space\[.lr.\]: GridParameterSampling supports only",
    ):
        with sdk_errors():
            ws.service_context.client.post(
                f"/workspaces/{ws.name}/experiments/{experiment.name}/sweeps", body
            )


def test_children_run_on_a_cluster_and_a_canceled_child_frees_its_node(
    clusters,  # noqa: F811 (the fixture imported above)
    experiment: Experiment,
    curve_project: Path,
) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(min_nodes=1, max_nodes=1)
    cluster.wait_for_completion(min_node_count=1, timeout_in_minutes=1)
    src = ScriptRunConfig(
        source_directory=str(curve_project),
        script="train.py",
        arguments=["--steps", 6, "--sleep", 0.3],
        compute_target=cluster,
    )
    hd = experiment.submit(
        HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=GridParameterSampling({"ceiling": choice(0.9, 0.2, 0.8)}),
            policy=POLICIES["Bandit"],
            primary_metric_name="accuracy",
            primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=3,
            max_concurrent_runs=2,
        )
    )
    assert hd.wait_for_completion()["status"] == "Completed"
    children = by_index(hd)
    assert [children[i].get_status() for i in range(3)] == ["Completed", "Canceled", "Completed"]
    assert all(child.get_details()["target"] == cluster.name for child in children.values())
    # One node: the third child could only start once the canceled one had let it go.
    assert most_at_once(list(children.values())) == 1
    assert _times(children[2])[0] >= _times(children[1])[1]


def test_bayesian_sweep_samples_inside_its_space(
    experiment: Experiment, curve_project: Path
) -> None:
    from trainforge.train.hyperdrive import BayesianParameterSampling, quniform

    sampling = BayesianParameterSampling({"ceiling": uniform(0.1, 0.9), "steps": quniform(2, 4, 2)})
    with pytest.warns(UserWarning, match="Recommendend value:40"):
        config = _config(
            curve_project,
            sampling,
            arguments=["--sleep", 0.05],
            max_total_runs=3,
            max_concurrent_runs=1,
        )
    hd = experiment.submit(config)
    assert hd.wait_for_completion()["status"] == "Completed"
    values = [json.loads(v) for v in hd.get_hyperparameters().values()]
    assert len(values) == 3
    for value in values:
        assert 0.1 <= value["ceiling"] <= 0.9 and value["steps"] in (2, 4)
    for child in hd.get_children():
        assert (
            len(child.get_metrics()["accuracy"])
            == json.loads(hd.get_hyperparameters()[child.id])["steps"]
        )
