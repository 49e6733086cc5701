"""berth against GitLab Runner's custom-executor protocol (docs/protocol.md), end to end.

Each test drives the real binary through tests/e2e/lib/runner.py exactly as the runner does and
asserts exit codes, result classes, output and what is on disk or still running.
"""

import os
import re
import socket
import stat
import subprocess

import pytest

from lib import runner as rn
from lib.settings import KILL_GRACE

# What berth keeps from the script (docs/protocol.md, "run").
INTERNAL_VARIABLES = ("JOB_RESPONSE_FILE", "BUILD_FAILURE_EXIT_CODE", "SYSTEM_FAILURE_EXIT_CODE",
                      "BUILD_EXIT_CODE_FILE")

# Exit codes that are not the runner's defaults, so a hard-coded 1 or 2 shows.
ODD_CODES = {"build_failure_exit_code": 77, "system_failure_exit_code": 78}

ALL_STAGES_PASSING = ["config", "prepare", "prepare_script", "get_sources", "restore_cache",
                      "download_artifacts", "build_script", "after_script", "archive_cache",
                      "upload_artifacts_on_success", "cleanup_file_variables", "cleanup"]


# -- helpers ----------------------------------------------------------------------------------

def expect(result, cls, exit_code=None):
    assert result.cls == cls, f"expected {cls}, got:\n{result.report()}"
    if exit_code is not None:
        assert result.exit_code == exit_code, result.report()


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def files_under(path):
    """Every non-directory below PATH (an absent PATH has none)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        found += [os.path.join(dirpath, n) for n in filenames]
        found += [os.path.join(dirpath, n) for n in dirnames
                  if os.path.islink(os.path.join(dirpath, n))]
    return found


def read_env_dump(path):
    """The output of `env -0` as a dict."""
    entries = path.read_bytes().decode().split("\0")
    return dict(e.partition("=")[::2] for e in entries if e)


def assert_no_secret_printed(job):
    for result in job.results:
        for secret in job.secret_values():
            for name in ("stdout", "stderr"):
                assert secret not in getattr(result, name), (
                    f"berth printed a secret on {name} of {result.stage}:\n{result.report()}")


def job_processes(job):
    """Live processes carrying the job's workspace in their environment."""
    return rn.pids_with_env("BERTH_JOB_DIR", job.job_env["BERTH_JOB_DIR"])


def assert_all_dead(pids, within=30, what="processes"):
    """PIDS are all gone (a zombie counts as gone); WITHIN is a safety net for a loaded machine."""
    rn.wait_for(lambda: not any(rn.alive(p) for p in pids), within)
    left = [p for p in pids if rn.alive(p)]
    assert not left, f"{what} still running: {describe_pids(left)}"


def describe_pids(pids):
    out = []
    for pid in pids:
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            cmdline = "?"
        out.append(f"{pid} ({cmdline.strip()})")
    return ", ".join(out)


def comm(pid):
    try:
        return open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return None


# -- a passing job ----------------------------------------------------------------------------

def test_passing_job(runner, settings, scratch):
    env_dump = scratch / "env"
    job = runner.job(101, variables={"DEPLOY_PASSWORD": "e2e-masked-pa55"},
                     masked={"DEPLOY_PASSWORD"},
                     scripts={"build_script": ["echo hello from the build",
                                               "echo built > built.txt",
                                               f"env -0 > {env_dump}",
                                               # $$ is the bash berth started
                                               f"readlink /proc/$$/fd/0 > {scratch}/stdin",
                                               f"cut -d' ' -f5 /proc/$$/stat > {scratch}/pgrp"]})
    assert job.config_and_prepare(), job.results

    out = job.config_output
    assert out["builds_dir"] == str(settings.builds_dir)
    assert out["cache_dir"] == str(settings.cache_dir)
    assert out["builds_dir_is_shared"] is True
    assert out["hostname"] == socket.gethostname()
    assert out["driver"]["name"] == "berth"
    assert isinstance(out["driver"]["version"], str) and out["driver"]["version"]
    assert out["shell"] == "bash"
    assert job.job_env["BERTH_JOB_DIR"] == str(settings.jobs_dir() / "101")

    workspace = job.workspace
    assert workspace.is_dir() and mode(workspace) == 0o700
    assert (workspace / "tmp").is_dir()
    assert (workspace / "state").exists()

    assert job.run_stages()
    assert (job.build_dir / "built.txt").read_text() == "built\n"
    assert job.build_dir == settings.builds_dir / runner.short_token / "0" / "group/project"
    assert "hello from the build" in job.stage("build_script").stdout
    assert workspace.is_dir() and mode(workspace) == 0o700

    env = read_env_dump(env_dump)
    assert env["TMPDIR"] == str(workspace / "tmp")
    assert env["BERTH_JOB_DIR"] == str(workspace)
    # The job's copy of the settings the driver read (prepare wrote it), so `berth login`
    # inside the job uses the same ones without reading the admin's file.
    assert env["BERTH_CONFIG"] == str(workspace / "settings.yaml")
    assert f'state_dir: "{settings.state_dir}"\n' in (workspace / "settings.yaml").read_text()
    assert env["DOCKER_CONFIG"] == env["WERF_DOCKER_CONFIG"] == str(workspace / "docker")
    # This job has no kubeconfig: the path is still the workspace's, never the runner's own.
    assert env["KUBECONFIG"] == env["WERF_KUBE_CONFIG"] == str(workspace / "kube" / "config")
    assert env["BERTH_E2E_TAG"] == runner.tag, "the runner's own environment must pass through"
    assert env["CI_JOB_TOKEN"] == job.token  # exported by the script itself
    leaked = [name for name in env
              if name in INTERNAL_VARIABLES or name.startswith("CUSTOM_ENV_")]
    assert not leaked, f"berth's internals reached the script: {leaked}"
    assert (scratch / "stdin").read_text() == "/dev/null\n"
    script_pgrp = int((scratch / "pgrp").read_text())
    assert script_pgrp != job.stage("build_script").pid, "the script needs its own process group"

    expect(job.cleanup(), rn.OK)
    assert not workspace.exists()
    assert (job.build_dir / "built.txt").exists(), "a shared builds dir outlives the job"

    assert [r.stage for r in job.results] == ALL_STAGES_PASSING
    for result in job.results:
        expect(result, rn.OK)
    assert_no_secret_printed(job)


def test_harness_writes_the_runners_script_shape(tmp_path):
    """Not berth: the scripts berth gets here look like the runner's and export values intact."""
    value = "it's a \\ \"quoted\" $HOME `x` \x1b[0m\nnewline \u00e9"
    job = rn.Runner("/bin/false", tmp_path).job(102, variables={"TRICKY": value})
    job.build_dir = tmp_path / "build"
    job.build_dir.mkdir()
    text = job.script_text("build_script", ['printf %s "$TRICKY" > out'])
    assert text.startswith("#!/usr/bin/env bash\n\ntrap exit 1 TERM\n")
    assert "\n: | eval $'" in text and text.endswith("\nexit 0\n")
    script = tmp_path / "script."
    script.write_text(text)
    ran = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, ran.stderr
    assert (job.build_dir / "out").read_text() == value


# -- builds dir -------------------------------------------------------------------------------

def test_next_job_in_same_slot_reuses_build_dir(runner):
    first = runner.job(201, scripts={"build_script": "echo from-201 > clone.txt"})
    assert first.run_job(), first.results
    second = runner.job(202, scripts={"build_script": ["test -f clone.txt", "cat clone.txt"]})
    assert second.run_job(), second.results
    assert second.build_dir == first.build_dir
    assert "from-201" in second.stage("build_script").stdout


def test_builds_per_job_lives_in_workspace(runner, settings):
    settings.write(builds_per_job=True)
    job = runner.job(211, scripts={"build_script": "echo x > built.txt"})
    assert job.config_and_prepare(), job.results
    workspace = job.workspace
    assert job.config_output["builds_dir"] == str(workspace / "builds")
    assert job.config_output["builds_dir_is_shared"] is False
    assert job.build_dir == workspace / "builds" / "group/project"
    assert job.run_stages()
    assert (job.build_dir / "built.txt").exists()
    expect(job.cleanup(), rn.OK)
    assert not workspace.exists()
    assert not job.build_dir.exists()


# -- failing scripts and stage names ----------------------------------------------------------

def test_failing_script_is_a_build_failure(runner):
    job = runner.job(301, **ODD_CODES, scripts={"build_script": ["echo failing", "exit 42"],
                                                "after_script": "echo after runs"})
    assert not job.run_job()
    failed = job.stage("build_script")
    expect(failed, rn.BUILD_FAILURE, 77)
    assert failed.build_exit_code == "42", failed.report()
    assert "after runs" in job.stage("after_script").stdout
    assert [r.stage for r in job.results] == [
        "config", "prepare", "prepare_script", "get_sources", "restore_cache",
        "download_artifacts", "build_script", "after_script", "archive_cache_on_failure",
        "upload_artifacts_on_failure", "cleanup_file_variables", "cleanup"]
    for result in job.results:
        if result.stage != "build_script":
            expect(result, rn.OK)
    assert_no_secret_printed(job)


def test_script_killed_by_signal_reports_128_plus_signal(runner):
    job = runner.job(302, **ODD_CODES, scripts={"build_script": "kill -KILL $$"})
    assert job.config_and_prepare(), job.results
    expect(job.run("get_sources"), rn.OK)
    result = job.run("build_script")
    expect(result, rn.BUILD_FAILURE, 77)
    assert result.build_exit_code == "137", result.report()
    expect(job.cleanup(), rn.OK)


@pytest.mark.parametrize("stage", ["step_release", "some_future_stage", "clear_worktree"])
def test_unknown_stage_name_runs(runner, stage):
    job = runner.job(311)
    assert job.config_and_prepare(), job.results
    expect(job.run("get_sources"), rn.OK)
    result = job.run(stage, ["echo ran $0"])
    expect(result, rn.OK)
    assert "ran " in result.stdout
    expect(job.cleanup(), rn.OK)


# -- processes: cancel, leftovers, escapes ----------------------------------------------------

def start_build_and_wait_for(job, pids_file, count):
    """Run the stages before build_script, start it, wait until it wrote COUNT pids."""
    assert job.config_and_prepare(), job.results
    for stage in rn.STAGES_BEFORE_SCRIPT:
        expect(job.run(stage), rn.OK)
    running = job.start("build_script")
    rn.wait_for(lambda: len(rn.read_pids(pids_file)) >= count or not running.running(), 60)
    assert len(rn.read_pids(pids_file)) >= count, f"build_script did not start: {running.wait()}"
    job.runner.extra_pids.update(rn.read_pids(pids_file))
    return running


def test_cancel_kills_every_process_of_the_job(runner, scratch):
    pids_file = scratch / "pids"
    job = runner.job(401, variables={"PIDS_FILE": str(pids_file)}, scripts={
        "build_script": ['sleep 1000 &', rn.pid_record("$!") + ' >> "$PIDS_FILE"',
                         rn.pid_record("$BASHPID") + ' >> "$PIDS_FILE"', 'sleep 1000'],
        "after_script": "echo after the cancel"})
    running = start_build_and_wait_for(job, pids_file, 2)
    # Both sleeps (background and foreground) must be running before we cancel.
    assert rn.wait_for(lambda: sum(comm(p) == "sleep" for p in job_processes(job)) >= 2, 60)
    before = set(job_processes(job)) | set(rn.read_pids(pids_file))
    runner.extra_pids.update(before)

    result = running.cancel(grace=KILL_GRACE + 5)
    assert not result.killed, f"berth ignored SIGTERM:\n{result.report()}"
    assert result.term_to_exit <= KILL_GRACE + 1.5, result.report()
    assert_all_dead(before, what="processes of the canceled script")
    assert not job_processes(job), describe_pids(job_processes(job))

    after = job.run("after_script")
    expect(after, rn.OK)
    assert "after the cancel" in after.stdout
    workspace = job.workspace
    expect(job.cleanup(), rn.OK)
    assert not workspace.exists()
    assert_no_secret_printed(job)


def test_cancel_sends_term_then_kill_after_grace(runner, scratch):
    pids_file, mark = scratch / "pids", scratch / "term-seen"
    job = runner.job(402, variables={"PIDS_FILE": str(pids_file), "MARK": str(mark)}, scripts={
        "build_script": [
            # Ignores SIGTERM: only the SIGKILL after kill_grace ends it.
            """bash -c 'trap "" TERM; sleep 1000 & wait; sleep 1000' &""",
            rn.pid_record("$!") + ' >> "$PIDS_FILE"',
            # Handles SIGTERM: proves TERM came first.
            """bash -c 'trap "echo TERM >> \\"$MARK\\"; exit 0" TERM; sleep 1000 & wait' &""",
            rn.pid_record("$!") + ' >> "$PIDS_FILE"',
            'sleep 1000'],
    })
    running = start_build_and_wait_for(job, pids_file, 2)
    assert rn.wait_for(lambda: sum(comm(p) == "sleep" for p in job_processes(job)) >= 3, 60)
    before = set(job_processes(job))
    runner.extra_pids.update(before)

    result = running.cancel(grace=KILL_GRACE + 5)
    assert not result.killed, f"berth did not exit before the runner's grace:\n{result.report()}"
    assert KILL_GRACE - 0.3 <= result.term_to_exit <= KILL_GRACE + 1.5, (
        f"SIGKILL should come kill_grace={KILL_GRACE}s after SIGTERM\n{result.report()}")
    assert mark.exists() and "TERM" in mark.read_text(), "SIGTERM never reached the script"
    assert_all_dead(before, what="processes of the canceled script")
    expect(job.cleanup(), rn.OK)


# `setsid` leaves the script's process group but still holds the stage's stdout: berth is a
# subreaper, so the orphan becomes its child and is ended when the script exits all the same.
@pytest.mark.parametrize("start", ["sleep 1000 &", "setsid sleep 1000 &"])
def test_background_leftover_does_not_hold_the_stage(runner, scratch, start):
    pids_file = scratch / "pids"
    job = runner.job(411, variables={"PIDS_FILE": str(pids_file)}, scripts={
        "build_script": [start, rn.pid_record("$!") + ' > "$PIDS_FILE"', 'echo script done']})
    assert job.config_and_prepare(), job.results
    expect(job.run("get_sources"), rn.OK)
    result = job.run("build_script", timeout=KILL_GRACE + 8)
    runner.extra_pids.update(rn.read_pids(pids_file))
    expect(result, rn.OK)
    assert "script done" in result.stdout
    assert result.duration < KILL_GRACE + 2, result.report()
    assert rn.read_pid_records(pids_file), "the script recorded no PID"
    assert_all_dead(rn.read_pids(pids_file), what="the script's background sleep")
    # Also by the job's mark: a PID from the sandbox's namespace that is gone maps to none.
    assert not job_processes(job), describe_pids(job_processes(job))
    expect(job.cleanup(), rn.OK)


def test_process_escaping_the_group_dies_at_cleanup(runner, scratch):
    pids_file = scratch / "pids"
    job = runner.job(421, variables={"PIDS_FILE": str(pids_file)}, scripts={
        # Its own session, and no hold on berth's pipes: only cleanup can catch it.
        "build_script": ['setsid sleep 1000 </dev/null >/dev/null 2>&1 &',
                         rn.pid_record("$!") + ' > "$PIDS_FILE"']})
    assert job.config_and_prepare(), job.results
    expect(job.run("get_sources"), rn.OK)
    expect(job.run("build_script"), rn.OK)
    assert rn.read_pid_records(pids_file), "the script recorded no PID"
    escaped = rn.read_pids(pids_file)
    runner.extra_pids.update(escaped)
    expect(job.run("after_script"), rn.OK)
    workspace = job.workspace
    expect(job.cleanup(), rn.OK)
    assert_all_dead(escaped, what="the setsid'd sleep after cleanup")
    assert not job_processes(job), describe_pids(job_processes(job))
    assert not workspace.exists()


# -- preparation retries and idempotence ------------------------------------------------------

def test_prepare_retried_after_two_failures(runner, settings):
    def before_attempt(attempt):
        if attempt == 1:
            settings.state_dir.write_text("a file where the state dir should be\n")
        elif attempt == 3:
            settings.state_dir.unlink()

    job = runner.job(501, **ODD_CODES)
    assert job.run_job(before_attempt), job.results

    for attempt in (1, 2):
        ran = [r for r in job.results if r.attempt == attempt]
        assert [r.stage for r in ran][-1] == "cleanup", ran
        failed = [r for r in ran if r.stage in ("config", "prepare") and not r.ok]
        assert len(failed) == 1, ran
        expect(failed[0], rn.SYSTEM_FAILURE, 78)
        assert str(settings.state_dir) in failed[0].stderr + failed[0].stdout, failed[0].report()
        expect(ran[-1], rn.OK)
    third = [r for r in job.results if r.attempt == 3]
    assert [r.stage for r in third] == ["config", "prepare"]
    for result in job.results:
        if result.attempt not in (1, 2):
            expect(result, rn.OK)
    assert not (settings.jobs_dir() / "501").exists()
    assert_no_secret_printed(job)


def test_cleanup_without_config_or_prepare(runner, settings):
    job = runner.job(511)
    expect(job.cleanup(), rn.OK)
    assert files_under(settings.state_dir) == []
    expect(job.cleanup(), rn.OK)
    assert files_under(settings.state_dir) == []


def test_cleanup_twice_after_a_job(runner):
    job = runner.job(512)
    assert job.config_and_prepare(), job.results
    assert job.run_stages()
    expect(job.cleanup(), rn.OK)
    expect(job.cleanup(), rn.OK)
    assert not job.workspace.exists()


def test_cleanup_spares_the_wrapper_that_started_it(runner, scratch):
    # A cleanup_exec wrapper (or strace, or a shell) carries the job's BERTH_JOB_DIR from
    # job_env just like the job's own processes; cleanup must end the job's, not its parent.
    pids_file = scratch / "pids"
    job = runner.job(513, variables={"PIDS_FILE": str(pids_file)}, scripts={
        "build_script": ['sleep 1000 &', rn.pid_record("$!") + ' > "$PIDS_FILE"',
                         'sleep 1000']})
    assert job.config_and_prepare(), job.results
    expect(job.run("get_sources"), rn.OK)
    stage = job.start("build_script")
    assert rn.wait_for(lambda: pids_file.exists() and rn.read_pids(pids_file), 60)
    left = rn.read_pids(pids_file)
    runner.extra_pids.update(left)
    wrapper = subprocess.run(
        ["bash", "-c", '"$0" cleanup; echo "wrapper alive after berth exit $?"',
         str(runner.berth)],
        env=job.env("cleanup"), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=KILL_GRACE + 20)
    assert wrapper.returncode == 0, wrapper.stderr
    assert "wrapper alive after berth exit 0" in wrapper.stdout, wrapper.stderr
    assert_all_dead(left, what="the job's background sleep after cleanup")
    stage.wait()
    assert not job.workspace.exists()


def test_prepare_twice_for_one_job(runner):
    job = runner.job(521, scripts={"build_script": 'test -d "$TMPDIR"'})
    expect(job.config(), rn.OK)
    expect(job.prepare(), rn.OK)
    expect(job.prepare(), rn.OK)
    assert mode(job.workspace) == 0o700
    assert job.run_stages()
    expect(job.cleanup(), rn.OK)
    assert not job.workspace.exists()


# -- concurrency ------------------------------------------------------------------------------

def test_concurrent_jobs_of_one_project_in_two_slots(runner, scratch):
    # Each script announces its start, waits until the other one has started too (so the two
    # build_scripts surely overlap), sleeps a second, and leaves a marker in its build dir.
    script = ['touch "$SCRATCH/started-$CI_JOB_ID"',
              'for i in $(seq 1200); do [ -e "$SCRATCH/started-$OTHER" ] && break; sleep 0.05; done',
              '[ -e "$SCRATCH/started-$OTHER" ]',
              'sleep 1',
              'echo "$CI_JOB_ID" > "marker-$CI_JOB_ID"']
    a = runner.job(601, concurrent_id=0, concurrent_project_id=0, scripts={"build_script": script},
                   variables={"SCRATCH": str(scratch), "OTHER": "602"})
    b = runner.job(602, concurrent_id=1, concurrent_project_id=1, scripts={"build_script": script},
                   variables={"SCRATCH": str(scratch), "OTHER": "601"})
    for job in (a, b):
        assert job.config_and_prepare(), job.results
        for stage in rn.STAGES_BEFORE_SCRIPT:
            expect(job.run(stage), rn.OK)
    assert a.build_dir != b.build_dir
    assert a.workspace != b.workspace

    running = [a.start("build_script"), b.start("build_script")]
    for result in [r.wait() for r in running]:
        expect(result, rn.OK)

    assert (a.build_dir / "marker-601").exists() and not (a.build_dir / "marker-602").exists()
    assert (b.build_dir / "marker-602").exists() and not (b.build_dir / "marker-601").exists()

    for stage in ("after_script", "archive_cache", "upload_artifacts_on_success",
                  "cleanup_file_variables"):
        expect(a.run(stage), rn.OK)
    expect(a.cleanup(), rn.OK)
    assert not a.workspace.exists()
    assert b.workspace.is_dir() and (b.workspace / "tmp").is_dir()
    expect(b.run("after_script"), rn.OK)
    expect(b.cleanup(), rn.OK)
    assert not b.workspace.exists()


# -- job identity -----------------------------------------------------------------------------

def test_identity_from_custom_env_without_response_file(runner, settings):
    job = runner.job(701, project_path="group/sub.group/my_project-1", response=None)
    assert job.run_job(), job.results
    assert job.job_env["BERTH_JOB_DIR"] == str(settings.jobs_dir() / "701")


@pytest.mark.parametrize("bad", ["12a", "-1", "0x10", " 12", "1" * 20, ""])
def test_bad_job_id_in_custom_env_is_a_build_failure(runner, settings, bad):
    job = runner.job(702, **ODD_CODES, variables={"CI_JOB_ID": bad}, response=None)
    assert not job.config_and_prepare()
    result = job.stage("config")
    expect(result, rn.BUILD_FAILURE, 77)
    assert "invalid CI/CD variable CI_JOB_ID" in result.stderr, result.report()
    assert "CUSTOM_ENV" not in result.stderr, result.report()
    if bad.strip():
        assert bad.strip() in result.stderr, result.report()
    assert [r.stage for r in job.results] == ["config", "cleanup"], "a build failure is final"
    assert files_under(settings.state_dir) == []


@pytest.mark.parametrize("bad", ["../../etc", "group/../../etc", "/group/project", "group//project",
                                 "group/project/", ".hidden/project", "group/-project",
                                 "group/pro ject", "project", "g/" + "p" * 254])
def test_bad_project_path_in_custom_env_is_a_build_failure(runner, settings, bad):
    job = runner.job(703, **ODD_CODES, variables={"CI_PROJECT_PATH": bad}, response=None)
    result = job.config()
    expect(result, rn.BUILD_FAILURE, 77)
    assert "invalid CI/CD variable CI_PROJECT_PATH" in result.stderr, result.report()
    assert "CUSTOM_ENV" not in result.stderr, result.report()


@pytest.mark.parametrize("variable,bad", [("CI_JOB_ID", "12a"),
                                          ("CI_PROJECT_PATH", "../../etc")])
def test_cleanup_after_rejected_identity_succeeds(runner, settings, variable, bad):
    """The runner runs cleanup after config failed; nothing was created, nothing to do."""
    job = runner.job(705, **ODD_CODES, variables={variable: bad}, response=None)
    assert not job.config_and_prepare()
    expect(job.stage("config"), rn.BUILD_FAILURE, 77)
    expect(job.stage("cleanup"), rn.OK)
    assert files_under(settings.state_dir) == []


@pytest.mark.parametrize("bad", ["12a", "-5", "1" * 20])
def test_bad_project_id_in_custom_env_is_a_build_failure(runner, bad):
    job = runner.job(704, **ODD_CODES, variables={"CI_PROJECT_ID": bad}, response=None)
    result = job.config()
    expect(result, rn.BUILD_FAILURE, 77)
    assert "invalid CI/CD variable CI_PROJECT_ID" in result.stderr, result.report()
    assert "CUSTOM_ENV" not in result.stderr, result.report()


def edit_response(job, path, value):
    response = job.default_response()
    *parents, last = path.split(".")
    node = response
    for key in parents:
        node = node[key]
    node[last] = value
    job.response = response


@pytest.mark.parametrize("field,value", [
    ("job_info.project_full_path", "group/../../etc"),
    ("job_info.project_full_path", "/etc"),
    ("job_info.project_id", "12a"),
    ("id", "abc"),
    ("id", -3),
])
def test_bad_value_in_response_file_is_a_system_failure(runner, settings, field, value):
    job = runner.job(711, **ODD_CODES)
    edit_response(job, field, value)
    result = job.config()
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert field in result.stderr and "JOB_RESPONSE_FILE" in result.stderr, result.report()
    assert files_under(settings.state_dir) == []


def test_corrupt_response_file_is_a_system_failure(runner):
    job = runner.job(712, **ODD_CODES, response='{"id": 712, "job_info": ')
    result = job.config()
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert str(job.response_file) in result.stderr, result.report()


def test_missing_response_file_is_a_system_failure(runner, scratch):
    absent = scratch / "no-such-response.json"
    job = runner.job(713, **ODD_CODES, env_overrides={"JOB_RESPONSE_FILE": str(absent)})
    result = job.config()
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert str(absent) in result.stderr, result.report()


def test_response_file_wins_over_custom_env(runner, settings):
    job = runner.job(721, variables={"CI_JOB_ID": "999", "CI_PROJECT_ID": "12a",
                                     "CI_PROJECT_PATH": "../../etc"})
    assert job.run_job(), job.results
    assert job.job_env["BERTH_JOB_DIR"] == str(settings.jobs_dir() / "721")
    assert not (settings.jobs_dir() / "999").exists()


def test_exit_codes_default_to_1_and_2_by_hand(runner):
    unset = {"BUILD_FAILURE_EXIT_CODE": None, "SYSTEM_FAILURE_EXIT_CODE": None}
    build = runner.job(731, variables={"CI_JOB_ID": "12a"}, response=None, env_overrides=unset)
    expect(build.config(), rn.BUILD_FAILURE, 1)
    system = runner.job(732, response="not json", env_overrides=unset)
    expect(system.config(), rn.SYSTEM_FAILURE, 2)


# -- settings ---------------------------------------------------------------------------------

def test_unknown_setting_names_file_and_line(runner, settings):
    settings.write_text(f'state_dir: "{settings.state_dir}"\n'
                        f'builds_dir: "{settings.builds_dir}"\n'
                        'colour: blue\n'
                        f'cache_dir: "{settings.cache_dir}"\n')
    result = runner.job(801, **ODD_CODES).config()
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert f"unknown setting 'colour' in {settings.path}:3 (settings: state_dir, " \
        in result.stderr, result.report()
    assert "did you mean" not in result.stderr, "nothing is close to 'colour'"


def test_misspelt_setting_suggests_the_key_and_lists_every_one(runner, settings):
    settings.write_text(f'state_dir: "{settings.state_dir}"\nkill_gace: 3\n')
    result = runner.job(804, **ODD_CODES).config()
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert f"unknown setting 'kill_gace' in {settings.path}:2: did you mean 'kill_grace'?" \
        in result.stderr, result.report()
    # Every key, to the last one in the table (a fixed buffer once cut the list short).
    listed = re.search(r"\(settings: ([^)]*)\)$", result.stderr.strip())
    assert listed, result.report()
    keys = listed.group(1).split(", ")
    assert keys[0] == "state_dir" and keys[-1] == "craas_identity_url" and len(keys) == len(set(keys)) \
        and "registries" in keys and "prune_keep_newest" in keys, keys


def test_wrongly_typed_setting_names_file_and_line(runner, settings):
    settings.write_text(f'state_dir: "{settings.state_dir}"\n'
                        f'builds_dir: "{settings.builds_dir}"\n'
                        f'cache_dir: "{settings.cache_dir}"\n'
                        'kill_grace: soon\n')
    result = runner.job(802, **ODD_CODES).config()
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert "berth.yaml:4" in result.stderr and "kill_grace" in result.stderr, result.report()


@pytest.mark.parametrize("grace", [3, "10s", "2m"])
def test_kill_grace_forms(runner, settings, grace):
    settings.write(kill_grace=grace)
    expect(runner.job(803).config(), rn.OK)


def test_show_settings(runner, settings, berth_bin, tmp_path):
    result = runner.job(811).invoke("config", ["--show-settings"])
    expect(result, rn.OK)
    assert str(settings.state_dir) in result.stdout, result.report()

    # --config FILE beats $BERTH_CONFIG.
    other = tmp_path / "other.yaml"
    other.write_text(f'state_dir: "{tmp_path / "other-state"}"\n')
    env = dict(os.environ, BERTH_CONFIG=str(other))
    by_hand = subprocess.run([str(berth_bin), "--config", str(settings.path), "config",
                              "--show-settings"], env=env, capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
    assert by_hand.returncode == 0, by_hand.stderr
    assert str(settings.state_dir) in by_hand.stdout
    assert str(tmp_path / "other-state") not in by_hand.stdout


@pytest.mark.parametrize("command", [["config", "--show-settings"], ["kubeconfig"], ["login"]])
def test_bad_settings_fail_cleanly_in_every_command(runner, settings, command):
    # Under the sanitizers a leak on this path turns the exit code into LeakSanitizer's.
    settings.write_text("state_dir: /x\nunknown_key: 1\n")
    result = runner.job(812, **ODD_CODES).invoke(command[0], command[1:])
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert "unknown setting 'unknown_key' in " in result.stderr
    assert "berth.yaml:2 (settings: " in result.stderr
