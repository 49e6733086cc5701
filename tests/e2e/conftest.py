"""Fixtures for berth's end-to-end tests: the binary, a settings file per test, a runner."""

import functools
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import runner as rn

# Real servers for the tests (PEERS.md), each in a module of its own.
pytest_plugins = ["registry", "kubeapi", "kubeproxy", "limiter", "craas_fake"]

# Executor backends every test runs against; a new backend is one more name here. (In a backend
# with its own PID namespace, bwrap's, the PIDs scripts write ($!, $BASHPID) are not the host's:
# scripts record them with rn.pid_record and rn.read_pids maps them through NSpid in
# /proc/PID/status. The /proc scan for BERTH_JOB_DIR and the finalizer work across namespaces.)
BACKENDS = ["shell", "bwrap"]

KILL_GRACE = 2  # seconds; the settings file's kill_grace


@pytest.fixture(scope="session")
def berth_bin():
    path = rn.find_berth()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"berth binary not found at {path}: run `make` (or `make check`), "
                    f"or set BERTH_BIN")
    return path


@functools.lru_cache(maxsize=None)
def bwrap_problem():
    """Why the bwrap backend cannot run on this machine (berth prepare's own probe), or None."""
    if not shutil.which("bwrap"):
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    probe = subprocess.run(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                            "true"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=30)
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces here: {probe.stderr.strip()}"
    return None


@pytest.fixture(params=BACKENDS)
def executor(request):
    if request.param == "bwrap" and bwrap_problem():
        pytest.skip(f"executor bwrap: {bwrap_problem()}")
    return request.param


class Settings:
    """berth's settings file for one test, with the paths it names.

    state_dir is not created: berth creates it (one test makes it a regular file instead).
    """

    def __init__(self, root, executor):
        self.path = root / "berth.yaml"
        self.state_dir = root / "state"
        self.builds_dir = root / "builds"
        self.cache_dir = root / "cache"
        self.values = {
            "state_dir": str(self.state_dir),
            "builds_dir": str(self.builds_dir),
            "cache_dir": str(self.cache_dir),
            "executor": executor,
            "kill_grace": KILL_GRACE,
            # Most tests are about something else than who scripts run as: they accept root
            # (the job-user and attack tests set job_users).
            "allow_root_scripts": True,
        }
        self.write()

    def write(self, **changes):
        """Rewrite the file with CHANGES applied (a value of None drops the key)."""
        self.values.update(changes)
        self.path.write_text(self._text(self.values))

    def write_copy(self, path, **changes):
        """Another settings file at PATH: these settings with CHANGES (this file stays)."""
        path.write_text(self._text(dict(self.values, **changes)))
        return path

    @staticmethod
    def _text(values):
        lines = []
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, str):
                value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            elif isinstance(value, (list, dict)):
                value = json.dumps(value)  # JSON is YAML's flow style
            lines.append(f"{key}: {value}")
        return "\n".join(lines) + "\n"

    def write_text(self, text):
        self.path.write_text(text)

    def jobs_dir(self):
        return self.state_dir / "jobs"


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


# -- docs/bad-input.md: what berth says about bad input (scripts/bad-input.py) -----------------

CLASS_NAMES = {rn.BUILD_FAILURE: "build failure", rn.SYSTEM_FAILURE: "system failure"}


def _load_bad_input():
    spec = importlib.util.spec_from_file_location("bad_input",
                                                  rn.REPO / "scripts" / "bad-input.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bad_input = _load_bad_input()


class BadInputRecords:
    """What this session's tests recorded, and which tests recorded."""

    def __init__(self):
        self.records = []
        self.recorded_by = set()
        self.file = os.environ.get(bad_input.ENV)
        self.doc_rows = (bad_input.table_rows(bad_input.DOC.read_text())
                         if bad_input.DOC.exists() else set())


@pytest.fixture(scope="session")
def bad_input_records():
    return BadInputRecords()


@pytest.fixture
def record_bad_input(bad_input_records, request, settings):
    """record(input, result, *substitutions): note RESULT's failure for docs/bad-input.md.

    The message is berth's first error line, with the test's temporary dirs and the given
    (text, placeholder) substitutions made placeholders.
    """
    def record(what, result, *substitutions):
        lines = [line for line in result.stderr.splitlines() if line.startswith("berth: error:")]
        assert lines, f"berth printed no error line:\n{result.report()}"
        subs = [(str(settings.state_dir), "<state_dir>"), (str(settings.path), "<berth.yaml>"),
                (str(settings.builds_dir), "<builds_dir>"),
                (str(settings.path.parent), "<tmp>"), *substitutions]
        entry = {"input": what, "stage": result.stage,
                 "message": bad_input.normalize(lines[0], subs),
                 "class": CLASS_NAMES.get(result.cls, result.cls)}
        bad_input_records.records.append(entry)
        bad_input_records.recorded_by.add(request.node.nodeid)
        if bad_input_records.file:
            with open(bad_input_records.file, "a") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")
        else:
            assert bad_input.row(entry) in bad_input_records.doc_rows, (
                f"docs/bad-input.md lacks this row: run scripts/bad-input.py\n"
                f"{bad_input.row(entry)}")
    return record
