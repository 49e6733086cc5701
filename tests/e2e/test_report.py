"""The stage log and the Prometheus textfile metrics (docs/operations.md), end to end.

Jobs go through the runner harness with `metrics_dir` set: a passing one, a failing one, one
whose kubeconfig is refused, one whose registry login fails, and a deploy that waits for its
lock. The metrics file is parsed as node_exporter would read it; the log, one JSON line per
stage, is parsed line by line. A canary password in the jobs' variables must appear in
neither.
"""

import base64
import json
import re
import socket
import subprocess
import time

import pytest

from lib import runner as rn

SERIES = re.compile(r'^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+-]+)$')


def parse_metrics(path):
    """{series: value}; every family has HELP and TYPE before its series."""
    values, typed = {}, set()
    for line in path.read_text().splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = SERIES.match(line)
        assert m, f"not a Prometheus text line: {line!r}"
        family = re.sub(r"_(sum|count)$", "", m.group(1))
        assert m.group(1) in typed or family in typed, f"series before its TYPE: {line}"
        values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return values


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


CANARY = "canary-report-pw-41c9"


def test_jobs_stages_and_failures_are_counted(runner, settings, metrics):
    run_job(runner, 9701, scripts={"build_script": "true"},
            variables={"SOME_PASSWORD": CANARY}, masked={"SOME_PASSWORD"})
    run_job(runner, 9702, scripts={"build_script": "exit 3"})
    bad_kube = base64.b64encode(b"not: [a kubeconfig").decode()
    run_job(runner, 9703, variables={"WERF_KUBECONFIG_BASE64": bad_kube},
            masked={"WERF_KUBECONFIG_BASE64"})
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    settings.write(registries=[{"host": f"127.0.0.1:{port}", "plain_http": True}],
                   registry_timeout=2)
    run_job(runner, 9704, variables={"WERF_REPO": f"127.0.0.1:{port}/g/app",
                                     "WERF_USERNAME": "u", "WERF_PASSWORD": CANARY},
            masked={"WERF_PASSWORD"})

    m = parse_metrics(metrics)
    # A cleanup with a workspace to clean counts: the runner retries a prepare that failed
    # on the system (3 attempts for 9704); the harness's last cleanup finds nothing.
    assert m['berth_jobs_total{result="success"}'] == 1, m
    assert m['berth_jobs_total{result="failed"}'] == 2, m
    assert m['berth_jobs_total{result="system_failure"}'] == 3, m
    assert m['berth_stages_total{stage="build_script",result="ok"}'] == 1, m
    assert m['berth_stages_total{stage="build_script",result="build_failure"}'] == 1, m
    assert m['berth_stages_total{stage="cleanup",result="ok"}'] >= 4, m
    assert m["berth_kubeconfig_failures_total"] == 1, m
    assert m["berth_registry_login_failures_total"] == 3, m  # one per prepare attempt
    assert m['berth_stage_duration_seconds_count{stage="prepare"}'] >= 4, m
    assert m['berth_stage_duration_seconds_sum{stage="prepare"}'] > 0, m
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


def test_lock_wait_is_measured(runner, settings, metrics, berth_bin, scratch):
    """The job waits behind a holder that lets go only once the job has queued and 0.6 s more
    have passed: the wait is at least that long however slow the machine is."""
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
        time.sleep(0.6)  # only lengthens the wait, which the gate holds
        gate.touch()
        assert stage.wait().ok
        job.run("after_script")
    finally:
        gate.touch()
        holder.wait(10)
        job.cleanup()
        job.remove_tmp()
    m = parse_metrics(metrics)
    assert m["berth_lock_wait_seconds_count"] == 1, m
    assert m["berth_lock_wait_seconds_sum"] >= 0.5, m
    waits = [line["lock_wait_ms"] for line in log_lines(settings)
             if line["job"] == "9705" and line["stage"] == "build_script"]
    assert waits and waits[0] >= 500, waits


def test_log_off_and_no_metrics_by_default(runner, settings):
    settings.write(stage_log="off")
    run_job(runner, 9706, scripts={"build_script": "true"})
    assert not (settings.state_dir / "stages.log").exists()
    assert not (settings.state_dir / "metrics.json").exists()
