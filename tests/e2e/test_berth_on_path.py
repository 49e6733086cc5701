"""`berth` on every stage's PATH, whatever the install prefix (docs/protocol.md).

Job scripts call `berth werf converge`, `berth login`, `berth lock`. GitLab Runner's PATH need
not hold the directory berth was installed in (/opt/berth/bin, a build tree), and then those
calls failed with "berth: command not found". Here berth is a copy at <tmp>/opt/bin/berth, the
runner's PATH is /usr/bin:/bin, and a job's script must find that very binary as `berth`: under
the shell and bwrap executors, as root and as a job user. The directory on PATH holds nothing but
`berth` and no job user may write it.

The job-user cases share the machine's job users: run this file under
`flock /tmp/berth-jobusers.lock` as the other job-user tests.
"""
import shutil

import pytest

from lib import runner as rn
from test_job_users import USERS, accounts, let_through  # noqa: F401 (accounts: a fixture)
from test_protocol import expect

RUNNER_PATH = "/usr/bin:/bin"

SCRIPT = ['found=$(command -v berth)', 'echo "found: $found"',
          'echo "resolves to: $(readlink -f "$found")"',
          'echo "dir holds: $(ls -A "$(dirname "$found")")"',
          'if test -w "$(dirname "$found")"; then echo "dir: writable"; '
          'else echo "dir: read-only"; fi',
          'berth help']


@pytest.fixture
def installed(berth_bin, tmp_path):
    """berth installed at a prefix of its own, which job users may run but not change."""
    prefix = tmp_path / "opt" / "bin"
    prefix.mkdir(parents=True)
    let_through(prefix)
    copy = prefix / "berth"
    shutil.copy2(berth_bin, copy)
    copy.chmod(0o755)
    assert str(prefix) not in RUNNER_PATH.split(":")
    return copy


def run_job(installed, settings, tmp_path, job_id):
    root = tmp_path / "runner"
    root.mkdir()
    runner = rn.Runner(installed, root, settings=settings.path)
    try:
        job = runner.job(job_id, env_overrides={"PATH": RUNNER_PATH},
                         scripts={"build_script": SCRIPT})
        assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
        expect(job.run("get_sources"), rn.OK)  # the runner's clone, which build_script enters
        result = job.run("build_script")
        workspace = job.workspace
        job.cleanup()
        return result, workspace
    finally:
        runner.close()


def check(result, workspace, installed):
    expect(result, rn.OK)
    out = result.stdout
    assert f"found: {workspace}/bin/berth\n" in out, result.report()
    assert f"resolves to: {installed}\n" in out, result.report()
    assert "dir holds: berth\n" in out, result.report()
    assert "usage: berth" in out, result.report()


def test_berth_is_on_path_in_every_stage(installed, settings, tmp_path):
    """Scripts as berth's own user (root here, allow_root_scripts), shell and bwrap."""
    result, workspace = run_job(installed, settings, tmp_path, 9501)
    check(result, workspace, installed)


def test_berth_is_on_path_for_a_job_user(installed, settings, tmp_path, accounts):  # noqa: F811
    let_through(tmp_path)
    settings.write(job_users=USERS, kube_preflight=False)
    settings.path.chmod(0o600)
    result, workspace = run_job(installed, settings, tmp_path, 9502)
    check(result, workspace, installed)
    assert "dir: read-only\n" in result.stdout, result.report()
