"""HyperDrive's rules without a server: spaces, sampling, policies on recorded curves, arguments."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest

from tests.sweeps import CEILINGS, EXPECTED, POLICIES, STEPS, curve
from trainforge.core import ScriptRunConfig
from trainforge.hyperdrive import samplers
from trainforge.hyperdrive.arguments import remove_duplicates, trial_arguments
from trainforge.hyperdrive.policies import Policy
from trainforge.schemas.sweeps import SweepCreate
from trainforge.train.estimator import Estimator
from trainforge.train.hyperdrive import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveConfigException,
    HyperDriveRunConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    TruncationSelectionPolicy,
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)


def simulate(policy: Policy, ceilings: list[float], maximize: bool = True) -> dict[int, int]:
    """Run the trials one after the other, a value at a time, as the sweeper sees them."""
    curves: dict[str, list[float]] = {}
    state: dict = {}
    canceled: dict[int, int] = {}
    for k, ceiling in enumerate(ceilings):
        values = curve(ceiling) if maximize else [1 - v for v in curve(ceiling)]
        for n in range(1, STEPS + 1):
            curves[f"t{k}"] = values[:n]
            finished = frozenset(run for run in curves if run != f"t{k}")
            decision = policy.evaluate(f"t{k}", curves, maximize, n - 1, finished, state)
            if decision is not None:
                canceled[k] = decision.interval
                break
    return canceled


@pytest.mark.parametrize("name", list(EXPECTED))
@pytest.mark.parametrize("maximize", [True, False])
def test_each_policy_cancels_exactly_the_expected_trials(name: str, maximize: bool) -> None:
    config = POLICIES[name].to_json()
    policy = Policy(config["name"], config.get("properties") or {})
    got = simulate(policy, CEILINGS, maximize)
    if maximize or name != "Bandit":
        assert got == EXPECTED[name]
    else:  # a ratio slack is not symmetric when the values are flipped around 1
        assert got == {2: 2, 4: 3, 5: 5, 6: 2}


def test_bandit_reason_names_the_policy_and_the_rule() -> None:
    policy = Policy("Bandit", {"slack_factor": 0.1, "evaluation_interval": 1})
    decision = policy.evaluate("b", {"a": [0.9], "b": [0.5]}, True, 0)
    assert decision is not None and decision.interval == 1
    assert decision.reason.startswith("BanditPolicy canceled the run at interval 1")
    assert "0.9 / (1 + 0.1)" in decision.reason


def test_policies_wait_for_delay_and_interval() -> None:
    policy = Policy(
        "Bandit", {"slack_amount": 0.0, "evaluation_interval": 2, "delay_evaluation": 3}
    )
    assert [n for n in range(1, 9) if policy.applies_at(n)] == [4, 6, 8]
    asha = Policy("ASHA", {"evaluation_interval": 2, "delay_evaluation": 3, "reduction_factor": 2})
    assert asha.rungs(40) == [4, 8, 16, 32]


def test_truncation_compares_young_runs_only_with_the_same_interval() -> None:
    policy = Policy("TruncationSelection", {"truncation_percentage": 50})
    # The old run is better by now, but at interval 1 the young run was ahead of it.
    curves = {"old": [0.1, 0.5, 0.9], "young": [0.2]}
    assert policy.evaluate("young", curves, True, 0) is None


# Eight learning curves, four at a time (the grid); 0.3 is clearly the worst.
GRID = [0.5, 0.9, 0.3, 0.95, 0.6, 0.85, 0.4, 0.7]
STAGGERED = ["Bandit", "BanditAmount", "MedianStopping", "TruncationSelection"]


def concurrent(
    policy: Policy, ceilings: list[float], at_once: int, lead: int | None, maximize: bool = True
) -> dict[int, int]:
    """The trials in index order, ``at_once`` at a time: each logs interval n one time unit
    after n - 1, trial ``lead`` a little before the others; the sweeper reviews every trial
    after each value, as it does each step. Returns the canceled trials and their interval."""
    curves: dict[str, list[float]] = {}
    seen: dict[str, int] = {}
    state: dict = {}
    canceled: dict[int, int] = {}
    ended: set[int] = set()
    started: dict[int, float] = {}
    clock = 0.0
    while len(ended) < len(ceilings):
        for k in range(len(ceilings)):
            if k not in started and len(started) - len(ended) < at_once:
                started[k] = clock
                curves[f"t{k}"] = []
        running = [k for k in started if k not in ended]

        # The next value to arrive: the trial whose next interval is due first.
        def due(k: int) -> float:
            offset = -0.01 if k == lead else 0.0
            return started[k] + len(curves[f"t{k}"]) + 1 + offset

        k = min(running, key=lambda r: (due(r), r))
        clock = due(k)
        n = len(curves[f"t{k}"]) + 1
        value = ceilings[k] * n / STEPS
        curves[f"t{k}"].append(value if maximize else 1 - value)
        finished = frozenset(f"t{r}" for r in ended)
        decisions = policy.review(
            curves, seen, [f"t{r}" for r in running], maximize, finished, state
        )
        seen = {run: len(values) for run, values in curves.items()}
        for run, decision in decisions.items():
            canceled[int(run[1:])] = decision.interval
            curves[run] = curves[run][: decision.interval]
            seen[run] = decision.interval
            ended.add(int(run[1:]))
        if n == STEPS:
            ended.add(k)
    return canceled


@pytest.mark.parametrize("name", STAGGERED)
@pytest.mark.parametrize("maximize", [True, False])
def test_a_trial_that_reports_first_is_judged_when_the_others_catch_up(
    name: str, maximize: bool
) -> None:
    config = POLICIES[name].to_json()
    policy = Policy(config["name"], config.get("properties") or {})
    worst = GRID.index(min(GRID))
    canceled = concurrent(policy, GRID, 4, lead=worst, maximize=maximize)
    assert worst in canceled, f"{name}: the worst trial escaped ({canceled})"
    assert GRID.index(max(GRID)) not in canceled


@pytest.mark.parametrize("name", STAGGERED)
def test_verdicts_do_not_depend_on_start_order(name: str) -> None:
    """Every rotation of the grid, with no trial or any of the first four leading: the
    worst is always canceled, the best never. (Which middling trials go does depend on
    which others ran at the same time: a trial is only compared with those that reached
    the same interval.)"""
    config = POLICIES[name].to_json()
    policy = Policy(config["name"], config.get("properties") or {})
    for shift in range(len(GRID)):
        ceilings = GRID[shift:] + GRID[:shift]
        for lead in [None, *range(4)]:
            canceled = concurrent(policy, ceilings, 4, lead)
            assert ceilings.index(min(GRID)) in canceled, (ceilings, lead, canceled)
            assert ceilings.index(max(GRID)) not in canceled, (ceilings, lead, canceled)


def test_a_late_best_value_cancels_a_trial_that_passed_the_interval() -> None:
    policy = Policy("Bandit", {"slack_factor": 0.1, "evaluation_interval": 1})
    # "low" passed interval 2 on its own; "high" only now logs its value there.
    before = {"low": [0.5, 0.55, 0.6], "high": [0.5]}
    assert policy.review(before, {"low": 2, "high": 0}, ["low", "high"], True) == {}
    after = {"low": [0.5, 0.55, 0.6], "high": [0.5, 0.9]}
    decisions = policy.review(after, {"low": 3, "high": 1}, ["low", "high"], True)
    assert list(decisions) == ["low"] and decisions["low"].interval == 2
    assert "interval 2" in decisions["low"].reason and "0.9 / (1 + 0.1)" in decisions["low"].reason


def test_reviews_respect_evaluation_interval_and_delay() -> None:
    policy = Policy(
        "Bandit", {"slack_amount": 0.0, "evaluation_interval": 2, "delay_evaluation": 3}
    )
    # "low" is behind at every interval; only 4 and 6 are applicable.
    curves = {"low": [0.1] * 6, "high": [0.5, 0.5, 0.5]}
    assert policy.review(curves, {"low": 6, "high": 0}, ["low"], True) == {}
    curves["high"] += [0.5, 0.5, 0.5]
    decisions = policy.review(curves, {"low": 6, "high": 3}, ["low"], True)
    assert decisions["low"].interval == 4


def test_a_canceled_trial_leaves_the_later_comparisons() -> None:
    policy = Policy("TruncationSelection", {"truncation_percentage": 50})
    # At interval 2, "c" is canceled by the late "a"; its third value leaves interval 3,
    # where "b" is then the worse of the two runs left.
    curves = {"a": [0.9, 0.9, 0.9], "b": [0.5, 0.6, 0.6], "c": [0.1, 0.2, 0.7]}
    decisions = policy.review(curves, {"a": 1, "b": 3, "c": 3}, ["a", "b", "c"], True)
    assert {run: d.interval for run, d in decisions.items()} == {"b": 3, "c": 2}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (lambda: choice(), "choice: options must be a non-empty single list"),
        (lambda: choice([1], [2]), "choice: options must be a non-empty single list"),
        (lambda: randint(0), "randint: upper must be a positive int"),
        (lambda: uniform(1, 1), "uniform: min_value must be < max_value"),
        (lambda: uniform("a", 1), "uniform: min_value must be a float"),
        (lambda: quniform(0, 10, 0.5), "quniform: q must be a positive int"),
        (lambda: loguniform(2, 1), "loguniform: min_value must be <= max_value"),
        (lambda: normal(0, -1), "normal: sigma must be non negative"),
        (lambda: qlognormal(0, 1, 0), "qlognormal: q must be a positive int"),
    ],
)
def test_invalid_expressions_are_rejected(expression, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HyperDriveConfigException, match=message):
        expression()


def test_invalid_spaces_are_rejected_per_sampling_method() -> None:
    with pytest.raises(
        HyperDriveConfigException,
        match=r"GridParameterSampling supports only the following distributions: \[choice\], not uniform",
    ):
        GridParameterSampling({"lr": uniform(0, 1)})
    with pytest.raises(
        HyperDriveConfigException,
        match=r"BayesianParameterSampling supports only .*\[choice, quniform, uniform\], not loguniform",
    ):
        BayesianParameterSampling({"lr": loguniform(-3, -1)})
    with pytest.raises(
        HyperDriveConfigException, match="either all or none of the 'choice' values should be 'str'"
    ):
        GridParameterSampling({"opt": choice("adam", 1)})
    with pytest.raises(HyperDriveConfigException, match="parameter_space must be a non-empty dict"):
        RandomParameterSampling({})
    with pytest.raises(
        HyperDriveConfigException, match=r"parameter_space\['lr'\]: give a parameter expression"
    ):
        RandomParameterSampling({"lr": 0.1})
    with pytest.raises(HyperDriveConfigException, match="lr given twice"):
        RandomParameterSampling({"lr": uniform(0, 1), "--lr": uniform(0, 1)})


def test_expressions_use_the_sdk_encoding() -> None:
    assert choice(1, 2) == ["choice", [[1, 2]]]
    assert choice([1, 2]) == choice(range(1, 3)) == ["choice", [[1, 2]]]
    assert quniform(0, 10, 2) == ["quniform", [0, 10, 2]]
    assert RandomParameterSampling({"--lr": uniform(0.1, 0.5)}, seed=7).to_json() == {
        "name": "RANDOM",
        "parameter_space": {"--lr": ["uniform", [0.1, 0.5]]},
        "properties": {"rngSeed": 7},
    }


def test_random_sampling_is_reproducible_and_has_the_sdk_semantics() -> None:
    space = {
        "a": randint(5),
        "b": quniform(0, 100, 10),
        "c": loguniform(-3, 0),
        "d": qloguniform(0, 4, 5),
        "e": normal(0, 1),
        "f": qnormal(50, 10, 5),
        "g": lognormal(0, 0.1),
        "h": qlognormal(3, 0.1, 2),
        "i": choice("x", "y"),
    }
    space = RandomParameterSampling(space).to_json()["parameter_space"]
    draws = [samplers.next_sample("RANDOM", space, i, 42, True).parameters for i in range(200)]
    again = [samplers.next_sample("RANDOM", space, i, 42, True).parameters for i in range(200)]
    other = [samplers.next_sample("RANDOM", space, i, 43, True).parameters for i in range(200)]
    assert draws == again and draws != other
    for p in draws:
        assert p["a"] in range(5)
        assert p["b"] % 10 == 0 and 0 <= p["b"] <= 100 and isinstance(p["b"], int)
        assert math.exp(-3) <= p["c"] <= 1
        assert p["d"] % 5 == 0
        assert p["f"] % 5 == 0
        assert p["g"] > 0 and p["h"] % 2 == 0
        assert p["i"] in ("x", "y")
    assert {p["a"] for p in draws} == set(range(5))


def test_grid_enumerates_every_combination_then_stops() -> None:
    space = GridParameterSampling({"a": choice(1, 2), "b": choice("x", "y", "z")}).to_json()
    space = space["parameter_space"]
    assert samplers.capacity("GRID", space) == 6
    points = [samplers.next_sample("GRID", space, i, 0, True) for i in range(7)]
    assert points[6] is None
    assert [(p.parameters["a"], p.parameters["b"]) for p in points[:6]] == [
        (1, "x"),
        (1, "y"),
        (1, "z"),
        (2, "x"),
        (2, "y"),
        (2, "z"),
    ]


def test_bayesian_sampling_uses_optuna_within_the_space() -> None:
    space = {
        "x": ["uniform", [-2.0, 2.0]],
        "k": ["quniform", [0, 20, 5]],
        "c": ["choice", [["a", "b"]]],
    }
    history = []
    for i in range(25):
        sample = samplers.next_sample("BayesianOptimization", space, i, 1, False, history)
        assert sample is not None and sample.internal is not None
        x, k = sample.parameters["x"], sample.parameters["k"]
        assert -2 <= x <= 2 and k in (0, 5, 10, 15, 20) and sample.parameters["c"] in ("a", "b")
        history.append(samplers.Finished(sample.internal, (x - 1) ** 2 + k / 100))
    # TPE concentrates near the optimum x = 1 once it has seen enough results.
    best = min(h.value for h in history[10:])
    assert best < min(h.value for h in history[:3])


def test_duplicate_arguments_are_overridden_by_hyperdrive() -> None:
    kept, overridden = remove_duplicates(
        ["--lr", "0.1", "--data", "/d", "--flag", "--epochs", "-1"], ["lr", "--epochs"]
    )
    assert kept == ["--data", "/d", "--flag"] and overridden == ["--lr", "--epochs"]
    assert trial_arguments(["--lr", "0.1", "--x", "1"], {"--lr": 0.01, "batch-size": 64}) == [
        "--x",
        "1",
        "--lr",
        "0.01",
        "--batch-size",
        "64",
    ]


def _script(tmp_path: Path) -> ScriptRunConfig:
    (tmp_path / "train.py").write_text("print('hi')\n")
    return ScriptRunConfig(source_directory=str(tmp_path), script="train.py")


def test_config_validation_and_warnings(tmp_path: Path) -> None:
    src = _script(tmp_path)
    grid = GridParameterSampling({"lr": choice(0.1, 0.2)})
    common = {"primary_metric_name": "acc", "primary_metric_goal": PrimaryMetricGoal.MAXIMIZE}
    with pytest.raises(HyperDriveConfigException, match="exactly one of them"):
        HyperDriveConfig(hyperparameter_sampling=grid, max_total_runs=2, **common)
    with pytest.raises(HyperDriveConfigException, match="run_config: expected a ScriptRunConfig"):
        HyperDriveConfig(
            run_config=object(), hyperparameter_sampling=grid, max_total_runs=2, **common
        )
    with pytest.raises(HyperDriveConfigException, match="max_total_runs: must be at most 1000"):
        HyperDriveConfig(
            run_config=src, hyperparameter_sampling=grid, max_total_runs=1001, **common
        )
    with pytest.raises(
        HyperDriveConfigException, match="max_concurrent_runs: expected a positive int"
    ):
        HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=grid,
            max_total_runs=2,
            max_concurrent_runs=0,
            **common,
        )
    with pytest.raises(
        HyperDriveConfigException,
        match="No early termination policy is currently supported with Bayesian sampling",
    ):
        HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=BayesianParameterSampling({"lr": uniform(0, 1)}),
            policy=BanditPolicy(slack_factor=0.1),
            max_total_runs=20,
            **common,
        )
    with pytest.raises(
        HyperDriveConfigException, match="exactly one of slack factor or slack amount"
    ):
        BanditPolicy(evaluation_interval=1)
    with pytest.raises(
        HyperDriveConfigException, match="truncation_percentage: value to be between 1 and 99"
    ):
        TruncationSelectionPolicy(truncation_percentage=100)
    with pytest.raises(HyperDriveConfigException, match="primary_metric_goal"):
        HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=grid,
            max_total_runs=2,
            primary_metric_name="a",
            primary_metric_goal="up",
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=BayesianParameterSampling(
                {"lr": uniform(0, 1), "m": choice(1, 2)}
            ),
            max_total_runs=10,
            max_concurrent_runs=30,
            max_duration_minutes=20000,
            **common,
        )
    texts = [str(w.message) for w in caught]
    assert any("exceeds the service limit of 10080 minutes" in t for t in texts)
    assert any("Recommendend value:40" in t for t in texts)
    assert any("Current max concurrent runs:30" in t for t in texts)
    assert config.max_duration_minutes == 10080
    assert config.policy.to_json() == {"name": "Default"}
    default = HyperDriveConfig(
        run_config=src, hyperparameter_sampling=grid, max_total_runs=3, **common
    )
    assert default.max_concurrent_runs == 3


def test_legacy_hyperdrive_run_config_takes_the_estimator_first(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    est = Estimator(
        source_directory=str(tmp_path),
        entry_script="train.py",
        compute_target="local",
        script_params={"--lr": 0.5},
    )
    config = HyperDriveRunConfig(
        est, RandomParameterSampling({"lr": uniform(0, 1)}), "acc", PrimaryMetricGoal.MINIMIZE, 4
    )
    assert config.estimator is est and config.max_concurrent_runs == 4
    with pytest.warns(UserWarning, match=r"\['--lr'\] is the list of overridden parameter"):
        assert config._base_run_config().arguments == []


def test_the_service_refuses_what_the_sdk_refuses() -> None:
    base = {
        "generator_config": {"name": "GRID", "parameter_space": {"lr": ["uniform", [0, 1]]}},
        "primary_metric_config": {"name": "acc", "goal": "maximize"},
        "max_total_runs": 2,
        "definition": {"script": "train.py"},
        "snapshot_id": "x",
    }
    with pytest.raises(ValueError, match="GridParameterSampling supports only"):
        SweepCreate.model_validate(base)
    base["generator_config"] = {
        "name": "BayesianOptimization",
        "parameter_space": {"lr": ["uniform", [0, 1]]},
    }
    base["policy_config"] = {"name": "MedianStopping", "properties": {}}
    with pytest.raises(ValueError, match="No early termination policy"):
        SweepCreate.model_validate(base)
    base["policy_config"] = {
        "name": "TruncationSelection",
        "properties": {"truncation_percentage": 0},
    }
    with pytest.raises(ValueError, match="truncation_percentage"):
        SweepCreate.model_validate(base)
