"""Job users (docs/job-users.md): stage scripts run as a user of their own, never root.

berth runs as root, as GitLab Runner does. With `job_users` in the settings, each running job
claims one of the listed users; its scripts run as that user (with `job_groups`), its builds,
cache, tmp and credentials belong to it, and the admin's settings and other jobs' workspaces
stay out of reach. Every check runs on both executors. The attacks are also run without job
users under the shell executor, where they must work: that proves they are real.
"""

import grp
import os
import pwd
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from lib import runner as rn
from test_credentials import GOOD, b64, canary_user, werf_job
from test_protocol import expect, job_processes, mode

USERS = ["berth-job-1", "berth-job-2"]
GROUP = "berth-job-test"
ADMIN_CANARY = "admin-canary-" + os.urandom(6).hex()


def run(*argv):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="session")
def accounts():
    """The job users and an extra group, created on this machine when missing."""
    if os.geteuid() != 0:
        pytest.skip("job users need berth to run as root, as GitLab Runner does")
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        assert run("groupadd", "--system", GROUP).returncode == 0
    for name in USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            res = run("useradd", "--system", "--create-home", "--shell", "/bin/bash", name)
            assert res.returncode == 0, res.stderr
    # Debian's udev rules make /dev/net/tun 0666, which bwrap's private network needs for a
    # job user (docs/bwrap.md); this machine may have no udev to do it.
    tun = Path("/dev/net/tun")
    if tun.exists() and tun.stat().st_mode & 0o777 != 0o666:
        tun.chmod(0o666)
    return {name: pwd.getpwnam(name) for name in USERS}


def let_through(path):
    """Job users must reach the state dir below pytest's private temp dirs."""
    for p in [path, *path.parents][:4]:
        os.chmod(p, os.stat(p).st_mode | 0o111)


@pytest.fixture(scope="module")
def berth_bin(berth_bin, tmp_path_factory):
    """The binary where job users can run it, as /usr/local/bin/berth is on a runner: a
    checkout below a private directory (CI's `mktemp -d`) is out of their reach."""
    directory = tmp_path_factory.mktemp("bin")
    let_through(directory)
    copy = directory / "berth"
    shutil.copy2(berth_bin, copy)
    copy.chmod(0o755)
    return copy


@pytest.fixture
def admin_files(tmp_path):
    """A lock_kubeconfig the admin keeps root's (0600), holding a canary."""
    kubeconfig = tmp_path / "admin.kubeconfig"
    kubeconfig.write_text(f"# {ADMIN_CANARY}\n")
    kubeconfig.chmod(0o600)
    return kubeconfig


@pytest.fixture
def job_settings(settings, tmp_path, accounts, admin_files):
    """The test's settings with job users; the file itself is root's alone, with a canary."""
    let_through(tmp_path)
    settings.write(job_users=USERS, job_groups=[GROUP], lock_kubeconfig=str(admin_files),
                   kube_preflight=False)
    with open(settings.path, "a") as f:
        f.write(f"# {ADMIN_CANARY}\n")
    settings.path.chmod(0o600)
    return settings


def owner(path):
    st = os.lstat(path)
    return pwd.getpwuid(st.st_uid).pw_name


def started(job):
    assert job.config_and_prepare(), "\n".join(r.report() for r in job.results)
    expect(job.run("get_sources"), rn.OK)
    return job


# -- who the scripts are --------------------------------------------------------------------

def test_scripts_run_as_the_job_user_in_places_of_its_own(runner, job_settings, accounts):
    group_file = job_settings.cache_dir / "berth-job-1" / "group-only"
    job = started(runner.job(4001, variables={"GROUP_FILE": str(group_file)}, scripts={
        "build_script": ['echo "who: $(id -u) $(id -un) $HOME $USER"', 'cat "$GROUP_FILE"',
                         'echo built > artifact', 'mkdir -p "$TMPDIR/x"',
                         'test -w "$CI_PROJECT_DIR"']}))
    # A file the job user may read through job_groups alone, in its cache dir (both sandboxes
    # show that). In bwrap's user namespace `id -G` shows a host group as 65534, and the
    # membership still counts: so the test reads a file rather than trusting `id`.
    group_file.write_text("read-through-group\n")
    os.chown(group_file, 0, grp.getgrnam(GROUP).gr_gid)
    group_file.chmod(0o640)
    user = accounts["berth-job-1"]
    res = job.run("build_script")
    expect(res, rn.OK)
    assert f"who: {user.pw_uid} berth-job-1 {user.pw_dir} berth-job-1\n" in res.stdout, \
        res.report()
    assert "read-through-group" in res.stdout, res.report()
    # config reported the user's own builds and cache dirs, and the clone is the user's.
    assert job.builds_dir == job_settings.builds_dir / "berth-job-1"
    assert job.cache_dir == job_settings.cache_dir / "berth-job-1"
    assert owner(job.build_dir / "artifact") == "berth-job-1"
    # The workspace and its record stay root's; the job's places are the user's alone.
    ws = job.workspace
    assert (owner(ws), mode(ws)) == ("root", 0o711)
    assert owner(ws / "state") == "root" and "user berth-job-1\n" in (ws / "state").read_text()
    for place in ("tmp", "docker", "kube"):
        assert (owner(ws / place), mode(ws / place)) == ("berth-job-1", 0o700), place
    for place in (job.builds_dir, job.cache_dir):
        assert (owner(place), mode(place)) == ("berth-job-1", 0o700), place
    expect(job.cleanup(), rn.OK)
    assert not ws.exists()


def test_the_credentials_are_the_job_users_alone(runner, job_settings, registry_basic, accounts,
                                                 berth_bin):
    berth = shlex.quote(str(berth_bin))
    password, token = canary_user(job_settings, registry_basic)
    job_settings.write(job_users=USERS, job_groups=[GROUP])
    job_settings.path.chmod(0o600)
    job = started(werf_job(runner, 4002, registry_basic, user="carol", password=password,
                           variables={"WERF_KUBECONFIG_BASE64": b64(GOOD.replace("TOKEN", token))},
                           scripts={"build_script": [
                               'test -r "$DOCKER_CONFIG/config.json"',
                               'grep -q server: "$KUBECONFIG"',
                               # berth inside the job works as the job user, with its settings
                               f'{berth} logout {registry_basic.host}',
                               f'! grep -q {registry_basic.host} "$DOCKER_CONFIG/config.json"',
                               f'{berth} lock e2e/job-user -- echo locked-as-$(id -un)']}))
    for f in (job.workspace / "docker" / "config.json", job.workspace / "kube" / "config"):
        assert (owner(f), mode(f)) == ("berth-job-1", 0o600), f
    res = job.run("build_script")
    expect(res, rn.OK)
    assert "locked-as-berth-job-1" in res.stdout, res.report()
    expect(job.cleanup(), rn.OK)


# -- what a job user cannot reach -------------------------------------------------------------

# Each way in says when it worked; none fails the script.
ATTACK = [
    'for f in "$ADMIN_SETTINGS" "$ADMIN_KUBECONFIG" "$VICTIM_DIR/docker/config.json" \\',
    '         "$VICTIM_DIR/kube/config" "$VICTIM_BUILD/secret-file"; do',
    '  cat "$f" && echo "READ-BY-PATH $f"',
    'done',
    'ls "$VICTIM_DIR/docker" && echo "LISTED-WORKSPACE"',
    'for p in $VICTIM_PIDS; do',
    '  tr "\\0" "\\n" < /proc/$p/environ && echo "READ-ENVIRON $p"',
    'done',
    'true',
]


class Victim:
    """A running job with a registry login, a kubeconfig and a file in its clone."""

    def __init__(self, runner, settings, reg):
        self.password, self.token = canary_user(settings, reg)
        settings.path.chmod(0o600)
        self.kubeconfig = GOOD.replace("TOKEN", self.token)
        self.job = started(werf_job(
            runner, 4100, reg, user="carol", password=self.password,
            variables={"WERF_KUBECONFIG_BASE64": b64(self.kubeconfig)},
            scripts={"build_script": ["echo $WERF_PASSWORD > secret-file", "touch ready",
                                      "sleep 31338"]}))
        self.stage = self.job.start("build_script")
        assert rn.wait_for((self.job.build_dir / "ready").exists, 60), self.stage.wait()
        assert rn.wait_for(lambda: len(job_processes(self.job)) >= 2, 60)
        runner.extra_pids.update(job_processes(self.job))

    def secrets(self):
        return [self.password, self.token, b64(f"carol:{self.password}")]

    def end(self):
        self.stage.cancel(grace=5)
        expect(self.job.cleanup(), rn.OK)


def attack(runner, settings, victim, admin_files, job_id):
    job = started(runner.job(job_id, concurrent_id=1, concurrent_project_id=1, variables={
        "ADMIN_SETTINGS": str(settings.path), "ADMIN_KUBECONFIG": str(admin_files),
        "VICTIM_DIR": str(victim.job.workspace), "VICTIM_BUILD": str(victim.job.build_dir),
        "VICTIM_PIDS": " ".join(map(str, job_processes(victim.job)))}))
    # Into a file, apart from the runner's echo of the commands.
    expect(job.run("build_script", ["{\n" + "\n".join(ATTACK) + '\n} > "$TMPDIR/seen" 2>&1']),
           rn.OK)
    seen = (job.workspace / "tmp" / "seen").read_text()
    expect(job.cleanup(), rn.OK)
    return seen


def test_a_job_cannot_read_the_admins_settings_or_another_job(runner, job_settings,
                                                               registry_basic,
                                                               admin_files):
    victim = Victim(runner, job_settings, registry_basic)
    try:
        assert owner(victim.job.workspace / "docker") == "berth-job-1"
        seen = attack(runner, job_settings, victim, admin_files, 4101)
        leaked = [s for s in victim.secrets() + [ADMIN_CANARY] if s in seen]
        assert not leaked, f"a job user read what is not its own:\n{seen}"
        assert "READ-" not in seen and "LISTED-" not in seen, seen
        # Without job users, the same script as root reads all of it: the attack is real.
        job_settings.write(job_users=[], executor="shell")
        job_settings.path.chmod(0o600)
        seen = attack(runner, job_settings, victim, admin_files, 4102)
        assert ADMIN_CANARY in seen and victim.token in seen, seen
        for way in ("READ-BY-PATH", "LISTED-WORKSPACE", "READ-ENVIRON"):
            assert way in seen, f"{way} did not work as root either:\n{seen}"
    finally:
        victim.end()


# -- one user per running job -----------------------------------------------------------------

def config_result(job):
    res = job.config()
    return res, (job.builds_dir.name if res.ok else None)


def test_each_running_job_has_a_user_of_its_own(runner, job_settings):
    first, second, third = (runner.job(4200 + i, concurrent_id=i) for i in range(3))
    assert config_result(first)[1] == "berth-job-1"
    assert config_result(second)[1] == "berth-job-2"
    expect(first.prepare(), rn.OK)
    # A third job while both are taken: a system failure the runner retries, which says why.
    res, _ = config_result(third)
    expect(res, rn.SYSTEM_FAILURE)
    assert "all 2 job users are taken by running jobs" in res.stderr, res.report()
    expect(third.cleanup(), rn.OK)
    # A job's repeated config and prepare keep its user; cleanup frees it for the next job.
    assert config_result(first)[1] == "berth-job-1"
    expect(first.cleanup(), rn.OK)
    assert config_result(third)[1] == "berth-job-1"
    expect(third.prepare(), rn.OK)
    for job in (second, third):
        expect(job.cleanup(), rn.OK)


def proc_uid(pid):
    """The real uid of process PID, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))


def test_cleanup_ends_every_process_of_the_job_user(runner, job_settings, accounts):
    """A process of the job's user that left the job's tree and environment still goes."""
    job = started(runner.job(4300))
    mine, other = accounts["berth-job-1"], accounts["berth-job-2"]
    escaped = [subprocess.Popen(["setpriv", f"--reuid={u.pw_uid}", f"--regid={u.pw_gid}",
                                 "--clear-groups", "env", "-i", "sleep", "31339"],
                                stdin=subprocess.DEVNULL, start_new_session=True)
               for u in (mine, other)]
    try:
        # setpriv is root until it switches: cleanup must see them as the users' processes
        assert rn.wait_for(lambda: [proc_uid(p.pid) for p in escaped]
                           == [mine.pw_uid, other.pw_uid], 60), "no switch"
        res = job.cleanup()
        expect(res, rn.OK)
        assert "ended 1 leftover process(es)" in res.stderr, res.report()
        escaped[0].wait(timeout=5)
        # Another user's process is no business of this job's cleanup.
        assert escaped[1].poll() is None
    finally:
        for p in escaped:
            p.kill()
            p.wait()


def test_a_user_missing_from_the_machine_is_the_admins_error(berth_bin, job_settings):
    job_settings.write(job_users=["berth-job-1", "no-such-user-here"])
    res = run(str(berth_bin), "--config", str(job_settings.path), "config", "--show-settings")
    assert res.returncode != 0
    assert f"{job_settings.path}:" in res.stderr and "no user 'no-such-user-here'" in res.stderr, \
        res.stderr
    job_settings.write(job_users=["root"])
    res = run(str(berth_bin), "--config", str(job_settings.path), "config", "--show-settings")
    assert "scripts must not run as root" in res.stderr, res.stderr


def test_gc_leaves_a_workspace_while_its_job_user_runs(runner, job_settings, accounts, berth_bin):
    """The user would go to the next job while the old job's process lives on: not yet."""
    from test_gc import age, gc
    job_settings.write(gc_age="2h")
    job = started(runner.job(4400))
    user = accounts["berth-job-1"]
    stray = subprocess.Popen(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                              "--clear-groups", "env", "-i", "sleep", "31340"],
                             stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        # setpriv is root until it switches: gc must see the process as the job user's
        assert rn.wait_for(lambda: proc_uid(stray.pid) == user.pw_uid, 30), "no switch"
        age(job.workspace, 10 * 3600)
        res = gc(berth_bin, job_settings)
        assert res.returncode == 0 and job.workspace.exists(), res.stdout + res.stderr
        stray.kill()
        stray.wait()
        res = gc(berth_bin, job_settings)
        assert res.returncode == 0 and not job.workspace.exists(), res.stdout + res.stderr
        assert "removed" in res.stdout, res.stdout
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()
        job.cleanup()


# -- the seed's pipeline, unchanged, as a job user ----------------------------------------------

def test_seed_deploy_as_a_job_user(runner, job_settings, registry_basic, accounts):
    """The seed's deploy job (tests/e2e/test_seed_pipeline.py) where scripts run as job users:
    trdl's werf still goes through berth's wrapper, werf's home and tmp dir are the job's, and
    nothing of it is left in the job user's home after cleanup."""
    from test_credentials import registry_settings
    from test_seed_pipeline import Seed, kubeconfig, run_seed_job, seed_job

    if job_settings.values["executor"] == "bwrap":
        pytest.skip("the stand-ins live in the test's cache dir, which bwrap shows a job user "
                    "only its own part of; test_seed_pipeline.py runs the seed in bwrap")
    reg = registry_basic
    registry_settings(job_settings, reg)
    job_settings.write(rate_limited_hosts=[reg.host])
    job_settings.path.chmod(0o600)
    seed = Seed(job_settings)
    job = seed_job(runner, seed, reg, 4301, "shop/frontend", ["werf converge"], env_name="test")
    main, after = run_seed_job(job)
    expect(main, rn.OK)
    expect(after, rn.OK)
    ws = job.workspace
    conv = seed.call(job, "converge")
    assert conv["env"]["USER"] == "berth-job-1" and conv["parent_argv0"] == str(ws / "bin/werf")
    assert conv["kube"]["text"] == kubeconfig(job.id)
    assert conv["home_dir"].startswith(str(ws) + "/") and conv["env"]["WERF_PARALLEL"] == "0"
    home = Path(accounts["berth-job-1"].pw_dir)
    expect(job.cleanup(), rn.OK)
    assert not ws.exists()
    assert not (home / ".werf").exists() and not (home / ".docker").exists()
    assert not [p for p in seed.call(job, "ci-env", "gitlab")["created"] if os.path.lexists(p)]


def test_metrics_count_the_job_users_in_use(runner, job_settings, accounts, tmp_path):
    """berth_job_users: a user a workspace's state record claims is in use until cleanup."""
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    job_settings.write(metrics_dir=str(textfile))
    job_settings.path.chmod(0o600)

    def users():
        text = (textfile / "berth.prom").read_text()
        return {state: int(value) for state, value in
                re.findall(r'^berth_job_users\{state="(\w+)"\} (\d+)$', text, re.M)}
    first = runner.job(9820, scripts={"build_script": "true"})
    try:
        started(first)
        assert users() == {"in_use": 1, "free": 1}
        second = runner.job(9821, scripts={"build_script": "true"})
        started(second)
        assert users() == {"in_use": 2, "free": 0}
        expect(second.cleanup(), rn.OK)
        second.remove_tmp()
        assert users() == {"in_use": 1, "free": 1}
    finally:
        first.cleanup()
        first.remove_tmp()
    assert users() == {"in_use": 0, "free": 2}
