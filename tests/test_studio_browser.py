"""The studio in a real browser (Chromium from Debian, driven by Playwright): the links the
SDK prints open the run signed in, the sign-in box takes what `trainforge studio` printed,
and the login survives a restart of the server."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.helpers import restart_server
from trainforge.cli.main import app

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = [
    pytest.mark.real_process,  # Chromium, and the session's server
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Chromium is missing (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    context = browser.new_context()  # a browser profile of its own: nobody signed in yet
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def _submit(experiment, project: Path):  # type: ignore[no-untyped-def]
    from trainforge.core import ScriptRunConfig

    (project / "train.py").write_text(
        "from trainforge.core import Run\n"
        "run = Run.get_context()\n"
        "run.log('accuracy', 0.93)\n"
        "print('hello from the studio test')\n"
    )
    return experiment.submit(ScriptRunConfig(str(project), "train.py"))


def test_the_link_wait_for_completion_prints_opens_the_run(experiment, project, page) -> None:  # type: ignore[no-untyped-def]
    run = _submit(experiment, project)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run.wait_for_completion(show_output=True)
    links = [
        line.split(":", 1)[1].strip()
        for line in printed.getvalue().splitlines()
        if line.startswith("Web View:")
    ]
    assert links and links[0] == run.get_portal_url(), printed.getvalue()

    page.goto(links[0])  # what a user clicks in the notebook's output
    page.get_by_role("heading", name=f"Run {run.id}").wait_for()
    assert page.locator("#login").is_hidden()
    assert page.get_by_text("Completed", exact=True).first.is_visible()
    assert page.get_by_role("cell", name="accuracy").is_visible()
    page.get_by_text("hello from the studio test").wait_for()
    # The token left the address bar (and so the browser's history) at once.
    assert "token" not in page.url


def test_the_printed_studio_url_pasted_into_the_sign_in_box_signs_in_and_survives_a_restart(  # type: ignore[no-untyped-def]
    tf_home: Path, ws, page
) -> None:
    printed = CliRunner().invoke(app, ["studio", "--no-browser", "--home", str(tf_home)])
    assert printed.exit_code == 0, printed.output
    url = printed.stdout.strip()
    studio = url.split("#", 1)[0]

    page.goto(studio)  # a bookmark without the token: the sign-in box
    sign_in = page.locator("#login")
    sign_in.wait_for()
    page.locator("#token").fill(url)  # the whole printed URL, as users paste it
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Workspaces").wait_for()
    assert sign_in.is_hidden()
    page.get_by_role("link", name=ws.name).click()
    page.get_by_role("heading", name=f"Runs of {ws.name}").wait_for()

    restart_server(tf_home)
    page.reload()  # same port, same token: the browser's login still works
    page.get_by_role("heading", name=f"Runs of {ws.name}").wait_for()
    assert sign_in.is_hidden()
