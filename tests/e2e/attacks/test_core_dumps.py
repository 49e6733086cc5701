"""A berth process that crashes, or is made to dump core, must leave no core file.

The attack: berth holds the job's token, registry passwords and kubeconfig in memory; a core
file (a crash, SIGABRT or SIGSEGV sent by whoever may signal it, a `gcore`) would put them on
disk, in a place and for a time berth does not control. What must hold, for every berth process:
its core file size limit is 0 and the kernel marks it not dumpable (which also closes its /proc
files and ptrace to the user it runs as). The commands it starts get the limit back, as the
runner gave it: they are the job's, and what they dump is the admin's call, as without berth.

Dumpability is not shown in /proc directly; proc(5) says the files in a non-dumpable process's
/proc/PID belong to root. So berth runs as an unprivileged user here (nobody), where the owner
tells; as root it would be root either way. The command berth starts shows the difference:
execve makes it dumpable again, and its /proc/PID/environ belongs to nobody.
"""

import os
import resource
import signal
import subprocess

import pytest

from lib import runner as rn
from lib.unprivileged import NOBODY, as_user, reachable_copy
SOFT = 4096 * 1024  # bytes: the core size limit the test gives berth, to see it restored


def core_limits(pid):
    """(soft, hard) of /proc/PID/limits' "Max core file size", in bytes (-1: unlimited)."""
    with open(f"/proc/{pid}/limits") as f:
        line = next(line for line in f if line.startswith("Max core file size"))
    soft, hard = line.split()[4:6]
    return tuple(-1 if v == "unlimited" else int(v) for v in (soft, hard))


def children(pid, name):
    """Live children of PID whose command name is NAME."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index(b"(") + 1:stat.rindex(b")")].decode()
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        if ppid == pid and comm == name and rn.alive(int(entry)):
            found.append(int(entry))
    return found


@pytest.fixture
def lab(berth_bin, tmp_path_factory):
    """berth where nobody can run it, and root's settings (0644) naming a state dir of
    nobody's."""
    root, berth, state = reachable_copy(berth_bin, tmp_path_factory, "core")
    settings = root / "berth.yaml"
    settings.write_text(f'state_dir: "{state}"\n')
    settings.chmod(0o644)
    return berth, settings


def start_lock(berth, settings, user):
    """`berth lock KEY -- sleep 60` as USER (None: root) with a core size limit of SOFT."""
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    if hard != resource.RLIM_INFINITY and hard < SOFT:
        pytest.skip(f"the hard core size limit here ({hard}) is below {SOFT}")
    # AddressSanitizer sets the soft limit to 0 itself before main (make check's binary), so
    # berth would have no other limit to give back; this keeps the one the test gives.
    asan = [os.environ.get("ASAN_OPTIONS"), "disable_coredump=0"]
    env = dict(os.environ, BERTH_CONFIG=str(settings), ASAN_OPTIONS=":".join(filter(None, asan)))
    proc = subprocess.Popen(
        as_user(user) + [str(berth), "lock", "e2e-core-dumps", "--", "sleep", "60"],
        env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (SOFT, hard)))
    # setpriv execs berth: one process, one PID. Berth has run main() once its command runs.
    sleeps = rn.wait_for(lambda: children(proc.pid, "sleep"), 60)
    if not sleeps:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"berth lock never started its command: exit {proc.returncode}\n{err}")
    return proc, sleeps[0], hard


def stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


@pytest.mark.parametrize("user", [None, NOBODY], ids=["root", "nobody"])
def test_berth_has_no_core_limit_and_gives_its_command_the_runners(lab, user):
    berth, settings = lab
    proc, sleep, hard = start_lock(berth, settings, user)
    try:
        want_hard = -1 if hard == resource.RLIM_INFINITY else hard
        assert core_limits(proc.pid) == (0, want_hard), "berth may write a core file"
        assert core_limits(sleep) == (SOFT, want_hard), "the command lost the runner's limit"
    finally:
        stop(proc)


def test_berth_is_not_dumpable_and_its_command_is(lab):
    berth, settings = lab
    proc, sleep, _ = start_lock(berth, settings, NOBODY)
    try:
        for name in ("environ", "fd", "mem"):
            assert os.stat(f"/proc/{sleep}/{name}").st_uid == NOBODY, "the control"
            assert os.stat(f"/proc/{proc.pid}/{name}").st_uid == 0, f"berth is dumpable ({name})"
    finally:
        stop(proc)
