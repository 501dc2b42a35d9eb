"""Which nodes a gang gets and which nodes leave together.

Where a host can hold several nodes (a Ray node bigger than the VM size), only the nodes
of one placement group are known to be on distinct hosts, so a gang takes nodes of one
group, and a group's hosts stay reserved until all of its nodes have left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol, TypeVar

from trainforge.schemas.compute import NodeState


class PlacedNode(Protocol):
    """What placement reads of a node: a store row, or plain data in the decision tests."""

    @property
    def id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def placement_group(self) -> str | None: ...


N = TypeVar("N", bound=PlacedNode)


def idle_units(live: Sequence[N], spread: bool) -> list[list[N]]:
    """What can be let go together: single idle nodes, or (``spread``) the placement groups
    whose live nodes are all idle, since a group's hosts are held until all of it leaves."""
    if not spread:
        return [[node] for node in live if node.state == NodeState.IDLE]
    groups: dict[str, list[N]] = defaultdict(list)
    for node in live:
        groups[node.placement_group or node.id].append(node)
    return [unit for unit in groups.values() if all(n.state == NodeState.IDLE for n in unit)]


def pick_gang(idle: Sequence[N], need: int, spread: bool) -> list[N] | None:
    """``need`` idle nodes for one run, or None. Where hosts hold several nodes
    (``spread``), a gang's nodes come from one placement group: those are on distinct
    hosts; a single node comes from the group with the fewest idle nodes, keeping
    larger groups whole for gangs."""
    if len(idle) < need:
        return None
    if not spread:
        return list(idle[:need])
    groups: dict[str | None, list[N]] = defaultdict(list)
    for node in idle:
        groups[node.placement_group].append(node)
    fitting = [members for members in groups.values() if len(members) >= need]
    if need > 1:
        fitting = [members for members in fitting if members[0].placement_group is not None]
    if not fitting:
        return None
    return min(fitting, key=len)[:need]
