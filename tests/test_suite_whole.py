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

# Every way the suite's tests skip (tests/test_mpi.py, test_tf_parameter_server.py,
# test_distributed.py, ray_cluster.py, postgres_server.py, storage_services.py): a
# module-level importorskip (torch, TensorFlow, mpi4py), a module's skipif mark (mpirun), a
# test's skipif mark (root), and a skip from a fixture (Ray, PostgreSQL, Azurite).
WAYS = {
    "test_module_import": """
import pytest
pytest.importorskip("no_such_module_for_trainforge")

def test_never_collected():
    pass
""",
    "test_module_mark": """
import pytest
pytestmark = pytest.mark.skipif(True, reason="needs Open MPI (openmpi-bin)")

def test_marked():
    pass
""",
    "test_test_mark": """
import pytest

@pytest.mark.skipif(True, reason="runs change user only under a root server")
def test_marked():
    pass
""",
    "test_fixture_skip": """
import pytest

@pytest.fixture(scope="session")
def service():
    pytest.skip("Azurite is not installed")

def test_uses_service(service):
    pass
""",
}


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


def _run_ways(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, required: str, *files: str
) -> pytest.RunResult:
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makepyfile(**WAYS)
    pytester.syspathinsert(REPO)
    monkeypatch.setenv("TRAINFORGE_REQUIRE_SERVICES", required)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *files)


RUN_TIME_WAYS = [f"{name}.py" for name in WAYS if name != "test_module_import"]


def test_every_way_the_suite_skips_fails_where_it_must_be_whole(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_ways(pytester, monkeypatch, "1", *RUN_TIME_WAYS)
    result.assert_outcomes(errors=3)  # a skip in setup (marks, fixtures) fails the setup
    for reason in ("Open MPI", "root server", "Azurite"):
        result.stdout.fnmatch_lines([f"*skipped under TRAINFORGE_REQUIRE_SERVICES=1*{reason}*"])
    # A module that skips at import fails its collection (and pytest then runs nothing).
    result = _run_ways(pytester, monkeypatch, "1", "test_module_import.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*skipped under TRAINFORGE_REQUIRE_SERVICES=1*no_such_module*"])


def test_every_way_the_suite_skips_stays_a_skip_on_a_partial_setup(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run_ways(pytester, monkeypatch, "0").assert_outcomes(skipped=4)


MARKED = """
import pytest

def test_plain():
    pass

def test_on_the_server(tf_home):
    pass

@pytest.mark.slow
def test_slow():
    pass

@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_on_a_database(db):
    pass
"""


def test_not_real_process_keeps_only_tests_that_start_no_process(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makepyfile(test_marked=MARKED)
    pytester.syspathinsert(REPO)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-m", "not real_process")
    # The deselected tests never ran: the server of tf_home was not started.
    result.assert_outcomes(passed=2, deselected=3)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-m", "not real_process", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(["*test_plain*", "*test_on_a_database?sqlite?*"])
    assert "postgresql" not in result.stdout.str()
