"""Every job in a cgroup of its own (docs/cgroups.md), driven as GitLab Runner drives berth.

prepare makes the job's cgroup and says so in the job log; every stage's processes start in it,
whatever executor and user they run as; cleanup ends the job by killing the cgroup, so a process
that left the stage's process group, cleared its environment and double-forked (which the /proc
scan cannot find) dies all the same. Limits and accounting come from the same cgroup: tested
where this machine has the controller, skipped with the reason where it has not.

The tests that use job users need the `accounts` fixture: run this file under
`flock /tmp/berth-jobusers.lock`.
"""

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from lib import runner as rn
from lib.settings import Settings
from test_job_users import accounts, admin_files, berth_bin, job_settings  # noqa: F401 fixtures
from test_gc import age, gc
from test_protocol import assert_all_dead, describe_pids, expect, job_processes

V2_MOUNTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")


@pytest.fixture
def shell(berth_bin, tmp_path):  # noqa: F811
    """(runner, settings, scratch) on the shell executor alone, for what bwrap would change:
    its PID namespace ends every process with berth, its cgroup namespace shows "/"."""
    settings = Settings(tmp_path, "shell")
    scratch = settings.cache_dir / "e2e-scratch"
    scratch.mkdir(parents=True)
    root = tmp_path / "runner"
    root.mkdir()
    runner = rn.Runner(berth_bin, root, settings=settings.path)
    yield runner, settings, scratch
    runner.close()


def prepared(job):
    """config and prepare; the job's v2 cgroup directory from prepare's job log line."""
    assert job.config_and_prepare(), job.results
    log = "".join(r.stdout + r.stderr for r in job.results if r.stage == "prepare")
    found = re.search(r"cgroup v2 at ([^,\s]+)", log)
    if not found:
        reason = re.search(r"no usable cgroup[^\n]*", log)
        pytest.skip(f"no cgroup for the job on this machine: "
                    f"{reason.group(0) if reason else log}")
    return Path(found.group(1)), log


def relative(directory):
    """The cgroup path /proc/PID/cgroup shows for a v2 directory."""
    for mount in V2_MOUNTS:
        if str(directory).startswith(mount + "/"):
            return str(directory)[len(mount):]
    raise AssertionError(f"{directory} is below no v2 mount")


def v2_cgroup_of(pid):
    """PID's v2 cgroup ("0::PATH"), or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:]
    except OSError:
        return None
    return None


def members(directory):
    """The processes in a cgroup directory (none when it is gone)."""
    try:
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def kill_berth(stage):
    """The runner gives up on a stage: SIGKILL to berth's group, berth alone dies."""
    os.killpg(stage.pgid, signal.SIGKILL)
    stage.proc.wait(60)


def start_build(job, mark):
    """The stages before build_script, then build_script started until it touched MARK."""
    for stage in rn.STAGES_BEFORE_SCRIPT:
        expect(job.run(stage), rn.OK)
    running = job.start("build_script")
    assert rn.wait_for(lambda: mark.exists() or not running.running(), 60), "no start"
    assert mark.exists(), f"build_script did not start: {running.wait()}"
    return running


# Leaves the script's group and session, clears its environment (no BERTH_JOB_DIR for the /proc
# scan to find) and holds none of berth's pipes; the second one double-forks as well, so that
# its parent is gone before anyone looks.
ESCAPES = [
    "setsid env -i sh -c 'echo $$ $(readlink /proc/self/ns/pid) >> \"$0\"; exec sleep 1000' "
    "\"$PIDS\" </dev/null >/dev/null 2>&1 &",
    "( setsid env -i sh -c 'sleep 1000 & echo $! $(readlink /proc/self/ns/pid) >> \"$0\"' "
    "\"$PIDS\" </dev/null >/dev/null 2>&1 & )",
]


def escape_job(runner, job_id):
    """A job whose build_script starts ESCAPES; the script writes where every executor and
    user can, its TMPDIR in the workspace: escape_files(job) finds them after config."""
    job = runner.job(job_id, scripts={
        "build_script": ['PIDS="$TMPDIR/pids"', *ESCAPES,
                         'until [ "$(cat "$PIDS" 2>/dev/null | wc -l)" -ge 2 ]; do',
                         '  sleep 0.05', 'done',
                         'touch "$TMPDIR/started"', "sleep 1000"]})
    return job


def escape_files(job):
    """(pids, mark) of an escape_job, once config has named its workspace."""
    return job.workspace / "tmp" / "pids", job.workspace / "tmp" / "started"


def check_escapes_end_at_cleanup(runner, job, executor):
    """In the sandbox its PID namespace ends them when bwrap dies with berth; on the shell
    executor only the cgroup can."""
    directory, _ = prepared(job)
    pids, mark = escape_files(job)
    running = start_build(job, mark)
    escaped = rn.read_pids(pids)
    assert len(escaped) == 2, (pids.read_text(), escaped)  # both still run
    runner.extra_pids.update(escaped)
    for pid in escaped:
        env = rn.proc_environ(pid)
        assert env and not any(e.startswith(b"BERTH_JOB_DIR=") for e in env), \
            f"{pid} kept the job's mark: {env}"
        assert v2_cgroup_of(pid) == relative(directory), v2_cgroup_of(pid)
    kill_berth(running)
    if executor == "shell":
        assert all(rn.alive(p) for p in escaped), "the escapes died with berth: no test"

    cleanup = job.cleanup()
    expect(cleanup, rn.OK)
    assert_all_dead(escaped, what="escaped processes after cleanup")
    assert not directory.exists(), f"cleanup left the job's cgroup {directory}"
    if executor == "shell":
        assert re.search(r"ended [1-9]\d* leftover process", cleanup.stdout + cleanup.stderr), \
            cleanup.report()
    job.remove_tmp()


# -- where the job's processes are ------------------------------------------------------------

def test_prepare_names_the_cgroup_and_cleanup_removes_it(runner, scratch):
    out = scratch / "cgroup"
    job = runner.job(1701, variables={"OUT": str(out)}, scripts={
        "build_script": ['sleep 1000 </dev/null >/dev/null 2>&1 &',
                         'echo $! $(readlink /proc/self/ns/pid) > "$OUT"']})
    directory, log = prepared(job)
    assert directory.is_dir()
    assert directory.name.startswith("1701-"), directory
    expect(job.run("get_sources"), rn.OK)
    running = job.start("build_script")
    assert rn.wait_for(lambda: rn.read_pids(out) or not running.running(), 60)
    expect(running.wait(), rn.OK)
    expect(job.cleanup(), rn.OK)
    assert not directory.exists()
    assert not job_processes(job), describe_pids(job_processes(job))


def job_cgroups(job_id):
    """Every cgroup directory, v2 or v1, that berth made for a job of this id."""
    return sorted(Path("/sys/fs/cgroup").glob(f"**/{'berth'}/{job_id}-*"))


def test_a_prepare_that_fails_after_making_the_cgroup_removes_it(shell):
    runner, settings, _ = shell
    probe = runner.job(1790)
    directory, _ = prepared(probe)  # skips where the job gets no cgroup
    expect(probe.cleanup(), rn.OK)
    job = runner.job(1791)
    # The state record cannot be written (its temporary file's name is a directory): prepare
    # fails after the cgroup is made, and nothing records where it is.
    (settings.state_dir / "jobs" / "1791" / ".state.tmp").mkdir(parents=True)
    expect(job.run("config"), rn.OK)
    res = job.run("prepare")  # once: no retry, whose cleanup would take the workspace away
    assert not res.ok and "cannot write" in res.stderr, res.report()
    assert job_cgroups(1791) == []
    assert not directory.exists()


def test_every_stage_process_starts_in_the_jobs_cgroup(runner, scratch):
    mark = scratch / "started"
    job = runner.job(1702, variables={"MARK": str(mark)}, scripts={
        "build_script": ["sleep 1000 &", "sh -c 'sleep 1000' &", 'touch "$MARK"', "wait"]})
    directory, _ = prepared(job)
    running = start_build(job, mark)
    # berth itself stays where the runner started it: only what it starts is the job's
    script = lambda: [p for p in job_processes(job) if p != running.proc.pid]  # noqa: E731
    assert rn.wait_for(lambda: len(script()) >= 3, 60)
    inside = script()
    runner.extra_pids.update(inside)
    wrong = {p: v2_cgroup_of(p) for p in inside if v2_cgroup_of(p) not in
             (None, relative(directory))}
    assert not wrong, f"job processes outside {directory}: {wrong}"
    assert set(inside) <= set(members(directory)) | {p for p in inside if not rn.alive(p)}
    kill_berth(running)
    expect(job.cleanup(), rn.OK)
    assert_all_dead(inside, what="the job's processes")
    assert not directory.exists()


# -- escapes ----------------------------------------------------------------------------------

def test_escapes_die_at_cleanup_after_berth_run_is_killed(runner, executor):
    check_escapes_end_at_cleanup(runner, escape_job(runner, 1710), executor)


def test_escapes_of_a_job_user_die_at_cleanup(job_settings, berth_bin, tmp_path):  # noqa: F811
    root = tmp_path / "runner"
    root.mkdir()
    runner = rn.Runner(berth_bin, root, settings=job_settings.path)
    try:
        check_escapes_end_at_cleanup(runner, escape_job(runner, 1711),
                                     job_settings.values["executor"])
    finally:
        runner.close()


def test_without_cgroups_the_escape_survives_cleanup(shell):
    """The attack is real: with `cgroup: off` the /proc scan cannot find the escapes."""
    runner, settings, _ = shell
    settings.write(cgroup=False)
    job = escape_job(runner, 1712)
    assert job.config_and_prepare(), job.results
    pids, mark = escape_files(job)
    log = "".join(r.stderr for r in job.results if r.stage == "prepare")
    assert "no cgroup (the settings say cgroup: off): /proc scan" in log, log
    running = start_build(job, mark)
    escaped = rn.read_pids(pids)
    try:
        kill_berth(running)
        expect(job.cleanup(), rn.OK)
        assert len(escaped) == 2 and all(rn.alive(p) for p in escaped), \
            "the /proc scan caught an escape: the escape test proves nothing"
    finally:
        rn.kill_pids(escaped)


# -- berth gc: a dead runner's job ---------------------------------------------------------

def test_gc_keeps_a_job_whose_cgroup_holds_an_escape_and_removes_it_empty(shell, berth_bin):
    """The escape carries no marker: only the cgroup shows the workspace is still in use."""
    runner, settings, _ = shell
    job = escape_job(runner, 1715)
    directory, _ = prepared(job)
    pids, mark = escape_files(job)
    running = start_build(job, mark)
    escaped = rn.read_pids(pids)
    runner.extra_pids.update(escaped)
    kill_berth(running)  # the runner died: no cleanup comes
    workspace = job.workspace
    settings.write(gc_age="1h")
    age(workspace, 2 * 3600)
    rn.kill_pids([p for p in members(directory) if p not in escaped])  # all but the escapes

    kept = gc(berth_bin, settings)
    assert kept.returncode == 0, kept.stderr
    assert workspace.exists() and directory.exists(), kept.stdout + kept.stderr
    assert all(rn.alive(p) for p in escaped)

    rn.kill_pids(escaped)  # what the admin would do, or the escapes ending by themselves
    assert rn.wait_for(lambda: not members(directory), 30), members(directory)
    removed = gc(berth_bin, settings)
    assert removed.returncode == 0, removed.stderr
    assert f"removed {workspace}" in removed.stdout, removed.stdout + removed.stderr
    assert not workspace.exists()
    assert not directory.exists(), "gc left the stale job's cgroup"
    job.remove_tmp()


# -- many processes, many jobs ----------------------------------------------------------------

@pytest.mark.parametrize("how", ["cancel", "sigkill"])
def test_a_job_with_500_processes_ends(runner, scratch, executor, how):
    mark = scratch / "started"
    job = runner.job(1720, variables={"MARK": str(mark)}, scripts={
        "build_script": ["for i in $(seq 500); do sleep 1000 </dev/null >/dev/null 2>&1 & done",
                         'touch "$MARK"', "wait"]})
    directory, _ = prepared(job)
    running = start_build(job, mark)
    assert rn.wait_for(lambda: len(members(directory)) >= 500, 60), len(members(directory))
    before = members(directory)
    runner.extra_pids.update(before)
    if how == "cancel":
        result = running.cancel(grace=10)
        assert result.canceled and not result.killed, result.report()
    else:
        kill_berth(running)
    started = time.monotonic()
    cleanup = job.cleanup()
    took = time.monotonic() - started
    expect(cleanup, rn.OK)
    assert_all_dead(before, what="the job's 500 sleeps")
    assert not directory.exists()
    if how == "sigkill" and executor == "shell":  # bwrap's PID namespace ends with berth
        found = re.search(r"ended (\d+) leftover", cleanup.stdout + cleanup.stderr)
        assert found and int(found.group(1)) >= 500, cleanup.report()
    # Not a benchmark (make bench is): a bound no /proc scan of a loaded host would need.
    assert took < 30, f"cleanup took {took:.1f}s"


def test_concurrent_jobs_each_see_only_their_own_cgroup(shell):
    runner, _, scratch = shell
    go = scratch / "go"
    try:
        jobs, dirs, running = [], [], []
        for i, job_id in enumerate((1730, 1731)):
            out, mark = scratch / f"cgroup-{i}", scratch / f"started-{i}"
            job = runner.job(job_id, concurrent_id=i, variables={
                "OUT": str(out), "MARK": str(mark), "GO": str(go)}, scripts={
                "build_script": ['grep "^0::" /proc/self/cgroup > "$OUT"',
                                 'touch "$MARK"',
                                 'while [ ! -e "$GO" ]; do sleep 0.05; done']})
            directory, _ = prepared(job)
            jobs.append((job, out))
            dirs.append(directory)
            running.append(start_build(job, mark))
        assert dirs[0] != dirs[1]
        for (job, out), directory, other in zip(jobs, dirs, reversed(dirs)):
            seen = out.read_text().strip()
            assert seen == "0::" + relative(directory), seen
            assert relative(other) not in seen
            assert not set(members(directory)) & set(members(other))
        go.touch()
        for (job, _), stage, directory in zip(jobs, running, dirs):
            expect(stage.wait(), rn.OK)
            expect(job.cleanup(), rn.OK)
            assert not directory.exists()
    finally:
        go.touch()


# -- limits -----------------------------------------------------------------------------------

def limited(summary, needle):
    if needle not in summary:
        pytest.skip(f"this machine cannot set the limit ({needle}): {summary.strip()}")


def stopped_by_limit(job, limit, message):
    """The job's build_script fails on its LIMIT (skipped where prepare could not set it), and
    the job log says MESSAGE; cleanup then goes as always."""
    _, log = prepared(job)
    limited(log, limit)
    expect(job.run("get_sources"), rn.OK)
    result = job.run("build_script")
    expect(result, rn.BUILD_FAILURE)
    assert message in result.stderr, result.report()
    expect(job.cleanup(), rn.OK)


def test_fork_bomb_hits_the_process_limit_while_another_job_runs(runner, settings, scratch):
    settings.write(job_pids_max=64)
    go, other_started = scratch / "go", scratch / "other-started"
    other = runner.job(1741, concurrent_id=1, variables={
        "GO": str(go), "MARK": str(other_started)}, scripts={
        "build_script": ['touch "$MARK"', 'while [ ! -e "$GO" ]; do sleep 0.05; done',
                         "for i in $(seq 30); do /bin/true; done", "echo other job ok"]})
    _, log = prepared(other)
    limited(log, "processes 64")
    other_running = start_build(other, other_started)

    # Bounded: 200 at most, each gone in 30 s; dash gives up on the first refused fork.
    bomb = runner.job(1740, scripts={"build_script": [
        "sh -c 'i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; wait'"]})
    stopped_by_limit(bomb, "processes 64", "the job hit its process limit of 64 (job_pids_max)")

    go.touch()
    done = other_running.wait()
    expect(done, rn.OK)
    assert "other job ok" in done.stdout
    assert "limit" not in done.stderr, done.report()
    expect(other.cleanup(), rn.OK)


def test_job_over_its_memory_limit_fails_naming_the_limit(runner, settings):
    settings.write(job_memory_max="64MiB")
    job = runner.job(1750, scripts={"build_script": [
        "python3 -c 'x = b\"x\" * (512 << 20); print(len(x))'"]})
    stopped_by_limit(job, "memory 64 MiB",
                     "the job hit its memory limit of 64 MiB (job_memory_max)")


# -- accounting -------------------------------------------------------------------------------

BURN = ("python3 -c 'import time\nt = time.process_time()\n"
        "while time.process_time() - t < 0.5: pass'")


def test_stage_log_and_metrics_count_cpu_and_memory(runner, settings, tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    settings.write(metrics_dir=str(metrics))
    job = runner.job(1760, scripts={"build_script": [BURN]})
    prepared(job)
    for stage in rn.STAGES_BEFORE_SCRIPT:
        expect(job.run(stage), rn.OK)
    expect(job.run("build_script"), rn.OK)
    expect(job.cleanup(), rn.OK)
    lines = [json.loads(line) for line in
             (settings.state_dir / "stages.log").read_text().splitlines()]
    build = next(line for line in lines if line["stage"] == "build_script")
    clean = next(line for line in lines if line["command"] == "cleanup")
    get_sources = next(line for line in lines if line["stage"] == "get_sources")
    assert build["cpu_seconds"] >= 0.45, build
    assert get_sources["cpu_seconds"] < build["cpu_seconds"], get_sources
    assert clean["cpu_seconds"] >= build["cpu_seconds"], clean
    for line in (build, clean):
        # the existing fields stay as they were
        assert {"time", "job", "stage", "duration_ms", "result", "exit_code"} <= set(line)
        if "memory_peak_bytes" in line:
            assert line["memory_peak_bytes"] > 1 << 20, line
    prom = (metrics / "berth.prom").read_text()
    found = re.search(r'^berth_job_cpu_seconds_total (\S+)$', prom, re.M)
    assert found and float(found.group(1)) >= 0.45, prom
    # a job's peak is observed where the host measures it: the log line says whether it does
    peaks = "1" if "memory_peak_bytes" in clean else "0"
    assert re.search(rf"^berth_job_memory_peak_bytes_count {peaks}$", prom, re.M), prom
    assert re.search(r'^berth_job_memory_peak_bytes_bucket\{le="67108864"\} ', prom, re.M), prom
