"""Run listings at scale: the REST list filters tags, properties, status and creation time
in SQL (SQLite and PostgreSQL), pages with a cursor, refuses a bad filter with a 4xx naming
it, and the SDK's ``Experiment.get_runs`` / ``Run.list`` and ``trainforge run list`` page
through it keeping the SDK's behaviour."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from typer.testing import CliRunner

from tests.inprocess import Api, api_fixture  # noqa: F401  (the fixture)
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.cli.main import app
from trainforge.server.services import run_filters
from trainforge.server.store import models

RUNS = "/workspaces/alpha/runs"


def _run(api: Api, experiment: str = "exp", ws: str = "alpha", **body: Any) -> str:
    created = api.call(
        "POST",
        f"/workspaces/{ws}/experiments/{experiment}/runs",
        json={"kind": "interactive", **body},
    )
    return str(created["run_id"])


def _complete(api: Api, run_id: str, status: str = "Completed") -> None:
    api.call("PATCH", f"{RUNS}/{run_id}", json={"status": status})


def _ids(api: Api, **params: Any) -> list[str]:
    for name in ("tags", "properties"):
        if name in params:
            params[name] = json.dumps(params[name])
    return [r["run_id"] for r in api.call("GET", RUNS, params={"limit": 1000, **params})["runs"]]


@pytest.fixture
def runs(api: Api) -> dict[str, str]:
    api.workspace("alpha")
    api.workspace("beta")
    made = {
        "vision": _run(api, tags={"team": "vision", "gpu": None}, properties={"stage": "dev"}),
        "speech": _run(api, tags={"team": "speech"}, properties={"stage": "prod"}),
        "plain": _run(api),
        "other": _run(api, experiment="other", tags={"team": "vision"}),
    }
    _complete(api, made["vision"])
    _complete(api, made["other"], "Failed")
    # Another workspace's runs with the same tags are never listed.
    _run(api, ws="beta", tags={"team": "vision", "gpu": None})
    return made


def test_filters_run_in_sql_as_the_sdk_defines_them(api: Api, runs: dict[str, str]) -> None:
    newest_first = [runs[n] for n in ("other", "plain", "speech", "vision")]
    assert _ids(api) == newest_first
    assert _ids(api, experiment="exp") == newest_first[1:]
    assert _ids(api, tags="team") == [runs["other"], runs["speech"], runs["vision"]]
    assert _ids(api, tags={"team": "vision"}) == [runs["other"], runs["vision"]]
    assert _ids(api, tags=["team", "gpu"]) == [runs["vision"]]
    assert _ids(api, tags={"gpu": None}) == [runs["vision"]]  # a tag without a value
    assert _ids(api, tags={"team": "nobody"}) == []
    assert _ids(api, properties={"stage": "prod"}) == [runs["speech"]]
    assert _ids(api, properties="stage", tags={"team": "vision"}) == [runs["vision"]]
    assert _ids(api, status="Completed") == [runs["vision"]]
    assert _ids(api, status="Failed", tags="team") == [runs["other"]]
    assert _ids(api, status="Provisioning") == []  # a status no run has: nothing, no error


def test_created_time_ranges(api: Api, runs: dict[str, str]) -> None:
    listed = api.call("GET", RUNS)["runs"]
    created = {r["run_id"]: r["created_utc"] for r in listed}
    middle = created[runs["speech"]]
    assert _ids(api, created_after=middle) == [runs["other"], runs["plain"], runs["speech"]]
    assert _ids(api, created_before=middle) == [runs["vision"]]
    assert _ids(api, created_after=middle, created_before=created[runs["other"]]) == [
        runs["plain"],
        runs["speech"],
    ]


def _log(api: Api, run_id: str, batch: str, points: list[Any], attempt: int | None = None) -> None:
    body: dict[str, Any] = {"batch_id": batch, "points": points}
    if attempt is not None:
        body["attempt"] = attempt
    # Sent as text: httpx's JSON refuses NaN, which Python's json (the SDK's) writes.
    api.call(
        "POST",
        f"{RUNS}/{run_id}/metrics:batch",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )


def _accuracy(*values: Any) -> list[dict[str, Any]]:
    return [{"name": "accuracy", "value": value, "step": i} for i, value in enumerate(values)]


def _filtered(api: Api, *expressions: str, **params: Any) -> list[str]:
    return _ids(api, filter=list(expressions), **params)


@pytest.fixture
def scored(api: Api) -> dict[str, str]:
    """Runs with metrics: last, best and worst values differ; one requeued (attempt 2)."""
    api.workspace("alpha")
    api.workspace("beta")
    made = {
        "rising": _run(api, properties={"stage": "dev"}, tags={"team": "vision"}),
        "falling": _run(api, properties={"stage": "prod"}, tags={"team": "speech"}),
        "words": _run(api, properties={"stage": "prod"}),
        "requeued": _run(api, experiment="other"),
        "silent": _run(api),
    }
    _log(api, made["rising"], "b1", _accuracy(0.5, 0.95))
    _log(api, made["falling"], "b1", _accuracy(0.97, 0.8))
    # A string under the name, a NaN, a list and a table: none is a number to compare.
    _log(api, made["words"], "b1", [{"name": "accuracy", "value": "n/a"}])
    _log(api, made["words"], "b2", [{"name": "val loss", "value": 0.1}])
    _log(api, made["words"], "b3", [{"name": "loss", "kind": "list", "value": [0.1, 0.2]}])
    _log(api, made["requeued"], "b1", _accuracy(0.99), attempt=1)
    # Requeued as the scheduler does after a lost node (attempt += 1), in the store.
    with api.plane.store.session() as db:
        db.execute(update(models.Run).where(models.Run.id == made["requeued"]).values(attempt=2))
    _log(api, made["requeued"], "b2", _accuracy(float("nan"), 0.3), attempt=2)
    # Another workspace's run with the best numbers is never listed.
    other_ws = _run(api, ws="beta")
    api.call(
        "POST",
        f"/workspaces/beta/runs/{other_ws}/metrics:batch",
        json={"batch_id": "b", "points": _accuracy(1.0)},
    )
    return made


# A threshold that few runs meet is read from the last-values index, one that many meet by
# probing the runs in listing order (run_filters.FEW); both must list the same runs.
READS = pytest.mark.parametrize("few", [run_filters.FEW, 0], ids=["index", "probe"])


@READS
def test_metric_thresholds_and_property_conditions_in_sql(
    api: Api, scored: dict[str, str], few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_filters, "FEW", few)
    r = scored
    assert _filtered(api, "metrics.accuracy > 0.9") == [r["rising"]]
    assert _filtered(api, "metrics.accuracy <= 0.8") == [r["requeued"], r["falling"]]
    assert _filtered(api, "metrics.accuracy = 0.8") == [r["falling"]]
    assert _filtered(api, "metrics.accuracy != 0.8") == [r["requeued"], r["rising"]]
    # The best value: of the newest attempt only (the requeued run's 0.99 is superseded).
    assert _filtered(api, "max(metrics.accuracy) > 0.9") == [r["falling"], r["rising"]]
    assert _filtered(api, "MIN(metrics.accuracy) < 0.6") == [r["requeued"], r["rising"]]
    assert _filtered(api, "metrics.loss > 0") == []  # a list is no scalar
    assert _filtered(api, "metrics.`val loss` < 1") == [r["words"]]
    assert _filtered(api, "metrics.nothing > 0") == []
    # Properties and tags, with and without the key.
    assert _filtered(api, "properties.stage = prod") == [r["words"], r["falling"]]
    assert _filtered(api, "properties.stage != prod") == [r["silent"], r["requeued"], r["rising"]]
    assert _filtered(api, "properties.stage = 'dev'", experiment="exp") == [r["rising"]]
    assert _filtered(api, 'tags.team = "speech"') == [r["falling"]]
    # Joined by "and", within one expression or across repeated parameters, and with the
    # listing's other filters.
    both = "metrics.accuracy >= 0.8 AND properties.stage = prod"
    assert _filtered(api, both) == [r["falling"]]
    assert _filtered(api, "max(metrics.accuracy) > 0.9", "tags.team = vision") == [r["rising"]]
    assert _filtered(api, "metrics.accuracy > 0", properties="stage") == [
        r["falling"],
        r["rising"],
    ]
    assert _filtered(api, "metrics.accuracy > 0", status="Completed") == []
    assert _filtered(api, "", "  ") == _ids(api)  # empty expressions filter nothing


def test_the_last_values_follow_each_stored_batch_and_only_those(api: Api) -> None:
    api.workspace("alpha")
    run_id = _run(api)
    column = {"metric": "score"}
    _log(api, run_id, "b1", [{"name": "score", "value": 1}, {"name": "score", "value": 2}])
    assert _filtered(api, "metrics.score = 2") == [run_id]
    # A retried batch id is stored once: its new points change nothing.
    retried = {"batch_id": "b1", "points": [{"name": "score", "value": 9}]}
    api.call("POST", f"{RUNS}/{run_id}/metrics:batch", json=retried)
    assert _filtered(api, "metrics.score = 2") == [run_id]
    assert api.call("GET", RUNS, params=column)["metrics"] == {run_id: {"score": 2}}
    # A list point is no scalar; a string is the last value and no number.
    _log(api, run_id, "b2", [{"name": "score", "kind": "list", "value": [5]}])
    assert _filtered(api, "metrics.score = 2") == [run_id]
    _log(api, run_id, "b3", [{"name": "score", "value": "n/a"}])
    assert _filtered(api, "metrics.score = 2") == [] == _filtered(api, "metrics.score != 2")
    assert api.call("GET", RUNS, params=column)["metrics"] == {run_id: {"score": "n/a"}}
    # A superseded attempt's batch is refused, and with it its last value.
    with api.plane.store.session() as db:
        db.execute(update(models.Run).where(models.Run.id == run_id).values(attempt=2))
    stale = {"batch_id": "b4", "attempt": 1, "points": [{"name": "score", "value": 3}]}
    api.request("POST", f"{RUNS}/{run_id}/metrics:batch", json=stale)
    assert _filtered(api, "metrics.score = 3") == []
    # A deleted run takes its last values along: a new run of the same id starts with none.
    _complete(api, run_id)
    api.call("DELETE", f"{RUNS}/{run_id}")
    with api.plane.store.session() as db:
        assert db.query(models.MetricLastValue).count() == 0


@READS
def test_or_and_parentheses_with_and_binding_tighter(
    api: Api, scored: dict[str, str], few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_filters, "FEW", few)
    r = scored
    assert _filtered(api, "metrics.accuracy > 0.9 or tags.team = speech") == [
        r["falling"],
        r["rising"],
    ]
    # and before or: (rising) or (words), not rising-or-speech and stage=prod.
    either = "tags.team = vision or metrics.`val loss` < 1 and properties.stage = prod"
    assert _filtered(api, either) == [r["words"], r["rising"]]
    grouped = "(tags.team = vision or tags.team = speech) and properties.stage = prod"
    assert _filtered(api, grouped) == [r["falling"]]
    nested = "max(metrics.accuracy) > 0.96 OR (metrics.accuracy < 0.5 and (properties.stage = prod or metrics.accuracy >= 0))"
    assert _filtered(api, nested) == [r["requeued"], r["falling"]]
    # Repeated parameters are joined by and around each expression's or.
    assert _filtered(api, "tags.team = vision or tags.team = speech", "metrics.accuracy < 0.9") == [
        r["falling"]
    ]
    assert _filtered(api, "metrics.nothing > 0 or metrics.nothing <= 0") == []


def _ordered(api: Api, order_by: str, limit: int = 1000, **params: Any) -> list[str]:
    """Every run of the sorted listing, page after page by the cursor."""
    found: list[str] = []
    cursor = None
    while True:
        asked = {"order_by": order_by, "limit": limit, **params}
        if cursor:
            asked["cursor"] = cursor
        page = api.call("GET", RUNS, params=asked)
        found += [run["run_id"] for run in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_sort_by_a_metric_a_tag_or_a_run_column_pages_without_gaps_or_repeats(api: Api) -> None:
    api.workspace("alpha")
    api.workspace("beta")
    made = [_run(api, tags={"team": ["b", "a", "c"][i % 3]} if i % 4 else {}) for i in range(14)]
    # Scores with ties (i // 3) for most runs; no score for two, a string for one.
    for i, run_id in enumerate(made):
        if i in (5, 9):
            continue
        _log(api, run_id, "b1", [{"name": "score", "value": 100.0}])
        _log(api, run_id, "b2", [{"name": "score", "value": "n/a" if i == 11 else i // 3}])
    for i, run_id in enumerate(made[:6]):
        api.call("PATCH", f"{RUNS}/{run_id}", json={"display_name": f"run {5 - i}"})
    # Another workspace's run with the same metric is never listed nor counted.
    beta = _run(api, ws="beta")
    api.call(
        "POST",
        f"/workspaces/beta/runs/{beta}/metrics:batch",
        json={"batch_id": "b", "points": [{"name": "score", "value": -1}]},
    )

    scores = {run_id: i // 3 for i, run_id in enumerate(made) if i not in (5, 9, 11)}
    unscored = sorted(set(made) - set(scores))
    ascending = sorted(scores, key=lambda run_id: (scores[run_id], run_id)) + unscored
    descending = sorted(scores, key=lambda run_id: (scores[run_id], run_id), reverse=True)
    # Runs without a number come last either way, ties by run id (descending with desc).
    for limit in (1000, 4, 3, 1):
        assert _ordered(api, "metrics.score", limit) == ascending
        assert _ordered(api, "metrics.score asc", limit) == ascending
        assert _ordered(api, "metrics.score DESC", limit) == descending + unscored[::-1]
    teams = {run_id: ["b", "a", "c"][i % 3] for i, run_id in enumerate(made) if i % 4}
    untagged = sorted(set(made) - set(teams))
    by_team = sorted(teams, key=lambda run_id: (teams[run_id], run_id)) + untagged
    assert _ordered(api, "tags.team", 5) == by_team
    assert _ordered(api, "tags.`team` desc", 5) == by_team[: len(teams)][::-1] + untagged[::-1]
    # A display name, else the run id.
    names = {run_id: f"run {5 - i}" if i < 6 else run_id for i, run_id in enumerate(made)}
    assert _ordered(api, "name", 4) == sorted(made, key=lambda run_id: (names[run_id], run_id))
    assert _ordered(api, "number desc", 4) == made[::-1]
    assert _ordered(api, "created", 4) == made
    # With the other filters and a metric filter, sorted in the same SQL.
    assert _ordered(api, "metrics.score desc", 2, filter="metrics.score >= 2") == [
        run_id for run_id in descending if scores[run_id] >= 2
    ]
    assert _ordered(api, "metrics.score", 2, tags=json.dumps({"team": "a"})) == [
        run_id for run_id in ascending if teams.get(run_id) == "a"
    ]


def test_sort_by_times_duration_and_status(api: Api) -> None:
    api.workspace("alpha")
    made = [_run(api) for _ in range(5)]
    # Times set in the store, so that each order is known: (started, ended) in seconds.
    times = [(10, 70), (20, 40), (30, 35), (40, None), (None, None)]
    statuses = ["Completed", "Failed", "Completed", "Running", "NotStarted"]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with api.plane.store.session() as db:
        for run_id, (began, ended), status in zip(made, times, statuses, strict=True):
            db.execute(
                update(models.Run)
                .where(models.Run.id == run_id)
                .values(
                    status=status,
                    started=None if began is None else base + timedelta(seconds=began),
                    ended=None if ended is None else base + timedelta(seconds=ended),
                )
            )
    a, b, c, d, e = made
    assert _ordered(api, "start_time", 2) == [a, b, c, d, e]
    assert _ordered(api, "start_time desc", 2) == [d, c, b, a, e]
    assert _ordered(api, "end_time", 2) == [c, b, a, *sorted([d, e])]
    # Durations 60, 20 and 5 s; runs that have not ended come last.
    assert _ordered(api, "duration desc", 2) == [a, b, c, *sorted([d, e], reverse=True)]
    assert _ordered(api, "duration", 1) == [c, b, a, *sorted([d, e])]
    by_status = sorted(made, key=lambda run_id: (statuses[made.index(run_id)], run_id))
    assert _ordered(api, "status", 2) == by_status


def test_a_sorted_cursor_continues_its_own_order_only(api: Api) -> None:
    api.workspace("alpha")
    for _ in range(3):
        _run(api)
    page = api.call("GET", RUNS, params={"order_by": "name desc", "limit": 1})
    other = api.request(
        "GET", RUNS, params={"order_by": "name", "limit": 1, "cursor": page["next_cursor"]}
    )
    assert other.status_code == 400
    assert "cursor: it continues a listing ordered by name desc; keep order_by" in other.text
    plain = api.request("GET", RUNS, params={"limit": 1, "cursor": page["next_cursor"]})
    assert plain.status_code == 400 and "cursor: not a cursor this server gave" in plain.text
    default = api.call("GET", RUNS, params={"limit": 1})
    sorted_ = api.request(
        "GET", RUNS, params={"order_by": "name", "cursor": default["next_cursor"]}
    )
    assert sorted_.status_code == 400 and "cursor: not a cursor this server gave" in sorted_.text


@READS
def test_a_filtered_listing_pages_by_its_cursor(
    api: Api, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_filters, "FEW", few)
    api.workspace("alpha")
    made = [_run(api) for _ in range(12)]
    for i, run_id in enumerate(made):
        _log(api, run_id, "b", [{"name": "score", "value": i}])
    wanted = {"filter": "metrics.score >= 3 and metrics.score < 10", "limit": 4}
    first = api.call("GET", RUNS, params=wanted)
    second = api.call("GET", RUNS, params={**wanted, "cursor": first["next_cursor"]})
    assert [x["run_id"] for x in first["runs"] + second["runs"]] == made[3:10][::-1]
    assert second["next_cursor"] is None


def test_a_listing_carries_the_last_values_of_the_metrics_asked_for(
    api: Api, scored: dict[str, str]
) -> None:
    r = scored
    page = api.call("GET", RUNS, params={"metric": ["accuracy", "val loss", "loss"]})
    assert page["metrics"] == {
        r["rising"]: {"accuracy": 0.95},
        r["falling"]: {"accuracy": 0.8},
        r["words"]: {"accuracy": "n/a", "val loss": 0.1},  # a list is no column value
        r["requeued"]: {"accuracy": 0.3},
        r["silent"]: {},
    }
    assert api.call("GET", RUNS)["metrics"] == {}  # none asked for: none read


def test_pages_follow_the_cursor_without_gaps_or_repeats(api: Api) -> None:
    api.workspace("alpha")
    made = [_run(api, tags={"batch": "b"}) for _ in range(23)]
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 10, "tags": json.dumps({"batch": "b"})}
        if cursor:
            params["cursor"] = cursor
        page = api.call("GET", RUNS, params=params)
        pages.append([r["run_id"] for r in page["runs"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [10, 10, 3]
    assert [run_id for p in pages for run_id in p] == made[::-1]
    # The default page is 100 runs; the last page says there is no more.
    assert api.call("GET", RUNS)["next_cursor"] is None
    # Oldest first, by the same cursor; a cursor of one order does not continue the other.
    first = api.call("GET", RUNS, params={"limit": 20, "order": "oldest"})
    rest = api.call(
        "GET", RUNS, params={"limit": 20, "order": "oldest", "cursor": first["next_cursor"]}
    )
    assert [r["run_id"] for r in first["runs"] + rest["runs"]] == made
    assert rest["next_cursor"] is None
    mixed = api.request("GET", RUNS, params={"limit": 20, "cursor": first["next_cursor"]})
    assert (
        mixed.status_code == 400
        and "cursor: it continues a listing in the other order" in mixed.text
    )


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"cursor": "not-a-cursor"}, 400, "cursor: not a cursor this server gave"),
        ({"limit": 0}, 422, "limit"),
        ({"limit": 5000}, 422, "limit"),
        ({"tags": json.dumps({"team": {"nested": 1}})}, 400, "tags: each value"),
        ({"tags": json.dumps([1, 2])}, 400, "tags: a list of keys takes strings"),
        ({"properties": "7"}, 400, "properties: give a key"),
        ({"created_after": "yesterday"}, 422, "created_after"),
        ({"order": "sideways"}, 422, "order"),
        ({"filter": "accuracy > 0.9"}, 400, "filter: 'accuracy' at character 0"),
        ({"filter": "metrics.accuracy > high"}, 400, "filter: metrics.accuracy compares with"),
        ({"filter": "metrics.a > 1 xor tags.b = c"}, 400, "filter: expected 'and' or 'or' at"),
        ({"filter": "metrics.a > 1 or"}, 400, "filter: expected metrics., tags. or properties."),
        ({"filter": "(metrics.a > 1 or tags.b = c"}, 400, "filter: expected ')' at the end"),
        ({"filter": "metrics.a > 1)"}, 400, "filter: ')' at character 13 closes no '('"),
        ({"filter": "(" * 11 + "metrics.a > 1" + ")" * 11}, 400, "filter: parentheses nest"),
        ({"order_by": "accuracy"}, 400, "order_by: 'accuracy' at character 0: order_by is one"),
        ({"order_by": "params.lr"}, 400, "created, start_time, end_time, duration, status"),
        ({"order_by": "created sideways"}, 400, "order_by: expected asc or desc at character 8"),
        ({"order_by": "metrics.a desc x"}, 400, "order_by: unexpected 'x' at character 15"),
        ({"order_by": ""}, 400, "order_by: it is empty"),
        ({"filter": "tags.team > a"}, 400, "filter: tags.team takes = or !="),
        ({"filter": "max(metrics.a > 1"}, 400, "filter: expected ')'"),
        ({"filter": "max(tags.a) > 1"}, 400, "filter: max() takes a metric"),
        ({"filter": "metrics.a > 1e999"}, 400, "filter: metrics.a compares with a finite"),
        ({"filter": "metrics.a >"}, 400, "filter: expected a value at the end"),
        ({"filter": "metrics.`a > 1"}, 400, "filter: unexpected"),
        ({"filter": "params.lr = 1"}, 400, "filter: 'params' at character 0"),
        ({"filter": "metrics.a > 1 and " * 21 + "metrics.a > 1"}, 400, "at most 20"),
        ({"filter": "tags.a = " + "x" * 2100}, 400, "filter: an expression is longer"),
        ({"metric": ["m"] * 51}, 400, "metric: 51 names; at most 50"),
        ({"metric": "x" * 300}, 400, "metric: names take 1 to 255"),
        # NUL (which PostgreSQL cannot store) is refused before any route.
        ({"filter": "tags.a = b\x00"}, 400, "query: the NUL character is not allowed"),
    ],
)
def test_a_bad_filter_is_a_4xx_naming_it(
    api: Api, params: dict[str, Any], status: int, says: str
) -> None:
    api.workspace("alpha")
    response = api.request("GET", RUNS, params=params)
    assert response.status_code == status, response.text
    assert says in response.text
    assert "Traceback" not in response.text and "SELECT" not in response.text


PIECES = ["metrics.", "tags.", "properties.", "max(", "min(", "(", ")", "`", "'", '"', " and "]
PIECES += [" or ", " OR "]
PIECES += [">", ">=", "<", "=", "!=", "==", "0.9", "-1e3", "1e999", "nan", "acc", "a b", "."]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.lists(st.sampled_from(PIECES), max_size=12).map("".join),
        st.text(max_size=60),
    )
)
def test_any_filter_text_is_listed_or_refused_naming_filter_never_a_500(
    api: Api, text: str
) -> None:
    if not api.call("GET", "/workspaces")[:1]:
        api.workspace("alpha")
        _log(api, _run(api), "b", [{"name": "acc", "value": 0.95}])
    response = api.request("GET", RUNS, params={"filter": text})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        message = response.json()["error"]["message"]
        assert message.startswith(("filter: ", "query: the NUL character")), message


def test_the_sdk_and_the_cli_list_through_the_filters(cli_server: Api) -> None:  # type: ignore[no-untyped-def]
    from trainforge.core import Experiment, Run, Workspace

    api = cli_server
    api.workspace("alpha")
    made = [
        _run(api, tags={"team": "vision" if i % 3 == 0 else "speech"}, properties={"i": str(i)})
        for i in range(250)
    ]
    for run_id in made[::5]:
        _complete(api, run_id)
    ws = Workspace.get("alpha")
    experiment = Experiment(ws, "exp")

    everything = list(experiment.get_runs())  # the SDK's generator over all pages
    assert [r.id for r in everything] == made[::-1]
    vision = [r.id for r in experiment.get_runs(tags={"team": "vision"})]
    assert vision == made[::3][::-1]
    assert [r.id for r in experiment.get_runs(properties={"i": "7"})] == [made[7]]
    completed = [r.id for r in Run.list(experiment, status="Completed", tags="team")]
    assert completed == made[::5][::-1]

    listed = CliRunner().invoke(
        app,
        ["run", "list", "-w", "alpha", "--tag", "team=vision", "--status", "Completed"]
        + ["--limit", "3", "-o", "json"],
    )
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["run id"] for r in rows] == [r for r in made[::-1] if r in made[::15]][:3]
    since = datetime.fromisoformat(everything[1].get_details()["startTimeUtc"][:-1])
    recent = CliRunner().invoke(
        app, ["run", "list", "-w", "alpha", "--since", since.isoformat(), "-o", "json"]
    )
    assert recent.exit_code == 0, recent.output
    assert [r["run id"] for r in json.loads(recent.stdout)] == [made[-1], made[-2]]
    bad = CliRunner().invoke(app, ["run", "list", "-w", "alpha", "--tag", "=x"])
    assert bad.exit_code != 0 and "KEY or KEY=VALUE" in bad.output
    where = ["--where", "properties.i = 7", "--where", "tags.team = speech", "-o", "json"]
    picked = CliRunner().invoke(app, ["run", "list", "-w", "alpha", *where])
    assert picked.exit_code == 0, picked.output
    assert [r["run id"] for r in json.loads(picked.stdout)] == [made[7]]
    refused = CliRunner().invoke(app, ["run", "list", "-w", "alpha", "--where", "accuracy > 1"])
    assert refused.exit_code != 0 and "filter: 'accuracy' at character 0" in refused.output
    # Sorted on the server, through the SDK's generator (all pages) and the CLI.
    by_i = sorted(made, key=lambda run_id: (str(made.index(run_id)), run_id))
    assert [r.id for r in experiment.get_runs(order_by="properties.i")] == by_i
    top = CliRunner().invoke(
        app,
        ["run", "list", "-w", "alpha", "--order-by", "properties.i desc", "-o", "json"]
        + ["--limit", "3", "--where", "tags.team = vision or properties.i = 98"],
    )
    assert top.exit_code == 0, top.output
    assert [r["run id"] for r in json.loads(top.stdout)] == [made[99], made[98], made[96]]
    unknown = CliRunner().invoke(app, ["run", "list", "-w", "alpha", "--order-by", "lr"])
    assert unknown.exit_code != 0 and "order_by: 'lr' at character 0" in unknown.output
