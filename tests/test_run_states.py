"""The run lifecycle: one function moves a run, and it refuses every illegal move."""

from __future__ import annotations

import pytest

from trainforge.schemas.runs import RunStatus as S
from trainforge.server.errors import Conflict
from trainforge.server.services import run_states
from trainforge.server.store import models


def make_run(status: S, attempt: int = 1) -> models.Run:
    return models.Run(id="r1", status=status.value, attempt=attempt, started=None, ended=None)


def test_submitted_run_walks_the_happy_path() -> None:
    run = make_run(S.NOT_STARTED)
    for status in (S.QUEUED, S.PREPARING, S.RUNNING, S.FINALIZING, S.COMPLETED):
        assert run_states.transition(run, status)
    assert run.status == "Completed"
    assert run.started is not None and run.ended is not None
    assert run.attempt == 1


@pytest.mark.parametrize("terminal", [S.COMPLETED, S.FAILED, S.CANCELED])
@pytest.mark.parametrize("target", [S.QUEUED, S.RUNNING, S.COMPLETED, S.FAILED, S.CANCELED])
def test_terminal_runs_never_move(terminal: S, target: S) -> None:
    run = make_run(terminal)
    if target is terminal:
        assert run_states.transition(run, target) is False
        return
    with pytest.raises(Conflict, match=f"cannot move from {terminal.value}"):
        run_states.transition(run, target)


def test_same_state_is_a_no_op() -> None:
    run = make_run(S.RUNNING)
    assert run_states.transition(run, S.RUNNING) is False


def test_requeue_counts_an_attempt() -> None:
    run = make_run(S.RUNNING)
    run_states.transition(run, S.QUEUED)
    assert run.status == "Queued" and run.attempt == 2


def test_whatever_ends_a_cancel_requested_run_is_a_cancel() -> None:
    for reported in (S.COMPLETED, S.FAILED, S.FINALIZING, S.CANCELED):
        run = make_run(S.CANCEL_REQUESTED)
        run_states.transition(run, reported)
        assert run.status == "Canceled"


def test_queued_run_cannot_skip_to_completed() -> None:
    with pytest.raises(Conflict, match="from Queued to Completed"):
        run_states.transition(make_run(S.QUEUED), S.COMPLETED)


def test_nodes_follow_their_lifecycle() -> None:
    from sqlalchemy.orm import Session

    from trainforge.server.services.allocation import set_node_state

    node = models.Node(id="n1", state="preparing")
    for state in ("idle", "running", "idle", "leaving"):
        set_node_state(Session(), node, state)
    assert node.state == "leaving"
    with pytest.raises(Conflict, match="from leaving to idle"):
        set_node_state(Session(), node, "idle")
    gone = models.Node(id="n2", state="preempted")
    with pytest.raises(Conflict, match="from preempted to running"):
        set_node_state(Session(), gone, "running")
