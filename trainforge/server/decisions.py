"""The scheduler's decisions, as functions over plain data: which queued runs get which
nodes (gangs), how many nodes a cluster wants (autoscale targets) and which go, and
whether a node or a launcher is still healthy.

Nothing here reads the store or touches a process: the scheduler's loop gathers what it
needs, asks these functions, and applies their answers. Nodes are anything with the
attributes of ``TimedNode`` (the store's rows, or dataclasses in the tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, Protocol, TypeVar

from trainforge.schemas.compute import NodeState
from trainforge.server.placement import PlacedNode, idle_units, pick_gang


class TimedNode(PlacedNode, Protocol):
    @property
    def state_changed(self) -> datetime: ...


N = TypeVar("N", bound=TimedNode)


@dataclass(frozen=True)
class QueuedRun:
    """A queued run as placement sees it, in queue order (priority, then age)."""

    id: str
    need: int  # its node_count


@dataclass
class GangPlan(Generic[N]):
    placed: list[tuple[QueuedRun, list[N]]] = field(default_factory=list)
    # Runs that need more nodes than the cluster may ever have: they fail.
    too_big: list[QueuedRun] = field(default_factory=list)
    # Runs that wait, in order; the first blocks the others (strict FIFO).
    waiting: list[QueuedRun] = field(default_factory=list)


def place_gangs(
    queued: Sequence[QueuedRun],
    idle: Sequence[N],
    max_nodes: int,
    spread: bool,
    shared: bool = False,
) -> GangPlan[N]:
    """Give queued runs their nodes all at once, FIFO within priority: nobody overtakes a
    waiting gang. ``spread``: a gang's nodes come from one placement group. ``shared``:
    a node holds any number of runs at once (the 'local' target's one node, this machine),
    so it stays idle after a placement."""
    plan: GangPlan[N] = GangPlan()
    free = list(idle)
    for run in queued:
        if run.need > max_nodes:
            plan.too_big.append(run)
            continue
        gang = None if plan.waiting else pick_gang(free, run.need, spread)
        if gang is None:
            plan.waiting.append(run)
            continue
        if not shared:
            free = [node for node in free if node not in gang]
        plan.placed.append((run, gang))
    return plan


def autoscale_target(
    busy: int, waiting: Sequence[QueuedRun], min_nodes: int, max_nodes: int
) -> int:
    """The cluster's size: its busy nodes and what waiting runs need, within its bounds."""
    wanted = busy + sum(run.need for run in waiting)
    return min(max_nodes, max(min_nodes, wanted))


@dataclass
class GrowthPlan(Generic[N]):
    # One placement group per entry, of that many nodes.
    sizes: list[int] = field(default_factory=list)
    # Idle nodes to let go to make room for a blocked gang.
    leaving: list[N] = field(default_factory=list)


def groups_to_provision(
    live: Sequence[N], waiting: Sequence[QueuedRun], min_nodes: int, max_nodes: int
) -> GrowthPlan[N]:
    """The sizes of the node groups to add so that each waiting run, in order, finds a
    group it fits in, then one group up to ``min_nodes``. A gang that ``max_nodes``
    blocks gets room from idle groups no waiting run can use, once letting them go
    frees enough for it (all at once: going one by one would let ``min_nodes`` refill
    the room with nodes the gang cannot use either)."""
    plan: GrowthPlan[N] = GrowthPlan()
    free = [node for node in live if node.state in (NodeState.IDLE, NodeState.PREPARING)]
    room = max_nodes - len(live)
    for run in waiting:
        served = pick_gang(free, run.need, spread=True)
        if served is not None:
            free = [node for node in free if node not in served]
            continue
        if run.need > room:
            spare = [u for u in idle_units(live, spread=True) if all(n in free for n in u)]
            if room + sum(len(unit) for unit in spare) >= run.need:
                for unit in spare:
                    if room >= run.need:
                        break
                    plan.leaving += unit
                    room += len(unit)
            return plan  # the blocked gang comes first: no min_nodes refill meanwhile
        plan.sizes.append(run.need)
        room -= run.need
    missing = min_nodes - len(live) - sum(plan.sizes)
    if missing > 0:
        plan.sizes.append(missing)
    return plan


def growth(
    live: Sequence[N],
    waiting: Sequence[QueuedRun],
    target: int,
    min_nodes: int,
    max_nodes: int,
    spread: bool,
) -> GrowthPlan[N]:
    """What to add: whole groups where hosts hold several nodes, else single nodes up to
    the target."""
    if spread:
        return groups_to_provision(live, waiting, min_nodes, max_nodes)
    return GrowthPlan(sizes=[1] * (target - len(live)))


def _oldest_idle_first(units: list[list[N]]) -> list[list[N]]:
    return sorted(units, key=lambda u: max(n.state_changed for n in u))


def beyond_max(live: Sequence[N], max_nodes: int, spread: bool) -> list[N]:
    """The idle nodes to let go at once because the cluster has more than ``max_nodes``
    (an update lowered it), oldest idle first: before any of them is given a run, or a
    resize below a busy queue would never shrink the cluster."""
    leaving: list[N] = []
    count = len(live)
    for unit in _oldest_idle_first(idle_units(live, spread)):
        if count <= max_nodes:
            break
        leaving += unit
        count -= len(unit)
    return leaving


def scale_down(
    live: Sequence[N],
    target: int,
    min_nodes: int,
    max_nodes: int,
    idle_seconds: int,
    spread: bool,
    now: float,
) -> list[N]:
    """The idle nodes to let go: any beyond max_nodes, and those idle too long while above
    min_nodes; a placement group goes whole, once all its nodes are idle (its hosts stay
    reserved until then anyway)."""
    leaving = beyond_max(live, max_nodes, spread)
    count = len(live) - len(leaving)
    for unit in _oldest_idle_first(idle_units(live, spread)):
        if any(node in leaving for node in unit):
            continue
        idle_for = now - max(n.state_changed for n in unit).timestamp()
        if idle_for >= idle_seconds and count - len(unit) >= max(min_nodes, target):
            leaving += unit
            count -= len(unit)
    return leaving


@dataclass(frozen=True)
class BusyRun:
    """A run busy on a cluster's nodes, as a resize below them sees it."""

    id: str
    nodes: int  # how many of the cluster's nodes it holds
    started: datetime  # when its nodes took it


def to_deallocate(busy: Sequence[BusyRun], excess: int) -> list[str]:
    """The runs to stop so that ``excess`` busy nodes free up after a resize below them:
    the newest first, as they have done the least work."""
    chosen: list[str] = []
    for run in sorted(busy, key=lambda r: r.started, reverse=True):
        if excess <= 0:
            break
        chosen.append(run.id)
        excess -= run.nodes
    return chosen


@dataclass(frozen=True)
class NodeHealth:
    """What the loop knows of a live node's health."""

    where: str  # the node in words, for the reason
    host_state: str | None  # the backend's view of its host: pending, alive or dead
    has_process: bool  # the backend started a process (agent or actor) for it
    alive: bool  # and that process still runs
    heard: float  # its last heartbeat, or when it was placed or created (Unix time)
    has_beaten: bool  # it sent a heartbeat at least once


def judge_node(
    node: NodeHealth,
    backend_name: str,
    now: float,
    started: float,
    heartbeat_timeout_s: float,
    start_timeout_s: float,
) -> str | None:
    """Why a live node is unusable, or None while it is fine (or waits for a host). After
    a (re)start of the server every node gets a fresh heartbeat window: an outage of the
    control plane is not a node's fault."""
    heard = max(node.heard, started)
    limit = heartbeat_timeout_s if node.has_beaten else start_timeout_s
    if node.host_state == "dead":
        return f"{node.where} was lost: the {backend_name} backend reports its host dead"
    if node.has_process and not node.alive:
        return f"{node.where} went away (its agent exited)"
    if node.host_state == "pending":
        return None  # waiting for a host: the autoscaler may be adding one
    if now - heard > limit:
        return f"{node.where} missed its heartbeats for {now - heard:.0f} s"
    return None


Departure = Literal["release", "force", "forget"]


def departure(state: str, alive: bool) -> Departure | None:
    """What becomes of a node that is on its way out: ask its process to leave, take it
    away (lost nodes), or forget the row once its process is gone."""
    if state not in (NodeState.UNUSABLE, NodeState.PREEMPTED, NodeState.LEAVING):
        return None
    if not alive:
        return "forget"
    return "release" if state == NodeState.LEAVING else "force"


LauncherVerdict = Literal["running", "terminate", "kill", "ended"]
# A launcher placed but without a pid yet: its spawn is under way, or the server died
# between the two steps; after this long it is taken for ended.
SPAWN_GRACE_S = 30.0


def judge_launcher(
    stopping: bool,
    has_process: bool,
    alive: bool,
    age_s: float,
    stop_age_s: float,
    stop_grace_s: float,
) -> LauncherVerdict:
    """A launcher the backend started on its own host (no agent watches it): whether it
    has ended, or what to send it when it was asked to stop (SIGTERM, then the whole tree
    once the grace period is over)."""
    if not has_process:
        return "running" if age_s < SPAWN_GRACE_S else "ended"
    if not alive:
        return "ended"
    if stopping:
        return "kill" if stop_age_s > stop_grace_s else "terminate"
    return "running"


# -- AKS-style services: how many replicas ----------------------------------------------
@dataclass(frozen=True)
class ReplicaLoad:
    """What the router measured of one service: requests in flight, the most over the
    last refresh interval (``recent``) and the most over the scale-down window
    (``window``; at least ``recent``), as average concurrency (busy request-seconds per
    second) so that short requests between two samples count too."""

    recent: float
    window: float


def replicas_for(load: float, per_replica: int, target_utilization: int) -> int:
    """Replicas that carry ``load`` requests in flight at ``target_utilization`` percent of
    ``per_replica`` concurrent requests each (AKS's replica_max_concurrent_requests)."""
    if load <= 0:
        return 0
    capacity = per_replica * target_utilization / 100.0
    # A hair under a whole number is that number: 1.4 in flight at 0.7 each is 2, not 3.
    return math.ceil(load / capacity - 1e-9)


def replicas_wanted(
    current: int,
    load: ReplicaLoad,
    per_replica: int,
    target_utilization: int,
    low: int,
    high: int,
    nodes: int,
) -> int:
    """How many replicas a service should have, between ``low`` and ``high`` and one per
    node of its cluster (``nodes``): up at once to what the recent load needs, down only
    to what the whole window's peak needs, so one quiet second does not shrink it and the
    next burst finds the replicas still warm."""
    up = replicas_for(load.recent, per_replica, target_utilization)
    if up > current:
        wanted = up
    else:
        wanted = min(
            current, replicas_for(max(load.window, load.recent), per_replica, target_utilization)
        )
    wanted = max(low, min(high, wanted))
    return max(0, min(wanted, nodes))
