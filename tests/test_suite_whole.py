"""`make test` runs the whole suite: under TRAINFORGE_REQUIRE_SERVICES=1 a skip is a failure."""

from __future__ import annotations

import pytest

from tests.helpers import REPO

pytest_plugins = ["pytester"]

MODULE = """
import pytest

def test_needs_a_missing_tool():
    pytest.importorskip("no_such_module_for_trainforge")

@pytest.mark.xfail(reason="a known gap is not a skip")
def test_known_gap():
    assert False
"""


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, required: str
) -> pytest.RunResult:
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makepyfile(test_module=MODULE)
    pytester.syspathinsert(REPO)
    monkeypatch.setenv("TRAINFORGE_REQUIRE_SERVICES", required)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider")


def test_a_skip_fails_where_the_suite_must_be_whole(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(pytester, monkeypatch, "1")
    result.assert_outcomes(failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*skipped under TRAINFORGE_REQUIRE_SERVICES=1*no_such_module*"])


def test_a_skip_stays_a_skip_on_a_developers_partial_setup(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(pytester, monkeypatch, "0").assert_outcomes(skipped=1, xfailed=1)
