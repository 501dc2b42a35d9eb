"""The AKS-style services' pure parts: how many replicas the autoscaler wants, the state a
service shows from its replicas', its tokens, and its deployment configuration's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trainforge.core.webservice import AksWebservice
from trainforge.exceptions import WebserviceException
from trainforge.schemas.services import ServiceCreate, ServiceState
from trainforge.server import service_tokens
from trainforge.server.decisions import ReplicaLoad, replicas_for, replicas_wanted
from trainforge.server.replica_loop import aggregate


def wanted(current: int, recent: float, window: float | None = None, **kw: int) -> int:
    settings = {"per_replica": 1, "target": 70, "low": 1, "high": 10, "nodes": 10, **kw}
    return replicas_wanted(
        current,
        ReplicaLoad(recent=recent, window=recent if window is None else window),
        settings["per_replica"],
        settings["target"],
        settings["low"],
        settings["high"],
        settings["nodes"],
    )


# -- replicas for a load ------------------------------------------------------------------
def test_replicas_for_a_load_at_the_target_utilization() -> None:
    assert replicas_for(0.0, 1, 70) == 0
    assert replicas_for(0.7, 1, 70) == 1  # exactly at the target: one is enough
    assert replicas_for(0.71, 1, 70) == 2
    assert replicas_for(1.4, 1, 70) == 2  # float noise does not add a replica
    assert replicas_for(3.0, 4, 50) == 2  # 4 per replica at 50%: 2 each
    assert replicas_for(10.0, 1, 100) == 10


def test_an_idle_service_keeps_its_minimum() -> None:
    assert wanted(0, 0.0, low=1) == 1
    assert wanted(0, 0.0, low=3) == 3
    assert wanted(5, 0.0, low=2) == 2  # a quiet window: down to the minimum


def test_load_scales_up_at_once_within_the_maximum() -> None:
    assert wanted(1, 1.0) == 2
    assert wanted(1, 6.5) == 10  # ceil(6.5 / 0.7) = 10
    assert wanted(2, 50.0, high=4) == 4


def test_one_replica_per_node_whatever_the_load_or_the_minimum() -> None:
    assert wanted(2, 50.0, nodes=2) == 2
    assert wanted(0, 0.0, low=3, nodes=2) == 2
    assert wanted(1, 5.0, nodes=0) == 0


def test_scale_down_waits_for_the_windows_peak() -> None:
    # Quiet now, but the window saw 2.0 in flight: three replicas stay three.
    assert wanted(3, 0.0, window=2.0) == 3
    # The window's peak needs two: down to two, never below what it needs.
    assert wanted(4, 0.1, window=1.2) == 2
    # The window never grows a service (only the recent load does).
    assert wanted(1, 0.0, window=5.0) == 1


def test_fixed_replicas_without_autoscaling() -> None:
    body = ServiceCreate(
        name="fixed",
        compute_type="AKS",
        compute_target="aks",
        entry_script="score.py",
        snapshot_id="s",
        autoscale_enabled=False,
        num_replicas=3,
    )
    low, high = body.replica_bounds()
    assert (low, high) == (3, 3)
    assert wanted(3, 40.0, low=low, high=high) == 3
    assert wanted(3, 0.0, low=low, high=high) == 3


# -- the service's state --------------------------------------------------------------------
H, T, U, F = (
    ServiceState.HEALTHY,
    ServiceState.TRANSITIONING,
    ServiceState.UNHEALTHY,
    ServiceState.FAILED,
)


def test_the_service_state_from_its_replicas() -> None:
    assert aggregate([], 1, nodes=0) is ServiceState.UNSCHEDULABLE
    assert aggregate([], 1, nodes=2) is T
    assert aggregate([H, H], 2, nodes=2) is H
    assert aggregate([H, T], 1, nodes=2) is H  # a replica added by the autoscaler starts
    assert aggregate([H, T], 2, nodes=2) is T  # the minimum does not serve yet
    assert aggregate([H, U], 2, nodes=2) is U  # one restarts
    assert aggregate([F, F], 2, nodes=2) is F  # init() failed everywhere
    assert aggregate([F, T], 2, nodes=2) is F


# -- tokens ---------------------------------------------------------------------------------
KEY = b"s" * 32
CREATED = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def test_a_token_names_one_service_of_one_workspace_and_expires() -> None:
    now = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)
    token, expires = service_tokens.issue(KEY, "ws-1", 7, CREATED, 3600, now)
    assert expires == now + timedelta(hours=1)
    assert service_tokens.accepts(KEY, token, "ws-1", 7, CREATED, now)
    assert service_tokens.accepts(KEY, token, "ws-1", 7, CREATED, expires - timedelta(seconds=1))
    assert not service_tokens.accepts(KEY, token, "ws-1", 7, CREATED, expires)  # expired
    assert not service_tokens.accepts(KEY, token, "ws-2", 7, CREATED, now)  # other workspace
    assert not service_tokens.accepts(KEY, token, "ws-1", 8, CREATED, now)  # other service
    # The same name deployed again is another service: the old tokens stop working.
    assert not service_tokens.accepts(KEY, token, "ws-1", 7, CREATED + timedelta(1), now)
    assert not service_tokens.accepts(b"t" * 32, token, "ws-1", 7, CREATED, now)  # other server
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    assert not service_tokens.accepts(KEY, forged, "ws-1", 7, CREATED, now)
    assert not service_tokens.accepts(KEY, "tf1.abc.def", "ws-1", 7, CREATED, now)


def test_replica_keys_differ_per_service() -> None:
    one = service_tokens.replica_key(KEY, "ws-1", 1)
    assert one == service_tokens.replica_key(KEY, "ws-1", 1)
    assert one != service_tokens.replica_key(KEY, "ws-1", 2)
    assert one != service_tokens.replica_key(KEY, "ws-2", 1)


# -- the deployment configuration ---------------------------------------------------------
def test_the_sdks_defaults() -> None:
    config = AksWebservice.deploy_configuration()
    fields = config.service_fields()
    assert fields["auth_enabled"] is True and fields["token_auth_enabled"] is False
    assert fields["autoscale_enabled"] is True
    assert (fields["autoscale_min_replicas"], fields["autoscale_max_replicas"]) == (1, 10)
    assert fields["autoscale_target_utilization"] == 70
    tokens = AksWebservice.deploy_configuration(token_auth_enabled=True).service_fields()
    assert tokens["auth_enabled"] is False and tokens["token_auth_enabled"] is True
    fixed = AksWebservice.deploy_configuration(num_replicas=2).service_fields()
    assert fixed["autoscale_enabled"] is False and fixed["num_replicas"] == 2


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"auth_enabled": True, "token_auth_enabled": True}, "token_auth_enabled"),
        ({"num_replicas": 2, "autoscale_enabled": True}, "num_replicas"),
        ({"autoscale_min_replicas": 3, "autoscale_max_replicas": 2}, "autoscale_min_replicas"),
        ({"autoscale_target_utilization": 0}, "autoscale_target_utilization"),
        ({"autoscale_max_replicas": 0}, "autoscale_max_replicas"),
        ({"cpu_cores": -1}, "cpu_cores"),
        ({"primary_key": "k" * 20, "auth_enabled": False}, "primary_key"),
    ],
)
def test_bad_configurations_name_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(WebserviceException, match=f"^{field}:"):
        AksWebservice.deploy_configuration(**settings)  # type: ignore[arg-type]


def test_the_server_refuses_what_the_sdk_refuses() -> None:
    base = {"name": "svc", "entry_script": "score.py", "snapshot_id": "s"}
    with pytest.raises(ValueError, match="compute_target: an AKS service needs"):
        ServiceCreate(**base, compute_type="AKS")
    with pytest.raises(ValueError, match="token_auth_enabled: key auth"):
        ServiceCreate(
            **base,
            compute_type="AKS",
            compute_target="c",
            auth_enabled=True,
            token_auth_enabled=True,
        )
    with pytest.raises(ValueError, match="compute_target: only an AKS service"):
        ServiceCreate(**base, compute_type="ACI", compute_target="c")


def test_an_aks_cluster_is_a_fixed_node_pool() -> None:
    from trainforge.core.compute import AksCompute
    from trainforge.exceptions import ComputeTargetException

    config = AksCompute.provisioning_configuration()
    assert (config.min_nodes, config.max_nodes, config.vm_size) == (3, 3, "STANDARD_D3_V2")
    dev = AksCompute.provisioning_configuration(
        agent_count=1, cluster_purpose=AksCompute.ClusterPurpose.DEV_TEST
    )
    assert (dev.min_nodes, dev.max_nodes) == (1, 1)
    with pytest.raises(ComputeTargetException, match="^agent_count: 0"):
        AksCompute.provisioning_configuration(agent_count=0)
    with pytest.raises(ComputeTargetException, match="^cluster_purpose:"):
        AksCompute.provisioning_configuration(cluster_purpose="Huge")


def test_keys_read_before_a_regeneration_never_replace_the_regenerated_ones() -> None:
    """regen_key sets the router's keys at once; a replica-loop pass that read the service
    before the regeneration must not put the old keys back (the old key would score)."""
    import time

    from trainforge.server.scoring_router import Route, ScoringRouter

    def route(keys: list[str], read_at: float) -> Route:
        return Route(
            workspace_id="w1",
            service_id=1,
            created=datetime(2026, 12, 4, tzinfo=UTC),
            auth="key",
            replica_key="r",
            max_request_bytes=1024,
            timeout_s=1.0,
            keys=[k.encode() for k in keys],
            read_at=read_at,
        )

    router = ScoringRouter(lambda _route, _token: False)
    router.put("ws", "svc", route(["old", "second"], time.monotonic()), [])
    stale_read = time.monotonic()  # a pass reads the service here...
    router.set_keys("ws", "svc", ["new", "second"])  # ...then regen_key commits
    router.put("ws", "svc", route(["old", "second"], stale_read), [])
    assert router.routes[("ws", "svc")].keys == [b"new", b"second"]
    router.put("ws", "svc", route(["newer", "second"], time.monotonic()), [])
    assert router.routes[("ws", "svc")].keys == [b"newer", b"second"]
