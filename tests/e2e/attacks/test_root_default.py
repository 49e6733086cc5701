"""Scripts never run as root by default.

berth runs as root under GitLab Runner. With settings that list no job users (the embedded
defaults, or an admin who never set them), a job's script must not run as root: prepare refuses
the job as a build failure that says how to set job users up. Only the admin's explicit
`allow_root_scripts: true` lets scripts run as root, and then the job log says so.
"""

import os

import pytest

from lib import runner as rn
from test_protocol import expect


@pytest.fixture
def root_runner(runner, settings):
    if os.geteuid() != 0:
        pytest.skip("berth must run as root, as under GitLab Runner")
    return runner


def test_no_job_users_means_no_job(root_runner, settings):
    settings.write(allow_root_scripts=None)  # not set: as in the embedded defaults
    job = root_runner.job(7101, scripts={"build_script": ["echo ran-as-$(id -un)"]})
    res = job.config()
    expect(res, rn.OK)
    res = job.prepare()
    expect(res, rn.BUILD_FAILURE)
    assert "refusing to run this job's scripts as root" in res.stderr, res.report()
    assert "job_users" in res.stderr and "allow_root_scripts" in res.stderr, res.report()
    assert str(settings.path) in res.stderr, res.report()
    expect(job.cleanup(), rn.OK)
    assert not (settings.jobs_dir() / "7101").exists()


def test_the_admins_opt_in_runs_root_and_says_so(root_runner, settings):
    settings.write(allow_root_scripts=True)
    job = root_runner.job(7102, scripts={"build_script": ["echo ran-as-$(id -un)"]})
    assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
    assert "this job's scripts run as root" in job.results[-1].stderr, job.results[-1].report()
    expect(job.run("get_sources"), rn.OK)
    res = job.run("build_script")
    expect(res, rn.OK)
    assert "ran-as-root" in res.stdout.splitlines(), res.report()
    expect(job.cleanup(), rn.OK)
