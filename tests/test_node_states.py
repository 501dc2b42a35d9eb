"""Node and assignment lifecycles: one mover each, refusing every move they do not allow."""

from __future__ import annotations

import pytest

from trainforge.schemas.compute import AssignmentState as A
from trainforge.schemas.compute import NodeState as N
from trainforge.server.errors import Conflict
from trainforge.server.services import allocation
from trainforge.server.store import models


def make_node(state: N) -> models.Node:
    return models.Node(id="n1.c1", name="n1", state=state.value)


def make_assignment(state: A) -> models.Assignment:
    return models.Assignment(id=7, run_id="r1", state=state.value)


def test_a_node_walks_its_life_and_the_stored_values_stay_the_same() -> None:
    node = make_node(N.PREPARING)
    for state in (N.IDLE, N.RUNNING, N.IDLE, N.LEAVING, N.UNUSABLE):
        allocation.set_node_state(None, node, state)  # type: ignore[arg-type]
        assert node.state == state.value and type(node.state) is str
    assert [state.value for state in N] == [
        "idle", "running", "preparing", "unusable", "leaving", "preempted",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (N.UNUSABLE, N.IDLE),
        (N.PREEMPTED, N.RUNNING),
        (N.LEAVING, N.IDLE),
        (N.RUNNING, N.LEAVING),  # a busy node is never released under its run
        (N.PREPARING, N.RUNNING),  # no run on a node whose agent has not beaten yet
    ],
)
def test_illegal_node_moves_are_refused(start: N, target: N) -> None:
    node = make_node(start)
    with pytest.raises(Conflict, match=f"cannot move from {start.value} to {target.value}"):
        allocation.set_node_state(None, node, target)  # type: ignore[arg-type]
    assert node.state == start.value


def test_an_assignment_walks_its_life() -> None:
    assignment = make_assignment(A.PENDING)
    for state in (A.ACTIVE, A.STOPPING, A.ENDED, A.ENDED):  # ending twice is no move
        allocation.move_assignment(assignment, state)
        assert assignment.state == state.value
    never_sent = make_assignment(A.PENDING)
    allocation.move_assignment(never_sent, A.ENDED)
    assert never_sent.state == "ended"


@pytest.mark.parametrize(
    ("start", "target"),
    [(A.ENDED, A.ACTIVE), (A.ENDED, A.PENDING), (A.STOPPING, A.ACTIVE), (A.PENDING, A.STOPPING)],
)
def test_illegal_assignment_moves_are_refused(start: A, target: A) -> None:
    assignment = make_assignment(start)
    with pytest.raises(Conflict, match=f"cannot move from {start.value} to {target.value}"):
        allocation.move_assignment(assignment, target)
    assert assignment.state == start.value
