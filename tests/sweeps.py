"""The learning-curve trials shared by the HyperDrive tests: the script a trial runs, and
the recorded curves with the trials each policy cancels."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from trainforge.train.hyperdrive import (
    ASHAPolicy,
    BanditPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    TruncationSelectionPolicy,
)

# Logs ceiling * n / steps as `accuracy` at interval n: the best ceiling is the optimum.
CURVE = """
    import argparse, json, sys, time
    from trainforge.core import Run

    p = argparse.ArgumentParser()
    p.add_argument("--ceiling", type=float, required=True)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--sleep", type=float, default=0.3)
    p.add_argument("--tag", default="")
    p.add_argument("--linger", type=float, default=0.3)
    args = p.parse_args()
    print("argv", json.dumps(sys.argv[1:]), flush=True)
    run = Run.get_context()
    for n in range(1, args.steps + 1):
        run.log("accuracy", args.ceiling * n / args.steps)
        run.flush()  # each interval reaches the policy as it happens
        time.sleep(args.sleep)
    time.sleep(args.linger)  # room for a verdict on the last intervals
"""


# The synthetic learning curves: trial k logs ceiling_k * n / STEPS at interval n, so the
# optimum is the largest ceiling, and every trial's ranking is the same at every interval.
CEILINGS = [0.5, 0.9, 0.3, 0.95, 0.6, 0.85, 0.4]
STEPS = 6
# Trials canceled (trial index -> interval) when the trials run one after the other.
EXPECTED = {
    "Bandit": {2: 2, 4: 2, 6: 2},
    "BanditAmount": {2: 3, 4: 5, 6: 3},
    "MedianStopping": {2: 2, 6: 2},
    "TruncationSelection": {2: 2, 4: 3, 5: 4, 6: 2},
    "ASHA": {2: 3, 4: 3, 6: 3},
    "Default": {},
}
POLICIES = {
    "Bandit": BanditPolicy(slack_factor=0.2, evaluation_interval=1, delay_evaluation=2),
    "BanditAmount": BanditPolicy(slack_amount=0.25, evaluation_interval=1, delay_evaluation=2),
    "MedianStopping": MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=2),
    "TruncationSelection": TruncationSelectionPolicy(
        truncation_percentage=50, evaluation_interval=1, delay_evaluation=2
    ),
    "ASHA": ASHAPolicy(evaluation_interval=1, delay_evaluation=2, reduction_factor=3),
    "Default": NoTerminationPolicy(),
}


def curve(ceiling: float) -> list[float]:
    return [ceiling * n / STEPS for n in range(1, STEPS + 1)]


def submit_ceiling_sweep(experiment: Any, project: Path) -> Any:
    """A 3-trial grid sweep over ``--ceiling`` of the curve script, all at once."""
    from trainforge.core import ScriptRunConfig
    from trainforge.train.hyperdrive import (
        GridParameterSampling,
        HyperDriveConfig,
        PrimaryMetricGoal,
        choice,
    )

    (project / "train.py").write_text(textwrap.dedent(CURVE))
    src = ScriptRunConfig(
        source_directory=str(project),
        script="train.py",
        arguments=["--steps", 3, "--sleep", 0.05, "--linger", 0],
    )
    return experiment.submit(
        HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=GridParameterSampling({"--ceiling": choice(0.5, 0.9, 0.3)}),
            primary_metric_name="accuracy",
            primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=3,
            max_concurrent_runs=3,
        )
    )
