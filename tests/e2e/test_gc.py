"""`berth gc` (docs/gc.md), end to end: stale workspaces go, wiped; busy and recent ones stay.

A stale workspace is made the way it happens: `berth prepare` SIGKILLed while it checks the
job's kubeconfig against a cluster that accepts the connection and never answers, so the
kubeconfig (with a canary token) is already on disk and cleanup never runs. A descriptor on
that file, opened before gc, shows whether gc overwrote it before unlinking (a hard link would
not: berth never overwrites a file with a second link, which a job could point anywhere).
"""

import base64
import os
import shutil
import signal
import socket
import subprocess
import time

from pathlib import Path

import pytest

from lib import runner as rn

HOURS = 3600
GC_AGE = 2 * HOURS


def kubeconfig(server, token):
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
            f"    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n"
            f"  user:\n    token: {token}\ncontexts:\n- name: x\n  context:\n    cluster: c\n"
            f"    user: u\ncurrent-context: x\n")


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never says a word: its URL, whose
    wait_connected() returns once a client has connected."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = SilentServer(f"https://127.0.0.1:{sock.getsockname()[1]}")
    server.sock, server.conns = sock, []
    yield server
    for conn in server.conns:
        conn.close()
    sock.close()


class SilentServer(str):
    def wait_connected(self, timeout=60):
        """Take the next connection (and keep it open, unanswered): a client is waiting."""
        self.sock.settimeout(timeout)
        try:
            conn, _ = self.sock.accept()
        except socket.timeout:
            raise AssertionError(f"nothing connected to {self} within {timeout}s") from None
        self.conns.append(conn)


def gc(berth_bin, settings, *args):
    env = dict(os.environ, BERTH_CONFIG=str(settings.path))
    return subprocess.run([str(berth_bin), "gc", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def age(workspace, seconds):
    """Make the workspace look idle for SECONDS (its state record's time, as run sets it)."""
    when = time.time() - seconds
    for path in (workspace / "state", workspace):
        if path.exists():
            os.utime(path, (when, when))


def killed_prepare(runner, settings, job_id, server, token):
    """A job whose prepare was SIGKILLed mid-way: its workspace holds the kubeconfig."""
    job = runner.job(job_id, variables={"WERF_KUBECONFIG_BASE64": base64.b64encode(
        kubeconfig(server, token).encode()).decode()}, masked={"WERF_KUBECONFIG_BASE64"})
    assert job.run("config").ok, job.results
    stage = job.start("prepare")
    workspace = settings.jobs_dir() / str(job_id)
    assert rn.wait_for(lambda: (workspace / "kube" / "config").exists(), 60), \
        "prepare never wrote the kubeconfig"
    server.wait_connected()  # in the preflight now, waiting on the silent server
    os.killpg(stage.proc.pid, signal.SIGKILL)
    stage.proc.wait(60)
    return job, workspace


def test_stale_workspace_of_a_killed_prepare_is_wiped_and_removed(berth_bin, settings, runner,
                                                                  silent_server):
    settings.write(gc_age=GC_AGE, kube_timeout=30)
    token = "canary-gc-token-7f3a"
    job, workspace = killed_prepare(runner, settings, 9601, silent_server, token)
    held = os.open(workspace / "kube" / "config", os.O_RDONLY)
    assert token.encode() in os.pread(held, 65536, 0)

    young = gc(berth_bin, settings)
    assert young.returncode == 0, young.stderr
    assert workspace.exists(), "a workspace younger than gc_age went"
    assert "0 stale workspace(s) removed" in young.stdout, young.stdout

    age(workspace, GC_AGE + 60)
    dry = gc(berth_bin, settings, "--dry-run")
    assert dry.returncode == 0 and "would remove" in dry.stdout, dry
    assert workspace.exists(), "--dry-run removed something"

    res = gc(berth_bin, settings)
    assert res.returncode == 0, res.stderr
    assert f"removed {workspace} (job 9601" in res.stdout, res.stdout
    assert "1 stale workspace(s) removed" in res.stdout
    assert not workspace.exists()
    data = os.pread(held, 65536, 0)
    os.close(held)
    assert data and token.encode() not in data and data.strip(b"\0") == b"", (
        "the kubeconfig was unlinked without being overwritten first")
    assert token not in res.stdout + res.stderr
    job.remove_tmp()


def test_workspace_in_use_stays_however_old(berth_bin, settings, runner, scratch):
    settings.write(gc_age=GC_AGE)
    marker = scratch / "running"
    job = runner.job(9602, scripts={"build_script": [f"touch {marker}", "sleep 30"]})
    try:
        assert job.config_and_prepare(), job.results
        assert job.run("get_sources").ok, job.results
        stage = job.start("build_script")
        assert rn.wait_for(marker.exists, 60)
        age(settings.jobs_dir() / str(job.id), 10 * HOURS)
        res = gc(berth_bin, settings)
        assert res.returncode == 0, res.stderr
        assert (settings.jobs_dir() / str(job.id)).exists(), f"gc removed a workspace whose job runs:\n{res.stdout}"
        assert "0 stale workspace(s) removed" in res.stdout, res.stdout
        stage.cancel(grace=2)
    finally:
        job.cleanup()
        job.remove_tmp()


def test_a_stage_starting_makes_the_workspace_young_again(berth_bin, settings, runner):
    settings.write(gc_age=GC_AGE)
    job = runner.job(9603)
    try:
        assert job.config_and_prepare(), job.results
        age(settings.jobs_dir() / str(job.id), 10 * HOURS)
        assert job.run("get_sources").ok, job.results
        res = gc(berth_bin, settings)
        assert res.returncode == 0 and (settings.jobs_dir() / str(job.id)).exists(), res.stdout
    finally:
        job.cleanup()
        job.remove_tmp()


def test_gc_without_jobs_and_usage(berth_bin, settings):
    res = gc(berth_bin, settings)
    assert res.returncode == 0 and "0 stale workspace(s) removed" in res.stdout, res
    bad = gc(berth_bin, settings, "--force")
    assert bad.returncode != 0 and "usage: berth gc" in bad.stderr, bad



def test_gc_without_the_capabilities_to_see_processes_removes_nothing(berth_bin, settings):
    """gc tells a busy workspace by the environment of every process. Without CAP_SYS_PTRACE
    root cannot read that of another user's process (which here carries the workspace's
    marker), so gc cannot tell whether the workspace is in use: it removes nothing and says
    what it needs."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv")
    settings.write(gc_age=GC_AGE)
    workspace = settings.jobs_dir() / "9610"
    workspace.mkdir(parents=True)
    (workspace / "state").write_text("project_id 7\n")
    age(workspace, 10 * HOURS)
    sleeper = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                "env", f"BERTH_JOB_DIR={workspace}", "sleep", "120"])
    try:
        cmdline = Path(f"/proc/{sleeper.pid}/cmdline")
        assert rn.wait_for(lambda: cmdline.read_bytes().startswith(b"sleep\0"), 30), \
            "the other user's process never started"
        res = subprocess.run(["setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace",
                              str(berth_bin), "gc"], capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, BERTH_CONFIG=str(settings.path)))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert res.returncode == rn.RUNNER_SYSTEM_FAILURE_EXIT_CODE, res
    assert "CAP_SYS_PTRACE" in res.stderr and "in use" in res.stderr, res.stderr
    assert workspace.is_dir(), f"gc removed a workspace it could not tell was unused:\n{res.stdout}"
