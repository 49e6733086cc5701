"""Attacks across trust domains: one job poisons what the next job of its user runs.

A trust domain is a project and a protection (docs/job-users.md), both from the runner's
response file. The attacker's job plants a git `core.fsmonitor` hook in the job user's home
(~/.gitconfig) and in the clone the next job of another domain will use, and leaves files in
/tmp. The victim's job runs `git status` with a secret in its environment. What must hold: a
job of another domain (another project, or the same project's protected ref after an
unprotected one) runs nothing the attacker planted, and nothing of it reaches the attacker's
next job; a job of the same domain keeps its warm clone, and the home is reset after every job.
"""

import os

import pytest

from lib import runner as rn
from test_job_users import accounts, admin_files, berth_bin, job_settings  # noqa: F401
from test_protocol import expect

SECRET = "victim-secret-" + os.urandom(6).hex()


@pytest.fixture
def one_user(job_settings):
    """A single job user: every job gets it, so only the trust domains keep them apart."""
    job_settings.write(job_users=["berth-job-1"])
    return job_settings


def run_job(runner, job_id, project_id, commands, protected=False, variables=None):
    job = runner.job(job_id, project_id=project_id, project_path=f"group/p{project_id}",
                     protected=protected, variables=variables, scripts={"build_script": commands})
    assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
    expect(job.run("get_sources"), rn.OK)
    res = job.run("build_script")
    expect(job.cleanup(), rn.OK)
    return job, res


def output(res):
    """What the script printed, without the runner's echo of each command."""
    return [line for line in res.stdout.splitlines() if not line.startswith("\x1b[32;1m$")]


def plant(victim_project, loot):
    """The attacker's lines: a hook that copies the environment of whoever runs git next."""
    hook = '"${CI_PROJECT_DIR%/group/*}/.hook"'  # in the user's builds dir: it persists
    victim_dir = f'"${{CI_PROJECT_DIR%/group/*}}/group/p{victim_project}"'
    return [
        f"echo '#!/bin/sh' > {hook}",
        f"echo 'echo HOOK-RAN >&2; env > {loot}; exit 1' >> {hook}",
        f"chmod 0755 {hook}",
        f"git config --global core.fsmonitor {hook}",
        f"mkdir -p {victim_dir} && cd {victim_dir} && git init -q . && "
        f"git config core.fsmonitor {hook} && touch tracked && git add tracked",
    ]


VICTIM = ["cd \"$CI_PROJECT_DIR\"", "[ -d .git ] || git init -q .", "git status --short",
          "echo victim-done"]


@pytest.mark.parametrize("victim_project,victim_protected", [(2000, False), (1000, True)],
                         ids=["other-project", "protected-ref"])
def test_a_job_cannot_poison_the_next_job_of_another_domain(runner, one_user, victim_project,
                                                            victim_protected):
    loot = '"${CI_PROJECT_DIR%/group/*}/.loot"'  # where both projects' clones live
    _, res = run_job(runner, 6101, 1000, plant(victim_project, loot))
    expect(res, rn.OK)
    _, res = run_job(runner, 6102, victim_project, VICTIM, protected=victim_protected,
                     variables={"VICTIM_SECRET": SECRET})
    expect(res, rn.OK)
    assert "victim-done" in res.stdout, res.report()
    assert "HOOK-RAN" not in res.stderr, res.report()
    # The attacker's next job looks for the loot everywhere it could have been left.
    _, res = run_job(runner, 6103, 1000, [f"cat {loot} 2>/dev/null || true", "echo looked"])
    expect(res, rn.OK)
    assert "looked" in res.stdout and SECRET not in res.stdout, res.report()


def test_the_same_domain_keeps_its_clone_and_loses_its_home(runner, one_user):
    job, res = run_job(runner, 6201, 1000, [
        "echo warm > \"$CI_PROJECT_DIR/clone-marker\"", "echo mine > $HOME/home-marker",
        "echo mine > /tmp/berth-tmp-marker-$(id -u)"])
    expect(res, rn.OK)
    # Cleanup reset the home and took the user's files out of /tmp.
    assert not any(p.startswith("home-marker") for p in os.listdir(os.path.expanduser(
        "~berth-job-1")))
    assert not any(p.startswith("berth-tmp-marker") for p in os.listdir("/tmp"))
    _, res = run_job(runner, 6202, 1000, [
        "cat \"$CI_PROJECT_DIR/clone-marker\"", "ls -A $HOME", "echo listed"])
    expect(res, rn.OK)
    assert "warm" in res.stdout.splitlines(), res.report()
    assert "home-marker" not in res.stdout, res.report()


def test_a_job_without_a_domain_shares_nothing(runner, one_user):
    """No protection in the response file: the job's domain is unknown, so the next job of the
    same project still gets a reset user."""
    job = runner.job(6301, project_id=1000, project_path="group/p1000", scripts={
        "build_script": ["echo cold > \"$CI_PROJECT_DIR/clone-marker\""]})
    response = job.default_response()
    del response["git_info"]["protected"]
    job.response = response
    assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
    expect(job.run("get_sources"), rn.OK)
    expect(job.run("build_script"), rn.OK)
    expect(job.cleanup(), rn.OK)
    _, res = run_job(runner, 6302, 1000, [
        "cat \"$CI_PROJECT_DIR/clone-marker\" 2>/dev/null || echo no-marker"])
    expect(res, rn.OK)
    assert "no-marker" in res.stdout.splitlines(), res.report()


def test_another_domains_clone_is_parked_out_of_reach_and_comes_back(runner, one_user):
    _, res = run_job(runner, 6401, 1000, ["echo warm-1000 > \"$CI_PROJECT_DIR/clone-marker\""])
    expect(res, rn.OK)
    # Project 2000 gets the same user: project 1000's clone is neither in its builds dir nor
    # reachable where berth parked it.
    parked = '"${CI_PROJECT_DIR%/berth-job-1/*}/.parked"'
    _, res = run_job(runner, 6402, 2000, [
        "ls -A \"${CI_PROJECT_DIR%/group/*}/group\"",
        f"ls -R {parked} 2>/dev/null && echo reached-parked || echo no-parked",
        f"cat {parked}/berth-job-1/1000-unprotected/*/*/group/p1000/clone-marker "
        "2>/dev/null || true"])
    expect(res, rn.OK)
    said = output(res)
    assert "no-parked" in said, res.report()
    assert "p1000" not in said and "warm-1000" not in said, res.report()
    # Project 1000 again: its clone is back, warm.
    _, res = run_job(runner, 6403, 1000, ["cat \"$CI_PROJECT_DIR/clone-marker\""])
    expect(res, rn.OK)
    assert "warm-1000" in res.stdout.splitlines(), res.report()
