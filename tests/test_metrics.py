"""Metrics survive what training throws at them: NaN losses and a control-plane outage."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

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


def test_a_bad_point_is_refused_at_log_time_and_spoils_no_batch(experiment) -> None:  # type: ignore[no-untyped-def]
    from trainforge.exceptions import AzureMLException, UserErrorException

    run = experiment.start_logging(snapshot_directory=None)
    run.log("good", 1)
    with pytest.raises(UserErrorException, match="name: String should have at most 255"):
        run.log("n" * 256, 0.5)
    with pytest.raises(AzureMLException, match="does not fit in 64 bits"):
        run.log("huge", 2**64)
    with pytest.raises(UserErrorException, match="step: Input should be less than or equal"):
        run.log("good", 2, step=2**63)
    with pytest.raises(UserErrorException, match="columns must have one length"):
        run.log_table("uneven", {"a": [1, 2], "b": [3]})
    run.log("good", 3)
    assert run.get_metrics() == {"good": [1, 3]}  # logged in the same batches as the bad ones
    run.complete()


def test_mixed_kinds_under_one_name_read_back_as_the_sdk_does(experiment) -> None:  # type: ignore[no-untyped-def]
    """azureml keeps the type a name was first logged with and skips points of another
    type; a row is a one-row table, so rows and tables of one name make one table."""
    parent = experiment.start_logging(snapshot_directory=None)
    run = parent.child_run()
    run.log_row("m", a=1)
    run.log("m", 2)
    run.log("s", 1)
    run.log_list("s", [2, 3])
    run.log_row("t", a=1)
    run.log_table("t", {"a": [2, 3], "b": [4, 5]})
    run.log_row("t", b=6)
    expected = {
        "m": {"a": [1]},
        "s": 1,
        "t": {"a": [1, 2, 3, None], "b": [None, 4, 5, 6]},
    }
    assert run.get_metrics() == expected
    assert run.get_metrics(name="m") == {"m": {"a": [1]}}
    assert parent.get_metrics(recursive=True) == {parent.id: {}, run.id: expected}
    run.complete()
    parent.complete()
