"""The studio's sign-in, in-process: a token checked once and kept in an HttpOnly,
SameSite=Strict cookie; a one-time link for ``trainforge studio``; writes signed in by the
cookie need the studio's header (no cross-site request forgery); printed links carry no
token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import TOKEN, Api, error_message
from trainforge.server.auth import run_token


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    control = Api(tmp_path / "home", f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        control.workspace("ws-studio")
        yield control
    finally:
        control.close()


@pytest.fixture
def browser(api: Api) -> Iterator[TestClient]:
    """A browser: no Authorization header, only what cookies the server sets."""
    with TestClient(api.app) as client:
        yield client


def test_a_token_signs_the_browser_in_with_a_cookie_its_pages_cannot_read(
    browser: TestClient,
) -> None:
    assert browser.get("/api/v1/studio/session").json()["signed_in"] is False
    assert browser.get("/api/v1/workspaces").status_code == 401
    wrong = browser.post("/api/v1/studio/session", json={"token": "not-a-token"})
    assert "not a token of this server" in error_message(wrong, 401)
    assert "trainforge_studio" not in browser.cookies

    signed = browser.post("/api/v1/studio/session", json={"token": TOKEN})
    assert signed.status_code == 200 and signed.json()["kind"] == "admin"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert browser.get("/api/v1/studio/session").json()["signed_in"] is True
    assert [w["name"] for w in browser.get("/api/v1/workspaces").json()] == ["ws-studio"]

    # A write the cookie signs comes from the studio's own page, or it is refused.
    path = "/api/v1/workspaces/ws-studio/experiments/exp/runs"
    forged = browser.post(path, json={"kind": "interactive"})
    assert "X-Trainforge-Studio" in error_message(forged, 403)
    made = browser.post(path, json={"kind": "interactive"}, headers={"X-Trainforge-Studio": "1"})
    assert made.status_code == 201, made.text

    assert browser.delete("/api/v1/studio/session").status_code == 204
    assert browser.get("/api/v1/workspaces").status_code == 401


def test_a_login_link_signs_in_once_and_opens_only_studio_pages(
    api: Api, browser: TestClient
) -> None:
    link = api.call("POST", "/studio/login-links", params={"next": "/studio/workspaces/ws-studio"})
    url = link["url"]
    assert TOKEN not in url and "/studio-login?code=" in url
    path = url.split("://", 1)[1].split("/", 1)[1]
    opened = browser.get(f"/{path}", follow_redirects=False)
    assert (
        opened.status_code == 303 and opened.headers["location"] == "/studio/workspaces/ws-studio"
    )
    assert browser.get("/api/v1/studio/session").json()["signed_in"] is True

    with TestClient(api.app) as other:  # the same link, again: it signs nobody in
        again = other.get(f"/{path}", follow_redirects=False)
        assert again.status_code == 303 and "set-cookie" not in again.headers
        assert other.get("/api/v1/studio/session").json()["signed_in"] is False
    elsewhere = api.call("POST", "/studio/login-links", params={"next": "https://evil.example/"})
    assert elsewhere["url"].endswith("&next=/studio/")  # no open redirect


def test_a_run_token_makes_no_login_links(api: Api) -> None:
    run = api.call(
        "POST", "/workspaces/ws-studio/experiments/exp/runs", json={"kind": "interactive"}
    )
    token = run_token(b"k" * 32, "ws-studio", run["run_id"])
    refused = api.request(
        "POST", "/studio/login-links", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403, refused.text


def test_a_datastore_folder_lists_its_entries_and_refuses_paths_that_leave_it(api: Api) -> None:
    """What the studio's datastore browser reads: one folder, folders first."""
    store = api.call("GET", "/workspaces/ws-studio/datastores/workspaceblobstore")
    root = Path(store["path"])
    (root / "data" / "images").mkdir(parents=True)
    (root / "data" / "labels.csv").write_text("a,b\n")
    listing = api.call(
        "GET",
        "/workspaces/ws-studio/datastores/workspaceblobstore/files",
        params={"prefix": "data"},
    )
    assert listing["prefix"] == "data" and not listing["truncated"]
    assert [(e["name"], e["path"], e["type"], e["size"]) for e in listing["entries"]] == [
        ("images", "data/images", "directory", None),
        ("labels.csv", "data/labels.csv", "file", 4),
    ]
    path = "/workspaces/ws-studio/datastores/workspaceblobstore/files"
    climbs = api.request("GET", path, params={"prefix": "../.."})
    assert "climbs out of its root" in error_message(climbs, 400)
    missing = api.request("GET", path, params={"prefix": "nope"})
    assert "has no folder 'nope'" in error_message(missing, 404)
