"""Fixtures for berth's end-to-end tests: the binary, a settings file per test, a runner.

The libraries behind them are in lib/ (lib/__init__.py says which is which); fake tools in bin/.
"""

import os
from pathlib import Path

import pytest

from lib import runner as rn
from lib.backends import BACKENDS, bwrap_problem
from lib.bad_input import BadInputRecords
from lib.settings import Settings

# Real servers for the tests (PEERS.md), each a library of its own with its fixtures.
pytest_plugins = ["lib.registry", "lib.kubeapi", "lib.kubeproxy", "lib.limiter", "lib.craas_fake",
                  "lib.keystone_fake"]


@pytest.fixture(scope="session")
def berth_bin():
    path = rn.find_berth()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"berth binary not found at {path}: run `make` (or `make check`), "
                    f"or set BERTH_BIN")
    return path


@pytest.fixture(params=BACKENDS)
def executor(request):
    if request.param == "bwrap" and bwrap_problem():
        pytest.skip(f"executor bwrap: {bwrap_problem()}")
    return request.param


@pytest.fixture
def settings(tmp_path, executor):
    return Settings(tmp_path, executor)


@pytest.fixture
def runner(berth_bin, settings, tmp_path):
    """A runner whose jobs use this test's settings file; kills every leftover at the end."""
    root = tmp_path / "runner"
    root.mkdir()
    r = rn.Runner(berth_bin, root, settings=settings.path)
    yield r
    r.close()


@pytest.fixture
def scratch(settings):
    """A directory where job scripts leave PIDs and markers for the test to read.

    In the cache dir: berth never removes it, and it is one of the few places a job in the bwrap
    sandbox can write to (docs/bwrap.md).
    """
    path = settings.cache_dir / "e2e-scratch"
    path.mkdir(parents=True)
    return Path(path)


# -- docs/bad-input.md: what berth says about bad input (lib/bad_input.py) ---------------------

@pytest.fixture(scope="session")
def bad_input_records():
    return BadInputRecords()


@pytest.fixture
def record_bad_input(bad_input_records, request, settings):
    """record(input, result, *substitutions): note RESULT's failure for docs/bad-input.md."""
    def record(what, result, *substitutions):
        bad_input_records.record(request.node.nodeid, settings, what, result, *substitutions)
    return record
