"""The scheduler's decisions over plain data, against a fake backend: which runs get which
nodes, how big a cluster gets and which nodes go, and when a node or a launcher is taken
for lost. No store, no process: the whole file runs in well under a second."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from trainforge.server import decisions
from trainforge.server.decisions import NodeHealth, QueuedRun

NOW = 1_000_000.0


@dataclass(frozen=True)
class FakeBackend:
    """What the decisions read of a backend: its name and whether hosts hold several nodes."""

    name: str = "fake"
    spreads_gangs: bool = False


@dataclass(frozen=True)
class FakeNode:
    id: str
    state: str = "idle"
    placement_group: str | None = None
    idle_since: float = NOW

    @property
    def state_changed(self) -> datetime:
        return datetime.fromtimestamp(self.idle_since, UTC)


ONE_HOST = FakeBackend()
SPREAD = FakeBackend(spreads_gangs=True)


def ids(nodes: list[FakeNode]) -> list[str]:
    return [node.id for node in nodes]


def place(
    queued: list[QueuedRun], idle: list[FakeNode], backend: FakeBackend, max_nodes: int = 4
) -> decisions.GangPlan[FakeNode]:
    return decisions.place_gangs(queued, idle, max_nodes, backend.spreads_gangs)


# -- gangs ------------------------------------------------------------------------------
def test_a_gang_gets_all_its_nodes_at_once_or_waits() -> None:
    idle = [FakeNode("n1"), FakeNode("n2")]
    plan = place([QueuedRun("big", 3), QueuedRun("small", 1)], idle, ONE_HOST)
    # Strict FIFO: the waiting 3-node gang is not overtaken by the 1-node run behind it.
    assert plan.placed == []
    assert [run.id for run in plan.waiting] == ["big", "small"]
    plan = place([QueuedRun("a", 1), QueuedRun("b", 1), QueuedRun("c", 1)], idle, ONE_HOST)
    assert [(run.id, ids(gang)) for run, gang in plan.placed] == [("a", ["n1"]), ("b", ["n2"])]
    assert [run.id for run in plan.waiting] == ["c"]


def test_a_run_bigger_than_the_cluster_fails_and_blocks_nobody() -> None:
    plan = place(
        [QueuedRun("huge", 5), QueuedRun("ok", 2)], [FakeNode("n1"), FakeNode("n2")], ONE_HOST
    )
    assert [run.id for run in plan.too_big] == ["huge"]
    assert [(run.id, ids(gang)) for run, gang in plan.placed] == [("ok", ["n1", "n2"])]


def test_a_spread_gang_takes_nodes_of_one_group() -> None:
    idle = [FakeNode("a1", placement_group="a"), FakeNode("b1", placement_group="b")]
    assert place([QueuedRun("r", 2)], idle, SPREAD).placed == []
    assert len(place([QueuedRun("r", 2)], idle, ONE_HOST).placed) == 1
    idle += [FakeNode("c1", placement_group="c"), FakeNode("c2", placement_group="c")]
    ((_, gang),) = place([QueuedRun("r", 2)], idle, SPREAD).placed
    assert ids(gang) == ["c1", "c2"]


def test_the_local_targets_one_node_holds_every_run_at_once() -> None:
    host = FakeNode("local")
    queued = [QueuedRun(f"r{i}", 1) for i in range(5)]
    plan = decisions.place_gangs(queued, [host], max_nodes=1, spread=False, shared=True)
    assert [(run.id, ids(gang)) for run, gang in plan.placed] == [
        (f"r{i}", ["local"]) for i in range(5)
    ]
    assert plan.waiting == [] and plan.too_big == []


# -- autoscale targets -------------------------------------------------------------------
def test_the_target_is_busy_nodes_and_waiting_needs_within_the_bounds() -> None:
    waiting = [QueuedRun("a", 2), QueuedRun("b", 1)]
    assert decisions.autoscale_target(1, waiting, min_nodes=0, max_nodes=8) == 4
    assert decisions.autoscale_target(1, waiting, min_nodes=0, max_nodes=3) == 3
    assert decisions.autoscale_target(0, [], min_nodes=2, max_nodes=4) == 2
    # The 'local' target: one node, always.
    assert decisions.autoscale_target(0, [], min_nodes=1, max_nodes=1) == 1


def test_one_host_grows_node_by_node_up_to_the_target() -> None:
    live = [FakeNode("n1", "running")]
    plan = decisions.growth(live, [QueuedRun("a", 2)], 3, 0, 4, ONE_HOST.spreads_gangs)
    assert plan.sizes == [1, 1] and plan.leaving == []
    assert decisions.growth([FakeNode("local")], [], 1, 1, 1, False).sizes == []


def test_spread_hosts_grow_a_group_per_waiting_gang_then_up_to_min_nodes() -> None:
    live = [FakeNode("a1", placement_group="a")]
    plan = decisions.growth(live, [QueuedRun("g", 2), QueuedRun("s", 1)], 4, 3, 8, True)
    # The gang needs a group of its own; the single run fits on the idle a1.
    assert plan.sizes == [2]
    plan = decisions.growth(live, [], 3, 3, 8, True)
    assert plan.sizes == [2]  # one group up to min_nodes


def test_a_gang_blocked_by_max_nodes_gets_room_from_idle_groups() -> None:
    live = [
        FakeNode("a1", placement_group="a"),
        FakeNode("b1", placement_group="b"),
        FakeNode("c1", "running", placement_group="c"),
    ]
    plan = decisions.growth(live, [QueuedRun("g", 2)], 3, 0, 3, True)
    # No group of two is idle and the cluster is full: both idle single groups go at once.
    assert plan.sizes == [] and ids(plan.leaving) == ["a1", "b1"]
    # Letting them go would not free enough: nothing leaves for nothing.
    plan = decisions.growth(live, [QueuedRun("g", 3)], 3, 0, 3, True)
    assert plan.sizes == [] and plan.leaving == []


def test_idle_nodes_go_after_their_idle_time_never_below_min_nodes() -> None:
    live = [
        FakeNode("old", idle_since=NOW - 100),
        FakeNode("new", idle_since=NOW - 5),
        FakeNode("busy", "running", idle_since=NOW - 500),
    ]

    def leaving(min_nodes: int, max_nodes: int = 4, target: int = 0) -> list[str]:
        return ids(decisions.scale_down(live, target, min_nodes, max_nodes, 60, False, NOW))

    assert leaving(min_nodes=0) == ["old"]
    assert leaving(min_nodes=3) == []
    assert leaving(min_nodes=0, target=3) == []
    # Beyond max_nodes (lowered by an update) idle nodes go at once, oldest first.
    assert leaving(min_nodes=0, max_nodes=1) == ["old", "new"]


def test_beyond_max_nodes_idle_nodes_go_before_any_placement() -> None:
    live = [
        FakeNode("busy", "running"),
        FakeNode("new", idle_since=NOW - 5),
        FakeNode("old", idle_since=NOW - 100),
    ]
    assert ids(decisions.beyond_max(live, 1, False)) == ["old", "new"]
    assert ids(decisions.beyond_max(live, 2, False)) == ["old"]
    assert decisions.beyond_max(live, 3, False) == []
    # Busy nodes beyond max_nodes are not for this function: their runs decide.
    assert ids(decisions.beyond_max(live[:1], 0, False)) == []


def test_a_resize_below_busy_nodes_stops_the_newest_runs_first() -> None:
    def at(seconds: float) -> datetime:
        return datetime.fromtimestamp(NOW - seconds, UTC)

    busy = [
        decisions.BusyRun("oldest", 1, at(300)),
        decisions.BusyRun("newest", 1, at(10)),
        decisions.BusyRun("gang", 2, at(100)),
    ]
    assert decisions.to_deallocate(busy, 1) == ["newest"]
    assert decisions.to_deallocate(busy, 2) == ["newest", "gang"]  # a gang stops whole
    assert decisions.to_deallocate(busy, 4) == ["newest", "gang", "oldest"]
    assert decisions.to_deallocate(busy, 0) == []


def test_a_group_leaves_whole_once_all_of_it_is_idle() -> None:
    live = [
        FakeNode("g1", placement_group="g", idle_since=NOW - 100),
        FakeNode("g2", "running", placement_group="g", idle_since=NOW - 100),
    ]
    assert decisions.scale_down(live, 0, 0, 4, 60, True, NOW) == []
    live[1] = FakeNode("g2", placement_group="g", idle_since=NOW - 90)
    assert ids(decisions.scale_down(live, 0, 0, 4, 60, True, NOW)) == ["g1", "g2"]


def test_the_local_targets_node_never_leaves() -> None:
    host = FakeNode("local", idle_since=0)
    assert decisions.scale_down([host], 1, 1, 1, 0, False, NOW) == []


# -- health --------------------------------------------------------------------------------
def health(**changes: object) -> NodeHealth:
    fields: dict[str, object] = {
        "where": "Node c-n001 of cluster c",
        "host_state": None,
        "has_process": True,
        "alive": True,
        "heard": NOW - 5,
        "has_beaten": True,
    }
    fields.update(changes)
    return NodeHealth(**fields)  # type: ignore[arg-type]


def judge(node: NodeHealth, started: float = 0.0) -> str | None:
    return decisions.judge_node(node, "fake", NOW, started, 30.0, 60.0)


def test_a_heartbeating_node_is_healthy() -> None:
    assert judge(health()) is None


def test_a_silent_node_is_lost_after_the_heartbeat_timeout() -> None:
    assert (
        judge(health(heard=NOW - 31)) == "Node c-n001 of cluster c missed its heartbeats for 31 s"
    )
    # Before its first beat a node has the longer start timeout.
    assert judge(health(heard=NOW - 31, has_beaten=False)) is None
    assert judge(health(heard=NOW - 61, has_beaten=False)) is not None


def test_after_a_restart_of_the_server_every_node_gets_a_fresh_window() -> None:
    assert judge(health(heard=NOW - 300), started=NOW - 10) is None
    assert judge(health(heard=NOW - 300), started=NOW - 40) is not None


def test_the_backends_word_on_the_host_counts_first() -> None:
    dead = judge(health(host_state="dead"))
    assert dead == "Node c-n001 of cluster c was lost: the fake backend reports its host dead"
    assert judge(health(alive=False)) == "Node c-n001 of cluster c went away (its agent exited)"
    # A node waiting for a host (the autoscaler may be adding one) is not judged on silence.
    assert judge(health(host_state="pending", heard=NOW - 999)) is None


def test_nodes_on_their_way_out_are_released_then_forgotten() -> None:
    assert decisions.departure("leaving", alive=True) == "release"
    assert decisions.departure("unusable", alive=True) == "force"
    assert decisions.departure("preempted", alive=True) == "force"
    assert decisions.departure("leaving", alive=False) == "forget"
    assert decisions.departure("idle", alive=False) is None


def test_a_launcher_on_the_host_is_reaped_or_stopped() -> None:
    def verdict(**changes: object) -> str:
        fields: dict[str, object] = {
            "stopping": False,
            "has_process": True,
            "alive": True,
            "age_s": 5.0,
            "stop_age_s": 0.0,
            "stop_grace_s": 10.0,
        }
        fields.update(changes)
        return decisions.judge_launcher(**fields)  # type: ignore[arg-type]

    assert verdict() == "running"
    assert verdict(alive=False) == "ended"
    assert verdict(stopping=True, stop_age_s=1.0) == "terminate"
    assert verdict(stopping=True, stop_age_s=11.0) == "kill"
    # Placed, no pid yet: its spawn is under way, unless the server died in between.
    assert verdict(has_process=False) == "running"
    assert verdict(has_process=False, age_s=31.0) == "ended"
