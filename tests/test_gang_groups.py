"""Which idle nodes a gang gets, and which go together, where a host can hold several
nodes (Ray): a gang's nodes come from one placement group, and groups leave whole."""

from __future__ import annotations

from datetime import UTC, datetime

from trainforge.server.placement import idle_units, pick_gang
from trainforge.server.store.models import Node


def node(node_id: str, group: str, state: str = "idle") -> Node:
    return Node(
        id=node_id,
        compute_id="c",
        state=state,
        placement_group=group,
        state_changed=datetime.now(UTC),
    )


def ids(nodes: list[Node] | None) -> list[str] | None:
    return None if nodes is None else [n.id for n in nodes]


def test_a_gang_takes_nodes_of_one_group_only() -> None:
    # Two idle nodes, but from different groups: they may share a Ray node.
    idle = [node("a1", "a"), node("b1", "b")]
    assert ids(pick_gang(idle, 2, spread=True)) is None
    assert ids(pick_gang(idle, 2, spread=False)) == ["a1", "b1"]
    idle += [node("c1", "c"), node("c2", "c")]
    assert ids(pick_gang(idle, 2, spread=True)) == ["c1", "c2"]


def test_a_single_node_run_keeps_larger_groups_whole() -> None:
    idle = [node("c1", "c"), node("c2", "c"), node("a1", "a")]
    assert ids(pick_gang(idle, 1, spread=True)) == ["a1"]
    assert ids(pick_gang(idle, 3, spread=True)) is None


def test_a_group_leaves_only_when_all_of_it_is_idle() -> None:
    live = [node("c1", "c"), node("c2", "c", "running"), node("a1", "a"), node("b1", "b")]
    assert [ids(u) for u in idle_units(live, spread=True)] == [["a1"], ["b1"]]
    live[1].state = "idle"
    assert [ids(u) for u in idle_units(live, spread=True)] == [["c1", "c2"], ["a1"], ["b1"]]
    # Without groups (one host), every idle node goes on its own.
    live[1].state = "running"
    assert [ids(u) for u in idle_units(live, spread=False)] == [["c1"], ["a1"], ["b1"]]
