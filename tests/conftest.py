"""Suite-wide fixtures and the switches that keep CI honest.

``--require-data``: a test that reads the real databases (it uses the ``real_data_dir`` fixture) fails
instead of skipping when it cannot run (folder missing, a file in it missing). ``make test`` passes
it, so a green run means the data-backed tests ran and passed.

``--require-browser``: the same for tests marked ``browser`` (headless Chromium); ``.ci/run`` installs
Chromium and passes it. Without the flag such tests skip with a message on machines without Chromium.

The terminal summary ends with one line per kind: how many of those tests passed, failed and skipped.
"""
import importlib.util
from pathlib import Path

import pytest

from relforge.settings import data_dir

KINDS = {"data": "data-backed tests (real_data_dir)", "browser": "browser tests (chromium)"}
_outcome: dict[str, dict[str, str]] = {k: {} for k in KINDS}  # kind -> nodeid -> worst outcome
_RANK = {"passed": 0, "skipped": 1, "failed": 2}


def pytest_addoption(parser):
    g = parser.getgroup("relforge")
    g.addoption("--require-data", action="store_true",
                help="fail (not skip) the tests that need the real-data folder when they cannot run")
    g.addoption("--require-browser", action="store_true",
                help="fail (not skip) the browser tests when Chromium is missing")


def _kinds(item) -> list[str]:
    out = []
    if "real_data_dir" in getattr(item, "fixturenames", ()):
        out.append("data")
    if item.get_closest_marker("browser") is not None:
        out.append("browser")
    return out


def _required(config, kind: str) -> bool:
    return bool(config.getoption(f"--require-{kind}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    kinds = _kinds(item)
    if not kinds:
        return
    if rep.skipped and not hasattr(rep, "wasxfail"):
        need = [k for k in kinds if _required(item.config, k)]
        if need:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            rep.outcome = "failed"
            rep.longrepr = (f"{item.nodeid}: skipped, but --require-{need[0]} is set "
                            f"({KINDS[need[0]]} must run here): {reason}")
    for k in kinds:
        prev = _outcome[k].get(item.nodeid, "passed")
        _outcome[k][item.nodeid] = max(prev, rep.outcome, key=_RANK.get)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for k, label in KINDS.items():
        c = {o: sum(v == o for v in _outcome[k].values()) for o in _RANK}
        if sum(c.values()):
            terminalreporter.write_line(f"{label}: {c['passed']} passed, {c['failed']} failed, "
                                        f"{c['skipped']} skipped")


@pytest.fixture(scope="session")
def real_data_dir(request) -> Path:
    """The shared real-data folder ($RELFORGE_DATA or ../shared/data); skips if absent (fails under
    ``--require-data``)."""
    try:
        return data_dir()
    except Exception as e:  # noqa: BLE001 - settings raises RelforgeError with the path it tried
        msg = f"real-data folder not available (set RELFORGE_DATA): {e}"
        if request.config.getoption("--require-data"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def chinook(real_data_dir) -> Path:
    """The Chinook SQLite file of the real-data folder (tests of `predict` on a user's database)."""
    p = real_data_dir / "chinook" / "Chinook_Sqlite.sqlite"
    if not p.is_file():
        pytest.skip("Chinook_Sqlite.sqlite not available")
    return p


@pytest.fixture
def script():
    """``script(name)`` imports ``scripts/<name>.py`` (the scripts are files, not a package)."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load
