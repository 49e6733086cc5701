"""`berth status` (docs/operations.md): what runs on this runner now, end to end.

Real jobs go through the runner simulator: two deploys of one environment, the first holding the
deploy lock in its build_script until the test opens a gate, the second queued behind it, each
as a job user of its own. `berth status` must name both jobs, their stage, their users and the
lock's holder and waiter, in text and JSON, and nothing once they are cleaned up. A workspace
aged past gc_age (as test_gc.py ages one) is listed as stale, and a user who is not root is told
what they cannot read. Status reads the state dir, never the executor: the shell executor is
enough.
"""

import json
import os
import subprocess

import pytest

from lib import runner as rn
from test_gc import GC_AGE, HOURS, age
from test_job_users import USERS, accounts, berth_bin, let_through  # noqa: F401 (fixtures)
from test_protocol import expect

KEY = "deploy/1000/production"


@pytest.fixture
def executor():
    return "shell"


def status(berth, settings, *args, user=None):
    """`berth status ARGS` with the test's settings (as USER, a uid, when given)."""
    # HOME: berth's defaults want one for a user who is not root (the settings name state_dir)
    env = {"PATH": "/usr/bin:/bin", "BERTH_CONFIG": str(settings.path), "HOME": "/nonexistent"}
    return subprocess.run([str(berth), "status", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=env, timeout=60, user=user)


def status_json(berth, settings):
    res = status(berth, settings, "--json")
    assert res.returncode == 0, f"berth status --json: exit {res.returncode}\n{res.stderr}"
    try:
        return json.loads(res.stdout)
    except ValueError as e:
        raise AssertionError(f"berth status --json printed no JSON ({e}):\n{res.stdout!r}")


def by_id(data):
    return {job["id"]: job for job in data["jobs"]}


def until_exists(gate):
    return f"while [ ! -e {gate} ]; do sleep 0.01; done"


def started(job):
    assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
    expect(job.run("get_sources"), rn.OK)
    return job


@pytest.fixture
def user_settings(settings, tmp_path, accounts):  # noqa: F811 (the fixture imported above)
    let_through(tmp_path)
    settings.write(job_users=USERS, allow_root_scripts=False)
    return settings


def test_status_shows_each_job_its_stage_user_and_lock(berth_bin, runner,  # noqa: F811
                                                        user_settings, scratch):
    gate = scratch / "gate"
    holder, waiter = (started(runner.job(8801 + i, concurrent_id=i, concurrent_project_id=i,
                                         variables={"CI_ENVIRONMENT_SLUG": "production"},
                                         scripts={"build_script": until_exists(gate)}))
                      for i in range(2))
    stages = []
    try:
        stages.append(holder.start("build_script"))

        def holding():
            return by_id(status_json(berth_bin, user_settings)).get("8801", {}).get("locks")
        assert rn.wait_for(holding, 60), status_json(berth_bin, user_settings)
        stages.append(waiter.start("build_script"))

        def queued():
            return by_id(status_json(berth_bin, user_settings)).get("8802", {}).get("locks")
        assert rn.wait_for(queued, 60), status_json(berth_bin, user_settings)

        data = status_json(berth_bin, user_settings)
        jobs = by_id(data)
        assert sorted(jobs) == ["8801", "8802"], data
        for job in jobs.values():
            assert job["stage"]["name"] == "build_script", job
            assert job["project"] == "group/project" and job["project_id"] == "1000", job
        assert {jobs["8801"]["user"], jobs["8802"]["user"]} == set(USERS), jobs
        assert jobs["8801"]["processes"] >= 1, jobs["8801"]  # the script, waiting for the gate
        assert [(lock["key"], lock["state"]) for lock in jobs["8801"]["locks"]] == [
            (KEY, "holding")], jobs["8801"]
        assert [(lock["key"], lock["state"]) for lock in jobs["8802"]["locks"]] == [
            (KEY, "waiting")], jobs["8802"]
        assert rn.lock_queue(rn.lock_entry(data["locks"], KEY)) == ["8801", "8802"], data
        assert data["job_users"] == {"configured": 2, "in_use": [jobs["8801"]["user"],
                                                                 jobs["8802"]["user"]],
                                     "free": []}, data
        assert data["stale_workspaces"] == [] and data["unreadable"] == [], data

        text = status(berth_bin, user_settings)
        assert text.returncode == 0, text.stderr
        out = text.stdout
        for job_id in ("8801", "8802"):
            assert f"  job {job_id}  project group/project (id 1000)  user {jobs[job_id]['user']}" \
                in out, out
        assert out.count("    stage build_script since ") == 2, out
        assert f"    holding lock {KEY} since " in out, out
        assert f"    waiting for lock {KEY} since " in out, out
        assert "jobs: 2\n" in out and "job users: 0 of 2 free\n" in out, out
        assert "stale workspaces: none\n" in out, out
        assert f"  {KEY}\n    holding  job 8801 " in out and "    waiting  job 8802 " in out, out
    finally:
        gate.touch()
        for stage in stages:
            stage.wait()
        for job in (holder, waiter):
            job.cleanup()
            job.remove_tmp()
    for stage in stages:
        expect(stage.wait(), rn.OK)

    data = status_json(berth_bin, user_settings)
    assert data["jobs"] == [] and data["locks"] == [], data
    assert data["job_users"]["free"] == USERS and data["job_users"]["in_use"] == [], data
    text = status(berth_bin, user_settings)
    assert (text.returncode, text.stdout.splitlines()[1:]) == (0, [
        "jobs: none running",
        "job users: 2 of 2 free: berth-job-1, berth-job-2",
        "stale workspaces: none",
        "locks: none held or waited for"]), text
    locks = subprocess.run([str(berth_bin), "locks"], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin", "BERTH_CONFIG": str(user_settings.path)},
                           timeout=60)
    assert (locks.returncode, locks.stdout) == (0, "no locks held or waited for\n"), locks


def test_a_workspace_without_a_stage_for_gc_age_is_stale(berth_bin, runner, settings):
    settings.write(gc_age=GC_AGE)
    old, young = runner.job(8811), runner.job(8812, concurrent_id=1)
    try:
        for job in (old, young):
            assert job.config_and_prepare(), job.results
        age(settings.jobs_dir() / "8811", GC_AGE + 60)
        data = status_json(berth_bin, settings)
        assert [job["id"] for job in data["stale_workspaces"]] == ["8811"], data
        assert [job["id"] for job in data["jobs"]] == ["8812"], data
        assert data["jobs"][0]["stage"] is None, data  # prepared, no stage started yet
        assert data["stale_workspaces"][0]["idle_seconds"] >= GC_AGE + 60, data
        out = status(berth_bin, settings).stdout
        assert "stale workspaces: 1 (berth gc removes them)\n" in out, out
        assert (f"  job 8811  project group/project  no stage since " in out and
                f"(2 h 01 min ago)  {settings.jobs_dir() / '8811'}\n" in out), out
        assert "    no stage running; the last started " in out, out
        # gc's idea of stale is the same
        gc = subprocess.run([str(berth_bin), "gc", "--dry-run"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "BERTH_CONFIG": str(settings.path)},
                            timeout=60)
        assert gc.returncode == 0 and "would remove" in gc.stdout, gc
        assert "(job 8811," in gc.stdout and "(job 8812," not in gc.stdout, gc.stdout
    finally:
        for job in (old, young):
            job.cleanup()
            job.remove_tmp()
    assert status_json(berth_bin, settings)["stale_workspaces"] == []


def test_a_user_who_is_not_root_is_told_what_they_cannot_read(berth_bin, runner, settings,
                                                                tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root, to make the state dir root's and run status as another user")
    job = runner.job(8821)
    try:
        assert job.config_and_prepare(), job.results
        subprocess.run([str(berth_bin), "lock", "k", "--", "true"], check=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "BERTH_CONFIG": str(settings.path)})
        let_through(tmp_path)
        settings.path.chmod(0o644)
        res = status(berth_bin, settings, user=65534)
        assert res.returncode == 2, res  # SYSTEM_FAILURE_EXIT_CODE unset: 2
        jobs, locks = settings.state_dir / "jobs", settings.state_dir / "locks"
        assert res.stdout.splitlines()[1:] == [
            "jobs: unknown (see below)",
            "job users: none configured (scripts run as berth's own user)",
            "stale workspaces: unknown (see below)",
            "locks: unknown (see below)",
            f"cannot read the jobs in {jobs}: only root may read it: run berth status as root",
            f"cannot read the locks in {locks}: only root may read it: run berth status as root",
        ], res
        data = json.loads(status(berth_bin, settings, "--json", user=65534).stdout)
        assert data["jobs"] is None and data["locks"] is None, data
        assert [u["what"] for u in data["unreadable"]] == ["jobs", "locks"], data
        # root sees it all
        assert [j["id"] for j in status_json(berth_bin, settings)["jobs"]] == ["8821"]
    finally:
        job.cleanup()
        job.remove_tmp()


def test_kubernetes_locks_from_the_stage_records_and_from_the_api(berth_bin, runner, settings,
                                                                  kube_api, tmp_path, scratch):
    """Without --remote, status reads only this runner's stage records: it shows the job holding
    the lock through settings whose lock_kubeconfig names a server that is not there.
    --remote asks the API server, and fails where it cannot."""
    from test_locks import use_kubernetes
    use_kubernetes(settings, kube_api, tmp_path)
    nowhere = tmp_path / "nowhere.kubeconfig"
    nowhere.write_text(kube_api.kubeconfig().replace(kube_api.url, "https://127.0.0.1:9"))
    (tmp_path / "offline").mkdir()
    offline = type(settings)(tmp_path / "offline", "shell")
    offline.write(**dict(settings.values, lock_kubeconfig=str(nowhere)))
    gate = scratch / "gate"
    job = started(runner.job(8831, variables={"CI_ENVIRONMENT_SLUG": "production"},
                             scripts={"build_script": until_exists(gate)}))
    try:
        stage = job.start("build_script")

        def holding():
            locks = by_id(status_json(berth_bin, offline)).get("8831", {}).get("locks")
            return locks and locks[0]["state"] == "holding"
        assert rn.wait_for(holding, 60), status_json(berth_bin, offline)
        data = status_json(berth_bin, offline)
        assert data["locks_from"] == "stage records", data
        assert rn.lock_queue(rn.lock_entry(data["locks"], KEY)) == ["8831"], data
        out = status(berth_bin, offline).stdout
        assert "locks (this runner's stages; --remote asks the cluster):\n" in out, out
        assert f"    holding lock {KEY} since " in out, out
        unreachable = status(berth_bin, offline, "--remote")
        assert unreachable.returncode == 2 and "127.0.0.1:9" in unreachable.stderr, unreachable

        remote = status(berth_bin, settings, "--json", "--remote")
        assert remote.returncode == 0, remote.stderr
        data = json.loads(remote.stdout)
        assert data["locks_from"] == "api", data
        assert rn.lock_queue(rn.lock_entry(data["locks"], KEY)) == ["8831"], data
        assert [(lock["key"], lock["state"]) for lock in by_id(data)["8831"]["locks"]] == [
            (KEY, "holding")], data
        gate.touch()
        expect(stage.wait(), rn.OK)
        assert status_json(berth_bin, offline)["locks"] == []
    finally:
        gate.touch()
        job.cleanup()
        job.remove_tmp()
