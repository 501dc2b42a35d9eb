"""Metrics survive what training throws at them: NaN losses and a control-plane outage."""

from __future__ import annotations

import math
from pathlib import Path

from trainforge.client import local_server


def test_nan_and_infinite_values_are_stored(experiment) -> None:  # type: ignore[no-untyped-def]
    run = experiment.start_logging(snapshot_directory=None)
    for value in (float("nan"), float("inf"), float("-inf"), 0.1 + 0.2, 1.0):
        run.log("loss", value)
    loss = run.get_metrics()["loss"]
    assert math.isnan(loss[0]) and loss[1:3] == [math.inf, -math.inf]
    assert loss[3] == 0.1 + 0.2  # stored exactly, not cut to 15 digits
    assert loss[4] == 1.0 and isinstance(loss[4], float)
    run.complete()


def test_logging_goes_on_while_the_server_is_down(tf_home: Path, experiment) -> None:  # type: ignore[no-untyped-def]
    run = experiment.start_logging(snapshot_directory=None)
    run.log("step", 0)
    run.flush()
    local_server.stop_server(tf_home)
    try:
        for i in range(1, 1000):
            run.log("step", i)  # only queues: training does not notice the outage
    finally:
        local_server.ensure_server(tf_home)
    run.flush()
    assert run.get_metrics()["step"] == list(range(1000))
    run.complete()
    assert run.get_status() == "Completed"
