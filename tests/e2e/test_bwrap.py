"""The bwrap executor's sandbox (docs/bwrap.md), end to end, from inside a job.

Another job runs beside the one under test with registry logins and a kubeconfig of its own;
the job under test tries to reach them every way a process on the host could: by path, through
/proc/PID/root and /proc/PID/environ of the other job's processes, by listing processes and the
state dir. Each attempt is run under the shell executor too, where it must succeed: that proves
the attempts are real and the sandbox is what stops them. Then: the registry is reachable, and
is not with `bwrap_network: false`; a cancel ends everything in the sandbox; prepare says how
to fix a machine where bwrap cannot run. What the default, private network keeps out is in
attacks/test_bwrap_network.py.
"""

import fcntl
import os
import pty
import shlex
import shutil
import signal
import stat
import subprocess
import termios
from pathlib import Path

import pytest

from lib import runner as rn
from lib.backends import bwrap_problem
from lib.registry import push_image
from lib.settings import KILL_GRACE
from test_credentials import GOOD, REPO, b64, canary_user, registry_settings, werf_job
from test_protocol import ODD_CODES, describe_pids, expect, job_processes

VICTIM, INTRUDER = 3001, 3002
VICTIM_SLEEP = "31337"  # the victim's `sleep`: its argv is how a process list would show it


@pytest.fixture
def executor():
    """This module is about the sandbox: bwrap only (a few checks switch to shell on purpose)."""
    problem = bwrap_problem()
    if problem:
        pytest.skip(f"executor bwrap cannot run here: {problem}")
    return "bwrap"


def namespace_pids(ns):
    """Live host processes in PID namespace NS ("pid:[N]")."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.readlink(f"/proc/{entry}/ns/pid") == ns:
                found.append(int(entry))
        except OSError:
            pass
    return [p for p in found if rn.alive(p)]


def started(job):
    """config, prepare and get_sources done (the build dir exists)."""
    assert job.config_and_prepare(), job.results
    expect(job.run("get_sources"), rn.OK)
    return job


# -- another job, running, with credentials ---------------------------------------------------

class Victim:
    """A job with a registry login and a kubeconfig whose build_script is running (as bwrap)."""

    def __init__(self, runner, settings, reg, scratch):
        self.password, self.token = canary_user(settings, reg, user="carol")
        self.kubeconfig = GOOD.replace("TOKEN", self.token)
        ready = scratch / "victim-ready"
        self.job = started(werf_job(
            runner, VICTIM, reg, user="carol", password=self.password, concurrent_id=0,
            concurrent_project_id=0,
            variables={"WERF_KUBECONFIG_BASE64": b64(self.kubeconfig)},
            scripts={"build_script": [f"touch {shlex.quote(str(ready))}",
                                      f"sleep {VICTIM_SLEEP}"]}))
        self.stage = self.job.start("build_script")
        assert rn.wait_for(ready.exists, 60), f"the victim never started: {self.stage.wait()}"
        assert rn.wait_for(lambda: len(self.pids()) >= 2, 60), describe_pids(self.pids())
        runner.extra_pids.update(self.pids())
        self.workspace = self.job.workspace
        assert (self.workspace / "docker" / "config.json").exists()
        assert (self.workspace / "kube" / "config").exists()

    def pids(self):
        return job_processes(self.job)

    def secrets(self):
        """Every form in which the victim's credentials sit in its files and environments."""
        return [self.password, self.token, b64(f"carol:{self.password}"), b64(self.kubeconfig)]

    def end(self):
        self.stage.cancel(grace=KILL_GRACE + 5)
        expect(self.job.cleanup(), rn.OK)


@pytest.fixture
def victim(runner, settings, registry_basic, scratch):
    v = Victim(runner, settings, registry_basic, scratch)
    yield v
    v.end()


def intrude(runner, settings, scratch, executor, commands, job_id=INTRUDER, variables=None):
    """Run COMMANDS as build_script of another job under EXECUTOR: what they printed (to a
    file, apart from the runner's echo of each command)."""
    report = scratch / f"report-{job_id}"
    settings.write(executor=executor)
    job = started(runner.job(job_id, concurrent_id=1, concurrent_project_id=1,
                             variables=dict(variables or {}, REPORT=str(report))))
    commands = "{\n" + "\n".join(commands) + '\n} > "$REPORT" 2>&1'
    expect(job.run("build_script", [commands]), rn.OK)
    expect(job.cleanup(), rn.OK)
    return report.read_text()


# The ways in: paths, and what /proc shows of every process the job can see, the victim's
# host PIDs included. Never failing: each way says when it worked.
ATTACK = [
    'for f in "$VICTIM_DIR/docker/config.json" "$VICTIM_DIR/kube/config"; do',
    '  cat "$f" && echo "READ-BY-PATH $f"',
    'done',
    "for p in $VICTIM_PIDS $(ls /proc | grep -E '^[0-9]+$'); do",
    "  if tr '\\0' '\\n' < /proc/$p/environ | grep -qx \"BERTH_JOB_DIR=$VICTIM_DIR\"; then",
    "    tr '\\0' '\\n' < /proc/$p/environ; echo \"READ-ENVIRON $p\"",
    "  fi",
    '  cat "/proc/$p/root$VICTIM_DIR/docker/config.json" && echo "READ-ROOT $p"',
    '  cat "/proc/$p/root$VICTIM_DIR/kube/config" && echo "READ-ROOT $p"',
    'done',
    'true',
]


def attack(runner, settings, scratch, victim, executor, job_id=INTRUDER):
    variables = {"VICTIM_DIR": str(victim.workspace),
                 "VICTIM_PIDS": " ".join(map(str, victim.pids()))}
    return intrude(runner, settings, scratch, executor, ATTACK, job_id, variables)


def test_another_jobs_credentials_cannot_be_read(runner, settings, scratch, victim):
    seen = attack(runner, settings, scratch, victim, "bwrap")
    leaked = [s for s in victim.secrets() if s in seen]
    assert not leaked, f"the sandbox read the other job's credentials:\n{seen}"
    assert "READ-" not in seen, seen
    assert "No such file or directory" in seen, seen
    # The same attempts as the shell executor: they are real.
    seen = attack(runner, settings, scratch, victim, "shell", job_id=INTRUDER + 10)
    assert victim.token in seen and b64(f"carol:{victim.password}") in seen, seen
    for way in ("READ-BY-PATH", "READ-ENVIRON", "READ-ROOT"):
        assert way in seen, f"{way} did not work under shell either:\n{seen}"


def test_another_jobs_processes_are_not_visible(runner, settings, scratch, victim):
    listing = ["ps -eo pid=,args=", "echo init: $(cat /proc/1/comm)"]
    seen = intrude(runner, settings, scratch, "bwrap", listing)
    assert f"sleep {VICTIM_SLEEP}" not in seen, seen
    shown = [line.split(None, 1) for line in seen.splitlines()
             if line.strip() and line.split()[0].isdigit()]
    # bwrap's init, berth supervise, the script's bash and ps itself: nothing else.
    assert shown and all(int(pid) < 20 for pid, _ in shown), seen
    programs = {os.path.basename(args.split()[0]) for _, args in shown}
    assert programs <= {"bwrap", "berth", "bash", "ps"}, seen
    assert "init: bwrap" in seen, seen
    seen = intrude(runner, settings, scratch, "shell", listing, job_id=INTRUDER + 10)
    assert f"sleep {VICTIM_SLEEP}" in seen, f"the check is blind under shell too:\n{seen}"


def test_state_dir_is_not_visible(runner, settings, scratch, victim):
    canary = settings.state_dir / "canary-in-state-dir"
    canary.write_text("state\n")
    listing = [f"echo state: $(ls -A {shlex.quote(str(settings.state_dir))})",
               f"echo jobs: $(ls -A {shlex.quote(str(settings.jobs_dir()))})"]
    seen = intrude(runner, settings, scratch, "bwrap", listing)
    # Only what the sandbox binds: this job's workspace below jobs/ (the lock store is not:
    # the script takes locks through the stage's broker, whose socket is in the workspace).
    assert "state: jobs\n" in seen, seen
    assert f"jobs: {INTRUDER}\n" in seen, seen
    seen = intrude(runner, settings, scratch, "shell", listing, job_id=INTRUDER + 10)
    assert canary.name in seen and str(VICTIM) in seen, seen


# -- what the sandbox shows of the system -----------------------------------------------------

def test_system_is_read_only_and_tmp_and_home_are_private(runner, settings, tmp_path):
    host_tmp = tmp_path / "on-the-host"
    host_tmp.write_text("x\n")
    home_file = f"berth-e2e-{os.getpid()}"
    job = started(runner.job(3101))
    result = job.run("build_script", [
        "{ touch /usr/berth-e2e 2>&1 || true; } | grep -q 'Read-only file system'",
        "{ touch /etc/berth-e2e 2>&1 || true; } | grep -q 'Read-only file system'",
        f"test ! -e {shlex.quote(str(host_tmp))}",
        'test -d "$HOME" && test -z "$(ls -A "$HOME")"',
        f'touch "$HOME/{home_file}"',
        "echo built > built.txt",
        'test -w "$TMPDIR" && test -w "$BERTH_JOB_DIR/docker"'])
    expect(result, rn.OK)
    assert (job.build_dir / "built.txt").read_text() == "built\n"
    expect(job.cleanup(), rn.OK)
    assert not (Path(os.environ["HOME"]) / home_file).exists(), "the runner's HOME was written"


# -- the network ------------------------------------------------------------------------------

def probe_port(reg):
    """A script line printing whether REG's port answers a TCP connection: a line "port-open"
    or "port-closed" (see port_state; the runner's echo of the line holds both words)."""
    port = reg.host.rsplit(":", 1)[1]
    return (f"if timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null; "
            f"then echo port-open; else echo port-closed; fi")


def port_state(result):
    states = [line for line in result.stdout.splitlines() if line in ("port-open", "port-closed")]
    assert len(states) == 1, result.report()
    return states[0]


def test_registry_is_reachable_with_the_jobs_login(runner, settings, registry_basic):
    reg = registry_basic
    push_image(reg, REPO, "v1", "alice", reg.users["alice"])
    registry_settings(settings, reg)
    # The test's registry listens on the host's 127.0.0.1, like a registry mirror on the
    # runner itself: only the host's network reaches it (the private one keeps it out).
    settings.write(bwrap_network="host")
    berth = shlex.quote(str(runner.berth))
    job = started(werf_job(runner, 3201, reg))
    result = job.run("build_script", [
        probe_port(reg),
        f"skopeo list-tags --tls-verify=false docker://{reg.host}/{REPO}",
        # berth itself in the sandbox: its binary, the settings, the network.
        f"{berth} login {reg.host}"])
    expect(result, rn.OK)
    assert port_state(result) == "port-open", result.report()
    assert '"v1"' in result.stdout, result.report()
    assert f"logged in to registry {reg.host} as alice" in result.stderr, result.report()
    expect(job.cleanup(), rn.OK)


def test_without_network_the_registry_is_out_of_reach(runner, settings, registry_basic):
    reg = registry_basic
    settings.write(bwrap_network=False)
    job = started(runner.job(3202))
    result = job.run("build_script", [probe_port(reg),
                                      "awk -F: 'NR > 2 { print \"iface\" $1 }' /proc/net/dev"])
    expect(result, rn.OK)
    assert port_state(result) == "port-closed", result.report()
    interfaces = [line[len("iface"):].strip() for line in result.stdout.splitlines()
                  if line.startswith("iface")]
    assert interfaces == ["lo"], result.report()
    # The same probe with the host's network: the port is there.
    settings.write(bwrap_network="host")
    result = job.run("build_script", [probe_port(reg)])
    assert port_state(result) == "port-open", result.report()
    expect(job.cleanup(), rn.OK)


# -- stopping ---------------------------------------------------------------------------------

# Until the four sleeps run: the handler's trap is set before anything signals it.
ALL_SLEEPING = ('for i in $(seq 1200); do [ "$(pgrep -c -x sleep)" -ge 4 ] && break; '
                'sleep 0.05; done')


def start_crowd(runner, scratch, job_id, tail):
    """A build_script leaving every kind of process (group, own session, ignoring SIGTERM,
    handling it), then TAIL; returns (job, running stage, the sandbox's PID namespace)."""
    pids_file, mark = scratch / "pids", scratch / "term-seen"
    record = rn.pid_record("$!") + ' >> "$PIDS_FILE"'
    job = runner.job(job_id, variables={"PIDS_FILE": str(pids_file), "MARK": str(mark)},
                     scripts={"build_script": [
                         "sleep 1000 &", record,
                         "setsid sleep 1000 </dev/null >/dev/null 2>&1 &", record,
                         """bash -c 'trap "" TERM; sleep 1000 & wait; sleep 1000' &""", record,
                         """bash -c 'trap "echo TERM >> \\"$MARK\\"; exit 0" TERM; """
                         """sleep 1000 & wait' &""", record, ALL_SLEEPING, *tail]})
    started(job)
    running = job.start("build_script")
    assert rn.wait_for(lambda: len(rn.read_pid_records(pids_file)) >= 4
                       or not running.running(), 60), running.wait()
    ns = rn.read_pid_records(pids_file)[0][1]
    assert ns != os.readlink("/proc/self/ns/pid"), "the script is in the host's PID namespace"
    runner.extra_pids.update(namespace_pids(ns))
    return job, running, ns


def sleeps_in(ns):
    count = 0
    for pid in namespace_pids(ns):
        try:
            count += Path(f"/proc/{pid}/comm").read_text() == "sleep\n"
        except OSError:
            pass
    return count


def test_cancel_ends_everything_in_the_sandbox(runner, scratch):
    job, running, ns = start_crowd(runner, scratch, 3301, ["sleep 1000"])
    assert rn.wait_for(lambda: sleeps_in(ns) >= 5, 60), describe_pids(namespace_pids(ns))
    runner.extra_pids.update(namespace_pids(ns))
    result = running.cancel(grace=KILL_GRACE + 5)
    assert not result.killed, f"berth ignored SIGTERM:\n{result.report()}"
    # The process ignoring SIGTERM holds the stage until SIGKILL, kill_grace after SIGTERM.
    assert KILL_GRACE - 0.3 <= result.term_to_exit <= KILL_GRACE + 1.5, result.report()
    assert "TERM" in (scratch / "term-seen").read_text(), "SIGTERM never reached the script"
    assert not namespace_pids(ns), describe_pids(namespace_pids(ns))
    assert not job_processes(job), describe_pids(job_processes(job))
    expect(job.cleanup(), rn.OK)


def test_stage_end_ends_everything_in_the_sandbox(runner, scratch):
    job, running, ns = start_crowd(runner, scratch, 3302, ["echo script done"])
    result = running.wait()
    expect(result, rn.OK)
    assert "script done" in result.stdout
    # What the script left got SIGTERM when it ended, and SIGKILL kill_grace later.
    assert result.duration < KILL_GRACE + 2, result.report()
    assert "TERM" in (scratch / "term-seen").read_text(), "leftovers never got SIGTERM"
    assert not namespace_pids(ns), describe_pids(namespace_pids(ns))
    expect(job.cleanup(), rn.OK)


def test_script_exit_code_and_signal_come_through(runner):
    job = started(runner.job(3303, **ODD_CODES))
    result = job.run("build_script", ["exit 42"])
    expect(result, rn.BUILD_FAILURE, 77)
    assert result.build_exit_code == "42", result.report()
    result = job.run("build_script", ["kill -KILL $$"])
    assert result.build_exit_code == "137", result.report()
    expect(job.cleanup(), rn.OK)


# -- the terminal of whoever started berth ---------------------------------------------------

def run_on_a_terminal(runner, job, commands):
    """`berth run` for JOB's build_script with a pseudo-terminal as its controlling terminal,
    as when someone runs it by hand: the exit code and what the script printed."""
    script = job.tmp / "tty-script"
    script.write_text(job.script_text("build_script", commands))
    script.chmod(stat.S_IRWXU)
    leader, follower = pty.openpty()

    def own_terminal():
        os.setsid()
        fcntl.ioctl(follower, termios.TIOCSCTTY, 0)

    try:
        proc = subprocess.run([str(runner.berth), "run", str(script), "build_script"],
                              env=job.env("build_script"), cwd=job.tmp, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30,
                              preexec_fn=own_terminal)
    finally:
        os.close(leader)
        os.close(follower)
    return proc.returncode, proc.stdout + proc.stderr


# What --new-session is for in bwrap (TIOCSTI), done by `berth supervise` without leaving the
# process group berth signals.
def test_script_has_no_terminal_to_type_into(runner, settings):
    probe = ["( : <>/dev/tty ) 2>/dev/null && t=open || t=none", 'echo "tty=$t"']
    job = started(runner.job(3601))
    code, seen = run_on_a_terminal(runner, job, probe)
    assert code == 0 and "tty=none" in seen, seen
    settings.write(executor="shell")
    code, seen = run_on_a_terminal(runner, job, probe)
    assert code == 0 and "tty=open" in seen, f"the check is blind under shell too:\n{seen}"
    expect(job.cleanup(), rn.OK)


# -- a machine where bwrap cannot run ---------------------------------------------------------

def fake_path(tmp_path, bwrap=None):
    """A PATH without bwrap, or with BWRAP as a fake one."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    if bwrap is not None:
        (bin_dir / "bwrap").write_text(bwrap)
        (bin_dir / "bwrap").chmod(stat.S_IRWXU)
    return str(bin_dir)


def test_prepare_without_bwrap_says_to_install_it(runner, tmp_path):
    job = runner.job(3401, env_overrides={"PATH": fake_path(tmp_path)}, **ODD_CODES)
    expect(job.config(), rn.OK)
    prepare = job.prepare()
    expect(prepare, rn.SYSTEM_FAILURE, 78)
    assert "apt-get install bubblewrap" in prepare.stderr, prepare.report()
    expect(job.cleanup(), rn.OK)


def test_prepare_where_namespaces_are_refused_says_what_to_do(runner, tmp_path):
    refusal = "No permissions to create new namespace"
    job = runner.job(3402, env_overrides={"PATH": fake_path(
        tmp_path, f"#!/bin/sh\necho 'bwrap: {refusal}' >&2\nexit 1\n")}, **ODD_CODES)
    expect(job.config(), rn.OK)
    prepare = job.prepare()
    expect(prepare, rn.SYSTEM_FAILURE, 78)
    assert "cannot create namespaces" in prepare.stderr, prepare.report()
    assert refusal in prepare.stderr, prepare.report()
    hint = "run berth as root outside a container" if os.geteuid() == 0 else \
        "kernel.unprivileged_userns_clone=1"
    assert hint in prepare.stderr, prepare.report()
    expect(job.cleanup(), rn.OK)


def test_prepare_without_slirp4netns_says_to_install_it(runner, tmp_path):
    """The default, private network needs slirp4netns beside bwrap."""
    bin_dir = Path(fake_path(tmp_path))
    for program in ("bwrap", "true"):  # prepare's probe runs `bwrap ... true`
        (bin_dir / program).symlink_to(shutil.which(program))
    job = runner.job(3403, env_overrides={"PATH": str(bin_dir)}, **ODD_CODES)
    expect(job.config(), rn.OK)
    prepare = job.prepare()
    expect(prepare, rn.SYSTEM_FAILURE, 78)
    assert "apt-get install slirp4netns" in prepare.stderr, prepare.report()
    expect(job.cleanup(), rn.OK)


def test_cleanup_after_a_killed_berth_finds_nothing_left(runner, scratch):
    """--die-with-parent: the sandbox dies with the berth that started it."""
    job, running, ns = start_crowd(runner, scratch, 3501, ["sleep 1000"])
    assert rn.wait_for(lambda: sleeps_in(ns) >= 5, 60), describe_pids(namespace_pids(ns))
    running._signal_group(signal.SIGKILL)
    running.proc.wait(60)
    assert rn.wait_for(lambda: not namespace_pids(ns), 60), describe_pids(namespace_pids(ns))
    expect(job.cleanup(), rn.OK)
