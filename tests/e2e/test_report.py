"""The stage log and the Prometheus textfile metrics (docs/operations.md), end to end.

Jobs go through the runner harness with `metrics_dir` set: one that passes, one whose script
fails, one whose kubeconfig is refused, one whose registry variables do not add up, one whose
registry login fails on the system, one canceled, and a deploy that waits for its lock while
another job runs. The metrics file is parsed as node_exporter would read it and checked by
Prometheus' own `promtool check metrics`; the log, one JSON line per stage, is parsed line by
line. A canary password in the jobs' variables must appear in neither.
"""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from lib import runner as rn

SERIES = re.compile(r'^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+-]+)$')
RESULTS = ("success", "build_failure", "system_failure", "canceled")
CLASSES = ("deploy", "cleanup", "registry", "other")


def parse_metrics(path):
    """{series: value}; every family has HELP and TYPE before its series, once."""
    values, typed = {}, {}
    for line in path.read_text().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name not in typed, f"TYPE twice: {line}"
            typed[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        m = SERIES.match(line)
        assert m, f"not a Prometheus text line: {line!r}"
        family = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or typed.get(family) == "histogram", \
            f"series before its TYPE: {line}"
        values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return values


def promtool_check(path):
    """Prometheus' linter on the file as berth wrote it: no finding at all."""
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed: `make deps` installs Debian's prometheus")
    with open(path, "rb") as f:
        out = subprocess.run([promtool, "check", "metrics"], stdin=f, capture_output=True,
                             text=True, timeout=60)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def buckets(m, family, labels=""):
    """[(le, count)] of one histogram series, in the file's order, checked cumulative."""
    sep = "," if labels else ""
    found = [(key.rsplit('le="', 1)[1][:-2], value) for key, value in m.items()
             if key.startswith(f"{family}_bucket{{{labels}{sep}le=")]
    counts = [value for _, value in found]
    assert found and counts == sorted(counts), found
    assert found[-1] == ("+Inf", m[f"{family}_count" + (f"{{{labels}}}" if labels else "")])
    return found


def log_lines(settings):
    path = settings.state_dir / "stages.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def metrics(settings, tmp_path):
    directory = tmp_path / "textfile"
    directory.mkdir()
    settings.write(metrics_dir=str(directory))
    return directory / "berth.prom"


def run_job(runner, job_id, **kw):
    job = runner.job(job_id, **kw)
    try:
        if job.config_and_prepare():
            job.run("get_sources")
            job.run("build_script")
            job.run("after_script")
    finally:
        job.cleanup()
        job.remove_tmp()
    return job


def cancel_job(runner, job_id, scratch):
    """The runner's cancel while the job's script runs: SIGTERM to the stage, then cleanup."""
    started = scratch / f"started-{job_id}"
    job = runner.job(job_id, scripts={"build_script": f"touch {started}; sleep 600"})
    try:
        assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
        stage = job.start("build_script")
        assert rn.wait_for(started.exists, 60), "the script never started"
        assert stage.cancel(grace=30).canceled
    finally:
        job.cleanup()
        job.remove_tmp()


CANARY = "canary-report-pw-41c9"


def test_jobs_stages_and_failures_are_counted(runner, settings, metrics, scratch):
    run_job(runner, 9701, scripts={"build_script": "true"},
            variables={"SOME_PASSWORD": CANARY}, masked={"SOME_PASSWORD"})
    run_job(runner, 9702, scripts={"build_script": "exit 3"})
    bad_kube = base64.b64encode(b"not: [a kubeconfig").decode()
    run_job(runner, 9703, variables={"WERF_KUBECONFIG_BASE64": bad_kube},
            masked={"WERF_KUBECONFIG_BASE64"})
    # the job's own registry variables do not add up: its configuration, not a login
    run_job(runner, 9707, variables={"WERF_REPO": "127.0.0.1:1/g/app", "WERF_USERNAME": "u"})
    cancel_job(runner, 9708, scratch)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    settings.write(registries=[{"host": f"127.0.0.1:{port}", "plain_http": True}],
                   registry_timeout=2)
    run_job(runner, 9704, variables={"WERF_REPO": f"127.0.0.1:{port}/g/app",
                                     "WERF_USERNAME": "u", "WERF_PASSWORD": CANARY},
            masked={"WERF_PASSWORD"})

    promtool_check(metrics)
    m = parse_metrics(metrics)
    # A cleanup with a workspace to clean counts: the runner retries a prepare that failed
    # on the system (3 attempts for 9704); the harness's last cleanup finds nothing.
    jobs = {r: m[f'berth_jobs_total{{result="{r}"}}'] for r in RESULTS}
    assert jobs == {"success": 1, "build_failure": 3, "system_failure": 3, "canceled": 1}, m
    assert m['berth_stages_total{stage="build_script",result="success"}'] == 1, m
    assert m['berth_stages_total{stage="build_script",result="build_failure"}'] == 1, m
    assert m['berth_stages_total{stage="build_script",result="canceled"}'] == 1, m
    assert m['berth_stages_total{stage="prepare",result="system_failure"}'] == 3, m
    assert m['berth_stages_total{stage="cleanup",result="success"}'] >= 6, m
    assert not [k for k in m if re.search(r'result="(ok|failed)"', k)], m
    assert m["berth_kubeconfig_failures_total"] == 1, m
    assert m["berth_config_failures_total"] == 1, m
    assert m['berth_registry_logins_total{result="system_failure"}'] == 3, m  # per attempt
    assert m['berth_registry_logins_total{result="success"}'] == 0, m
    assert m['berth_build_info{version="%s"}' % berth_version(runner)] == 1, m

    prepares = buckets(m, "berth_stage_duration_seconds", 'stage="prepare"')
    assert [le for le, _ in prepares][:3] == ["0.1", "0.5", "1"], prepares
    assert prepares[-1][1] == 8, prepares  # 9704 three times
    assert m['berth_stage_duration_seconds_sum{stage="prepare"}'] > 0, m
    for c in CLASSES:  # nothing waited: still a series per class, at 0
        assert buckets(m, "berth_lock_wait_seconds", f'class="{c}"')[-1][1] == 0, m
        assert m[f'berth_lock_holders{{class="{c}"}}'] == 0, m
        assert m[f'berth_lock_waiters{{class="{c}"}}'] == 0, m
    assert m["berth_jobs_running"] == 0, m
    assert m['berth_workspaces{state="active"}'] == m['berth_workspaces{state="stale"}'] == 0
    assert m['berth_job_users{state="in_use"}'] == m['berth_job_users{state="free"}'] == 0
    assert m["berth_state_dir_free_bytes"] > 0, m
    assert m["berth_gc_last_success_timestamp_seconds"] == 0, m
    assert (metrics.stat().st_mode & 0o777) == 0o644
    assert not list(metrics.parent.glob(".berth.prom.*")), "a temp file was left"

    lines = log_lines(settings)
    always = {"time", "job", "project", "command", "stage", "duration_ms", "result",
              "exit_code", "lock_wait_ms"}
    measured = {"cpu_seconds", "memory_peak_bytes"}  # where the job has a cgroup: cgroups.md
    for line in lines:
        assert always <= set(line) <= always | measured, line
        assert line["command"] in ("run", "cleanup") or not set(line) & measured, line
    by_job = {}
    for line in lines:
        by_job.setdefault(line["job"], []).append((line["stage"], line["result"]))
    assert by_job["9701"] == [("prepare", "ok"), ("get_sources", "ok"),
                              ("build_script", "ok"), ("after_script", "ok"),
                              ("cleanup", "ok")], by_job["9701"]
    assert ("build_script", "build_failure") in by_job["9702"], by_job["9702"]
    assert ("prepare", "build_failure") in by_job["9703"], by_job["9703"]
    everything = metrics.read_text() + (settings.state_dir / "stages.log").read_text()
    assert CANARY not in everything


def berth_version(runner):
    out = subprocess.run([str(runner.berth), "--version"], capture_output=True, text=True,
                         check=True).stdout
    return out.split()[1]


def gauges_show(metrics, want):
    """True once berth.prom has every series of `want` at its value."""
    if not metrics.exists():
        return False
    m = parse_metrics(metrics)
    return all(m.get(series) == value for series, value in want.items())


def test_lock_wait_and_gauges_while_jobs_run(runner, settings, metrics, berth_bin, scratch):
    """The job waits behind a holder that lets go only once the job has queued, another job
    has come and gone, and 0.6 s more have passed: the wait is at least that long however
    slow the machine is. The waiting stage writes the gauges itself as it starts to wait (no
    other stage need end for the lock alerts to see the queue); the other job's file shows the
    lock's holder and waiter, and the waiting job as the one running."""
    key = "deploy/1000/production"
    gate = scratch / "gate"
    env = {"BERTH_CONFIG": str(settings.path), "PATH": "/usr/bin:/bin"}
    holder = subprocess.Popen([str(berth_bin), "lock", key, "--", "sh", "-c",
                               f"while [ ! -e {gate} ]; do sleep 0.01; done"], env=env)
    job = runner.job(9705, scripts={"build_script": "true"},
                     variables={"CI_ENVIRONMENT_SLUG": "production"})
    try:
        assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
        job.run("get_sources")
        stage = job.start("build_script")

        def queued():
            entry = rn.lock_entry(rn.locks_json(berth_bin, env), key)
            return entry and len(entry.get("waiters") or []) == 1
        assert rn.wait_for(queued, 60), rn.locks_json(berth_bin, env)
        waiting = {'berth_lock_holders{class="deploy"}': 1, 'berth_lock_waiters{class="deploy"}': 1}
        assert rn.wait_for(lambda: gauges_show(metrics, waiting), 60), \
            metrics.read_text() if metrics.exists() else "no berth.prom"
        run_job(runner, 9709, scripts={"build_script": "true"})
        during = parse_metrics(metrics)
        time.sleep(0.6)  # only lengthens the wait, which the gate holds
        gate.touch()
        assert stage.wait().ok
        job.run("after_script")
    finally:
        gate.touch()
        holder.wait(10)
        job.cleanup()
        job.remove_tmp()
    assert during['berth_lock_holders{class="deploy"}'] == 1, during
    assert during['berth_lock_waiters{class="deploy"}'] == 1, during
    assert during["berth_jobs_running"] == 1, during
    assert during['berth_workspaces{state="active"}'] == 1, during
    m = parse_metrics(metrics)
    waits = buckets(m, "berth_lock_wait_seconds", 'class="deploy"')
    assert waits[-1][1] == 1 and dict(waits)["0.5"] == 0, waits
    assert m['berth_lock_wait_seconds_sum{class="deploy"}'] >= 0.5, m
    assert buckets(m, "berth_lock_wait_seconds", 'class="other"')[-1][1] == 0, m
    assert m['berth_lock_holders{class="deploy"}'] == 0, m
    assert m["berth_jobs_running"] == 0, m
    waits = [line["lock_wait_ms"] for line in log_lines(settings)
             if line["job"] == "9705" and line["stage"] == "build_script"]
    assert waits and waits[0] >= 500, waits


def test_lock_gauges_with_the_kubernetes_backend(runner, settings, metrics, kube_api, tmp_path,
                                                scratch):
    """The cluster's Leases are a request away, so the gauges come from this runner's stage
    records: a deploy holding the lock and one waiting for it, then neither."""
    from test_locks import use_kubernetes
    use_kubernetes(settings, kube_api, tmp_path)
    gate = scratch / "gate"
    deploy = {"CI_ENVIRONMENT_SLUG": "production"}
    first = runner.job(9721, variables=deploy,
                       scripts={"build_script": f"until [ -e {gate} ]; do sleep 0.01; done"})
    second = runner.job(9722, variables=deploy, scripts={"build_script": "true"})
    stages = []
    try:
        for job in (first, second):
            assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
            assert job.run("get_sources").ok
            stages.append(job.start("build_script"))
            both = {'berth_lock_holders{class="deploy"}': 1,
                    'berth_lock_waiters{class="deploy"}': len(stages) - 1}
            assert rn.wait_for(lambda: gauges_show(metrics, both), 60), \
                metrics.read_text() if metrics.exists() else "no berth.prom"
        gate.touch()
        assert all(stage.wait().ok for stage in stages)
    finally:
        gate.touch()
        for job in (first, second):
            job.cleanup()
            job.remove_tmp()
    m = parse_metrics(metrics)
    assert m['berth_lock_holders{class="deploy"}'] == 0 and \
        m['berth_lock_waiters{class="deploy"}'] == 0, m
    assert buckets(m, "berth_lock_wait_seconds", 'class="deploy"')[-1][1] == 2, m


def test_stale_workspaces_and_gc_time(runner, settings, metrics, berth_bin):
    """A workspace no stage has touched for longer than gc_age counts as stale until gc
    removes it; gc's success is the time the file then carries."""
    settings.write(gc_age="1h")
    job = runner.job(9710, scripts={"build_script": "true"})
    try:
        assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
        state = next((settings.state_dir / "jobs").glob("9710/state"))
        old = time.time() - 2 * 3600
        os.utime(state, (old, old))
        run_job(runner, 9711, scripts={"build_script": "true"})
        m = parse_metrics(metrics)
        assert m['berth_workspaces{state="stale"}'] == 1, m
        assert m['berth_workspaces{state="active"}'] == 0, m
        before = int(time.time())
        gc = subprocess.run([str(berth_bin), "--config", str(settings.path), "gc"],
                            capture_output=True, text=True, timeout=120)
        after = int(time.time())
        assert gc.returncode == 0 and "1 stale workspace(s) removed" in gc.stdout, gc
        promtool_check(metrics)
        m = parse_metrics(metrics)
        assert m['berth_workspaces{state="stale"}'] == 0, m
        assert before <= m["berth_gc_last_success_timestamp_seconds"] <= after, m
    finally:
        job.remove_tmp()


def test_log_off_and_no_metrics_by_default(runner, settings):
    settings.write(stage_log="off")
    run_job(runner, 9706, scripts={"build_script": "true"})
    assert not (settings.state_dir / "stages.log").exists()
    assert not (settings.state_dir / "metrics.json").exists()


def test_a_missing_metrics_dir_warns_and_fails_nothing(runner, settings, tmp_path):
    missing = tmp_path / "no-such-dir"
    settings.write(metrics_dir=str(missing))
    job = run_job(runner, 9712, scripts={"build_script": "true"})
    assert all(r.ok for r in job.results), "\n".join(r.report() for r in job.results)
    prepare = next(r for r in job.results if r.stage == "prepare")
    assert f"cannot write metrics into '{missing}'" in prepare.stderr, prepare.report()
    assert "drop metrics_dir from the settings" in prepare.stderr, prepare.report()
    assert not missing.exists()
