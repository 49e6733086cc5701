"""Attacks on the file lock store: a job must not reach root through it, nor block others.

The attacker writes the scripts of one job, runs as its job user (shell and bwrap), and knows
where the state directory is ($BERTH_JOB_DIR/../..). Root takes deploy locks in that store
for every job with an environment. What must hold:

- Nothing a job plants in the store makes root open, chmod, truncate or create a file
  elsewhere (a root-owned victim keeps its content and mode; no new file appears).
- A job cannot make another project's lock key unusable: that project's deploys still run.
- A job cannot take another project's deploy lock through `berth lock`.
- A store an older berth left world-writable, with a job's plantings in it, is repaired.
"""

import os
import shlex
import stat

import pytest

from lib import runner as rn
from test_job_users import accounts, admin_files, berth_bin, job_settings  # noqa: F401
from test_protocol import expect

CANARY = "victim-canary-" + os.urandom(6).hex()


@pytest.fixture
def victim(tmp_path):
    """Root's files the attacker aims at: one to clobber (as /etc/shadow), one to create (as
    /etc/ld.so.preload), in a directory only root can enter."""
    d = tmp_path / "root-only"
    d.mkdir(mode=0o700)
    existing = d / "victim"
    existing.write_text(CANARY + "\n")
    existing.chmod(0o600)
    return existing, d / "created"


def assert_untouched(victim):
    existing, created = victim
    st = os.lstat(existing)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    assert existing.read_text() == CANARY + "\n"
    assert not os.path.lexists(created), "root created a file a job named"


def plant(key_dir, target):
    """The attacker's lines: a key directory of its own making, .meta a link to TARGET."""
    locks = '"$(dirname "$(dirname "$BERTH_JOB_DIR")")/locks"'
    d = f"{locks}/{key_dir}"
    return [f"{{ mkdir -p {d} && chmod 0777 {d}; }} 2>/dev/null || true",
            f"{{ rm -f {d}/.meta; ln -s {shlex.quote(str(target))} {d}/.meta; }} 2>/dev/null "
            f"&& echo planted || echo cannot-plant"]


def deploy(runner, job_id, project_id, slug, commands):
    job = runner.job(job_id, project_id=project_id, project_path=f"group/p{project_id}",
                     variables={"CI_ENVIRONMENT_SLUG": slug}, scripts={"build_script": commands})
    assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
    expect(job.run("get_sources"), rn.OK)
    res = job.run("build_script")
    expect(job.cleanup(), rn.OK)
    return res


def test_a_link_planted_in_the_store_never_makes_root_write(runner, job_settings, victim):
    existing, created = victim
    res = deploy(runner, 5101, 1000, "production",
                 plant("deploy%2F1000%2Fproduction", existing) +
                 plant("deploy%2F1000%2Fstaging", created))
    expect(res, rn.OK)
    # The next deploys of the project open the key directories the job touched.
    expect(deploy(runner, 5102, 1000, "production", ["echo deployed"]), rn.OK)
    expect(deploy(runner, 5103, 1000, "staging", ["echo deployed"]), rn.OK)
    assert_untouched(victim)


def test_a_job_cannot_squat_another_projects_deploy_lock(runner, job_settings, berth_bin):
    locks = '"$(dirname "$(dirname "$BERTH_JOB_DIR")")/locks"'
    berth = shlex.quote(str(berth_bin))
    res = deploy(runner, 5201, 1000, "review", [
        f"ln -s /nonexistent {locks}/deploy%2F2000%2Fproduction 2>/dev/null || true",
        f"mkdir -m 0700 {locks}/deploy%2F2000%2Fstaging 2>/dev/null || true",
        f"{berth} lock deploy/2000/production -- echo took-the-lock && echo lock-exit=0 || echo lock-exit=$?"])
    expect(res, rn.OK)
    assert "took-the-lock" not in res.stdout.splitlines(), res.report()
    assert "lock-exit=0" not in res.stdout.splitlines(), res.report()
    assert "belongs to project 2000" in res.stderr, res.report()
    # The other project's deploys are not blocked.
    for job_id, slug in ((5202, "production"), (5203, "staging")):
        res = deploy(runner, job_id, 2000, slug, ["echo deployed"])
        expect(res, rn.OK)
        assert "deployed" in res.stdout


def test_a_job_user_takes_shared_locks_through_its_stage(runner, job_settings, berth_bin):
    berth = shlex.quote(str(berth_bin))
    res = deploy(runner, 5301, 1000, "production", [
        f"{berth} lock cleanup/registry.example:5000/app -- sh -c 'echo held-by-$(id -un)'",
        f"{berth} lock deploy/1000/production -- echo nested-ok",
        f"{berth} locks"])
    expect(res, rn.OK)
    assert "held-by-berth-job-1" in res.stdout, res.report()
    assert "nested-ok" in res.stdout, res.report()
    # The listing shows the deploy lock root holds for this stage.
    assert "deploy/1000/production" in res.stdout, res.report()


def test_an_old_world_writable_store_with_plantings_is_repaired(runner, job_settings, victim,
                                                                 accounts):
    existing, _ = victim
    user = accounts["berth-job-1"]
    locks = job_settings.state_dir / "locks"
    key = locks / "deploy%2F1000%2Fproduction"
    key.mkdir(parents=True)
    os.chmod(locks, 0o1777)
    os.chown(key, user.pw_uid, user.pw_gid)
    os.chmod(key, 0o777)
    os.symlink(existing, key / ".meta")
    os.lchown(key / ".meta", user.pw_uid, user.pw_gid)
    res = deploy(runner, 5401, 1000, "production", ["echo deployed"])
    expect(res, rn.OK)
    assert_untouched(victim)
    st = os.lstat(locks)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o700)
