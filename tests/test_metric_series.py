"""A metric as a chart reads it (``GET runs/{id}/metric_series``): exact in an x range (the
step, else the point's index) up to the asked number of points, downsampled in SQL to a min
and a max per bucket above it (a spike stays visible), workspace-scoped, and a bad
parameter refused with a 4xx naming it (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from tests.inprocess import Api, api_fixture  # noqa: F401  (the fixture)
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)


def _run_with(api: Api, ws: str, points: list[dict[str, Any]]) -> str:
    run_id = str(
        api.call("POST", f"/workspaces/{ws}/experiments/exp/runs", json={"kind": "interactive"})[
            "run_id"
        ]
    )
    for n in range(0, len(points), 20_000):
        api.call(
            "POST",
            f"/workspaces/{ws}/runs/{run_id}/metrics:batch",
            json={"batch_id": f"b{n}", "points": points[n : n + 20_000]},
        )
    return run_id


def _series(api: Api, ws: str, run_id: str, **params: Any) -> Any:
    return api.call("GET", f"/workspaces/{ws}/runs/{run_id}/metric_series", params=params)


def test_a_range_by_step_is_exact_and_a_big_one_is_downsampled(api: Api) -> None:
    api.workspace("alpha")
    # 3000 points at steps 0, 2, 4, ...: a spike of 100 at step 2000.
    points = [
        {"name": "loss", "value": 100.0 if s == 2000 else s / 1000, "step": s, "time": 1000.0 + s}
        for s in range(0, 6000, 2)
    ]
    run_id = _run_with(api, "alpha", points)
    exact = _series(api, "alpha", run_id, name="loss", x_min=10, x_max=20)
    assert exact["x_axis"] == "step"
    assert (exact["total"], exact["count"], exact["downsampled"]) == (3000, 6, False)
    assert exact["points"] == {
        "x": [10, 12, 14, 16, 18, 20],
        "time": [1010.0, 1012.0, 1014.0, 1016.0, 1018.0, 1020.0],
        "value": [0.01, 0.012, 0.014, 0.016, 0.018, 0.02],
    }
    small = _series(api, "alpha", run_id, name="loss", points=100)
    assert (small["count"], small["downsampled"]) == (3000, True)
    xs, values = small["points"]["x"], small["points"]["value"]
    assert len(xs) <= 100 and xs == sorted(xs)
    assert (xs[0], xs[-1]) == (0, 5998)
    assert max(values) == 100.0 and min(values) == 0.0  # the spike and the minimum are kept
    # Zoomed in on the spike's neighbourhood, it is exact again.
    zoomed = _series(api, "alpha", run_id, name="loss", points=100, x_min=1990, x_max=2010)
    assert not zoomed["downsampled"]
    assert zoomed["points"]["x"] == list(range(1990, 2012, 2))
    assert zoomed["points"]["value"][5] == 100.0


def test_without_steps_x_is_the_index_and_the_range_bounds_it(api: Api) -> None:
    api.workspace("alpha")
    run_id = _run_with(
        api, "alpha", [{"name": "acc", "value": v / 10, "time": 50.0 + v} for v in range(10)]
    )
    # Another metric's points in between change no index.
    _run_with(api, "alpha", [{"name": "other", "value": 1}])
    whole = _series(api, "alpha", run_id, name="acc")
    assert whole["x_axis"] == "index" and whole["points"]["x"] == list(range(10))
    part = _series(api, "alpha", run_id, name="acc", x_min=3, x_max=5)
    assert part["points"] == {"x": [3, 4, 5], "time": [53.0, 54.0, 55.0], "value": [0.3, 0.4, 0.5]}
    assert _series(api, "alpha", run_id, name="missing")["total"] == 0


def test_bad_parameters_are_refused_naming_the_field_and_workspaces_are_apart(api: Api) -> None:
    api.workspace("alpha")
    api.workspace("beta")
    run_id = _run_with(api, "alpha", [{"name": "loss", "value": 1.0, "step": 1}])
    path = f"/workspaces/alpha/runs/{run_id}/metric_series"
    for params, field in [
        ({"name": "loss", "points": 1}, "points"),
        ({"name": "loss", "points": 10**6}, "points"),
        ({"name": "loss", "points": "many"}, "points"),
        ({"name": "loss", "x_min": "low"}, "x_min"),
        ({"name": "loss", "x_max": 2**70}, "x_max"),
        ({"name": "loss", "x_min": 5, "x_max": 1}, "x_max"),
        ({}, "name"),
    ]:
        response = api.request("GET", path, params=params)
        assert 400 <= response.status_code < 500, (params, response.text)
        assert field in response.text, (params, response.text)
    # Another workspace does not see the run.
    refused = api.request("GET", f"/workspaces/beta/runs/{run_id}/metric_series?name=loss")
    assert refused.status_code == 404


def test_a_value_that_is_no_number_is_null(api: Api) -> None:
    api.workspace("alpha")
    run_id = _run_with(
        api, "alpha", [{"name": "m", "value": v, "step": s} for s, v in enumerate([1.0, "nan"])]
    )
    assert _series(api, "alpha", run_id, name="m")["points"]["value"] == [1.0, None]


def test_summaries_count_each_name_and_keep_the_last_scalar(api: Api) -> None:
    api.workspace("alpha")
    run_id = _run_with(
        api,
        "alpha",
        [{"name": "loss", "value": v / 10, "step": v} for v in range(5)]
        + [
            {"name": "names", "kind": "list", "value": ["a", "b"]},
            {"name": "word", "value": "high"},
        ],
    )
    found = api.call("GET", f"/workspaces/alpha/runs/{run_id}/metric_summaries")
    assert found == {
        "loss": {"kinds": ["scalar"], "count": 5, "last": 0.4},
        "names": {"kinds": ["list"], "count": 1, "last": None},
        "word": {"kinds": ["scalar"], "count": 1, "last": "high"},
    }


def test_bounds_far_outside_the_steps_answer_the_range(api: Api) -> None:
    api.workspace("alpha")
    run_id = _run_with(api, "alpha", [{"name": "loss", "value": 1.0, "step": 3}])
    far = _series(api, "alpha", run_id, name="loss", x_min=-(2**62), x_max=2**62)
    assert far["points"]["x"] == [3]
    assert _series(api, "alpha", run_id, name="loss", x_min=2**62)["count"] == 0
