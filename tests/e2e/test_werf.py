"""`berth werf` and the run stage's deploy lock (docs/werf.md), end to end.

werf itself is tests/e2e/bin/werf: it records its argv, environment, parent, the docker
config and kubeconfig it was given and the signals it got, one JSON line per invocation in a
log (a file per running or killed invocation beside it), and sleeps, exits, ignores SIGTERM or
kills itself as the test says. Settings `werf_path` points at it (one test finds it on PATH).

`berth werf` runs two ways here: inside a job, from a build_script driven through the runner
harness (lib/runner.py), and "by hand": started directly with no BERTH_JOB_DIR, in a session of its
own, with a laptop's environment (no CI_*, WERF_*, KUBECONFIG, DOCKER_CONFIG from the machine
running the tests). Every process and job a test starts is ended, and every job cleaned up,
when the test ends, pass or fail.
"""

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lib import runner as rn
from lib.settings import KILL_GRACE
from test_credentials import GOOD, b64, canary_user, registry_settings
from test_locks import assert_no_overlap, intervals
from test_protocol import ODD_CODES, describe_pids, expect, job_processes

FAKE_DIR = Path(__file__).resolve().parent / "bin"
FAKE = FAKE_DIR / "werf"

PROJECT = "4242"   # CI_PROJECT_ID of the by-hand runs
SLEEP = 0.8        # seconds a contender's werf runs in the lock tests
PROMPT = 1.5       # seconds a hand-off or a signal may take here

# Names from the test machine that would make a by-hand run depend on where the suite runs.
_FOREIGN = re.compile(r"^(CI|GITLAB|CUSTOM_ENV|WERF|BERTH|FAKE_WERF)_|^(KUBECONFIG|DOCKER_CONFIG|"
                      r"KUBECONFIG_BASE64|JOB_RESPONSE_FILE|BUILD_FAILURE_EXIT_CODE|"
                      r"SYSTEM_FAILURE_EXIT_CODE|BUILD_EXIT_CODE_FILE|CI|GITLAB_CI)$")

BASE64_KUBE = ("WERF_KUBE_CONFIG_BASE64", "WERF_KUBECONFIG_BASE64", "KUBECONFIG_BASE64")


# -- the fake's log ---------------------------------------------------------------------------

class FakeWerf:
    """Reads what the fake werf recorded: finished invocations and live (or killed) ones."""

    def __init__(self, root):
        self.log = root / "werf.log"
        self.live_dir = Path(str(self.log) + ".live")
        # FAKE_WERF_GATE for a werf that must still run when the test looks: where the bwrap
        # sandbox sees it too. The test opens it when it has seen what it waited for.
        self.gate = root / "gate"

    def env(self, sleep=None, exit=None, ignore_term=False, kill_self=None, term_exit=None,
            gate=None):
        env = {"FAKE_WERF_LOG": str(self.log)}
        if sleep is not None:
            env["FAKE_WERF_SLEEP"] = str(sleep)
        if gate is not None:
            env["FAKE_WERF_GATE"] = str(gate)
        if exit is not None:
            env["FAKE_WERF_EXIT"] = str(exit)
        if ignore_term:
            env["FAKE_WERF_IGNORE_TERM"] = "1"
        if kill_self is not None:
            env["FAKE_WERF_KILL_SELF"] = str(int(kill_self))
        if term_exit is not None:
            env["FAKE_WERF_TERM_EXIT"] = str(term_exit)
        return env

    def finished(self):
        try:
            lines = self.log.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def live(self):
        """Invocations still running, or killed before they could append their line."""
        out = []
        try:
            names = sorted(os.listdir(self.live_dir))
        except FileNotFoundError:
            return out
        done = {r["pid"] for r in self.finished()}
        for name in names:
            if not name.endswith(".json"):
                continue
            try:
                record = json.loads((self.live_dir / name).read_text())
            except (FileNotFoundError, ValueError):
                continue  # appended and removed, or being rewritten, just now
            if record["pid"] not in done:
                out.append(record)
        return out

    def records(self):
        """Every invocation so far, by start time."""
        return sorted(self.finished() + self.live(), key=lambda r: r["start"])

    def of_job(self, job_id):
        return [r for r in self.records() if r["env"].get("CI_JOB_ID") == str(job_id)]

    def open_gate(self):
        self.gate.touch()

    def wait_started(self, job_id=None, count=1, timeout=60):
        def found():
            records = self.records() if job_id is None else self.of_job(job_id)
            return records if len(records) >= count else None
        records = rn.wait_for(found, timeout, interval=0.01)
        assert records, (f"werf{'' if job_id is None else f' of job {job_id}'} did not start "
                         f"within {timeout}s; recorded: {self.summary()}")
        return records

    def one(self):
        records = self.records()
        assert len(records) == 1, f"expected one werf invocation, got {self.summary()}"
        return records[0]

    def summary(self):
        return [(r["argv"], r["env"].get("CI_JOB_ID"), r["exit"]) for r in self.records()]


def spans(records):
    """{CI_JOB_ID: [start_ns, end_ns]} in the shape test_locks.assert_no_overlap takes."""
    out = {}
    for r in records:
        ident = r["env"].get("CI_JOB_ID", str(r["pid"]))
        assert ident not in out, f"job {ident} ran werf twice"
        out[ident] = [r["start"], r["end"]]
    return out


def overlapping(a, b):
    return a[0] < b[1] and b[0] < a[1]


def mismatches(env, expected):
    """[(name, wanted, got)] for every name whose value differs (None: must be absent)."""
    return [(k, v, env.get(k)) for k, v in expected.items() if env.get(k) != v]


# -- berth by hand ----------------------------------------------------------------------------

class Hand:
    """One `berth ARGS` started by hand: its own session, output into files."""

    def __init__(self, owner, args, env, name):
        self.owner = owner
        self.argv = [str(owner.berth), *args]
        self.out_path = owner.root / f"{name}.out"
        self.err_path = owner.root / f"{name}.err"
        self.started = time.monotonic()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=env, start_new_session=True)
        self.pid = self.proc.pid
        self.duration = None

    @property
    def stdout(self):
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout=60):
        """berth's exit status as a shell shows it (128+N after signal N)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout}s\n{self.report()}") from None
        self.duration = time.monotonic() - self.started
        code = self.proc.returncode
        return 128 - code if code < 0 else code

    def report(self):
        code = self.proc.poll()
        return (f"{' '.join(self.argv)} (pid {self.pid}): "
                f"{'running' if code is None else f'exit {code}'}\n"
                f"  stdout: {self.stdout!r}\n  stderr: {self.stderr!r}")


class ByHand:
    """berth run by hand with this test's settings, and the cleanup of what it started."""

    def __init__(self, berth, settings, root, fake):
        self.berth = berth
        self.settings = settings
        self.root = root
        self.fake = fake
        self.tag = secrets.token_hex(8)
        self.tmpdir = root / "tmp"
        self.tmpdir.mkdir()
        self.started = []
        self._n = 0

    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not _FOREIGN.match(k)}
        env.update(BERTH_CONFIG=str(self.settings.path), TMPDIR=str(self.tmpdir),
                   BERTH_E2E_TAG=self.tag, FAKE_WERF_LOG=str(self.fake.log))
        for k, v in (extra or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def start(self, *args, env=None, name=None):
        self._n += 1
        hand = Hand(self, args, self.env(env), name or f"berth{self._n}")
        self.started.append(hand)
        return hand

    def werf(self, *args, env=None, name=None):
        return self.start("werf", *args, env=env, name=name)

    def run(self, *args, env=None, timeout=60):
        hand = self.start(*args, env=env)
        hand.wait(timeout)
        return hand

    def locks(self):
        return rn.locks_json(self.berth, self.env())

    def entry(self, key):
        return rn.lock_entry(self.locks(), key)

    def queue(self, key):
        """[holder job or None, waiter jobs...] for KEY."""
        return rn.lock_queue(self.entry(key))

    def wait_queue(self, key, want, timeout=60):
        got = rn.wait_for(lambda: self.queue(key) == want, timeout, interval=0.02)
        assert got, f"{key}: expected holder and waiters {want}, `berth locks`: {self.locks()}"

    def close(self):
        for hand in self.started:
            if hand.running():
                try:
                    os.killpg(hand.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for hand in self.started:
            try:
                hand.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        rn.kill_pids(rn.pids_with_env("BERTH_E2E_TAG", self.tag))
        rn.kill_pids(rn.pids_with_env("FAKE_WERF_LOG", str(self.fake.log)))


# -- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def fake(settings):
    """The fake werf, named by settings werf_path."""
    if not os.access(FAKE, os.X_OK):
        pytest.fail(f"{FAKE} is not executable")
    settings.write(werf_path=str(FAKE))
    # Its log in the cache dir: a job in the bwrap sandbox can write there (docs/bwrap.md).
    root = settings.cache_dir / "e2e-werf"
    root.mkdir(parents=True)
    return FakeWerf(root)


@pytest.fixture
def hand(berth_bin, settings, tmp_path, fake):
    root = tmp_path / "hand"
    root.mkdir()
    by_hand = ByHand(Path(berth_bin).resolve(), settings, root, fake)
    yield by_hand
    by_hand.close()


@pytest.fixture
def jobs(runner, fake):
    """make(job_id, werf_env={...}, **Job kwargs): a job whose stages reach the fake werf;
    every job made is cleaned up at the end (cleanup also ends what its scripts left)."""
    made = []

    def make(job_id, werf_env=None, **kw):
        overrides = fake.env()
        overrides.update(werf_env or {})
        overrides.update(kw.pop("env_overrides", {}))
        job = runner.job(job_id, env_overrides=overrides, **kw)
        made.append(job)
        return job

    yield make
    for job in made:
        if job.job_env.get("BERTH_JOB_DIR") and job.workspace.exists():
            try:
                job.cleanup()
            except AssertionError:
                pass
        job.remove_tmp()


@pytest.fixture
def berth_cmd(berth_bin):
    """berth as a job script names it: by absolute path."""
    return shlex.quote(str(Path(berth_bin).resolve()))


def started_job(job):
    """config, prepare and get_sources (which makes the build dir the scripts cd into)."""
    assert job.config_and_prepare(), job.results
    expect(job.run("get_sources"), rn.OK)
    return job


# -- the environment werf gets in a job -------------------------------------------------------

CI_URLS = {
    "CI_PROJECT_URL": "https://gitlab.example.com/group/app",
    "CI_COMMIT_SHA": "89abcdef0123456789abcdef0123456789abcdef",
    "CI_COMMIT_TAG": "v1.2.3",
    "CI_PIPELINE_URL": "https://gitlab.example.com/group/app/-/pipelines/5000",
    "CI_JOB_URL": "https://gitlab.example.com/group/app/-/jobs/1101",
}


def test_in_a_job_werf_gets_the_jobs_environment_and_credentials(
        runner, settings, registry_basic, fake, jobs, berth_cmd):
    reg = registry_basic
    registry_settings(settings, reg)
    settings.write(kube_preflight=False)
    password = reg.users["alice"]
    job = started_job(jobs(1101, variables={
        "WERF_REPO": f"{reg.host}/group/app", "WERF_USERNAME": "alice",
        "WERF_PASSWORD": password, "WERF_KUBECONFIG_BASE64": b64(GOOD),
        "CI_ENVIRONMENT_SLUG": "review-42", **CI_URLS},
        masked=("WERF_PASSWORD",), scripts={"build_script": [f"{berth_cmd} werf converge --foo"]}))
    result = job.run("build_script")
    expect(result, rn.OK)

    rec = fake.one()
    assert rec["argv"] == ["converge", "--foo"], rec["argv"]
    env = rec["env"]
    ws = job.workspace
    expected = {
        "WERF_REPO": f"{reg.host}/group/app",
        "WERF_ENV": "review-42",
        "WERF_ADD_ANNOTATION_PROJECT_GIT": "project.werf.io/git=" + CI_URLS["CI_PROJECT_URL"],
        "WERF_ADD_ANNOTATION_CI_COMMIT": "ci.werf.io/commit=" + CI_URLS["CI_COMMIT_SHA"],
        "WERF_ADD_ANNOTATION_CI_GIT_TAG": "ci.werf.io/tag=" + CI_URLS["CI_COMMIT_TAG"],
        "WERF_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL":
            "gitlab.ci.werf.io/pipeline-url=" + CI_URLS["CI_PIPELINE_URL"],
        "WERF_ADD_ANNOTATION_GITLAB_CI_JOB_URL":
            "gitlab.ci.werf.io/job-url=" + CI_URLS["CI_JOB_URL"],
        "WERF_LOG_COLOR_MODE": "on",
        "WERF_LOG_PROJECT_DIR": "1",
        "WERF_LOG_TERMINAL_WIDTH": "130",
        "WERF_ENABLE_PROCESS_EXTERMINATOR": "1",
        "WERF_SYNCHRONIZATION": ":local",
        "DOCKER_CONFIG": str(ws / "docker"),
        "WERF_DOCKER_CONFIG": str(ws / "docker"),
        "KUBECONFIG": str(ws / "kube" / "config"),
        "WERF_KUBE_CONFIG": str(ws / "kube" / "config"),
        "WERF_PARALLEL": None,  # 127.0.0.1:PORT is no rate-limited host
    }
    assert not mismatches(env, expected), mismatches(env, expected)
    assert not [k for k in env if k.endswith(BASE64_KUBE)], (
        "werf still got a base64 kubeconfig variable: "
        f"{[k for k in env if k.endswith(BASE64_KUBE)]}")

    # What werf saw on disk: the login prepare made, the kubeconfig prepare checked.
    docker = rec["docker_config"]
    assert docker["config_json"] is not None, docker
    assert json.loads(docker["config_json"])["auths"] == {
        reg.host: {"auth": b64(f"alice:{password}")}}
    assert rec["kubeconfig"]["exists"] and rec["kubeconfig"]["text"] == GOOD, rec["kubeconfig"]

    # berth stayed werf's parent (the exterminator), and werf's output reached the job log.
    assert rec["parent_alive_at_exit"] is True, rec
    assert "fake werf: converge --foo" in result.stdout + result.stderr, result.report()
    assert password not in result.stdout + result.stderr
    expect(job.cleanup(), rn.OK)


def test_job_set_values_win_but_annotations_and_credential_paths_are_berths(
        runner, settings, fake, jobs, berth_cmd, tmp_path):
    settings.write(kube_preflight=False)
    elsewhere = tmp_path / "elsewhere"  # never created: werf must not be sent there
    job = started_job(jobs(1102, variables={
        "WERF_KUBECONFIG_BASE64": b64(GOOD),
        "CI_ENVIRONMENT_SLUG": "production",
        "WERF_ENV": "custom",
        "WERF_SYNCHRONIZATION": "kubernetes://ns",
        "WERF_LOG_COLOR_MODE": "off",
        "WERF_ADD_ANNOTATION_CI_COMMIT": "ci.werf.io/commit=mine",
        "DOCKER_CONFIG": str(elsewhere),
        "WERF_DOCKER_CONFIG": str(elsewhere),
        "KUBECONFIG": str(elsewhere / "kubeconfig"),
        "WERF_KUBE_CONFIG": str(elsewhere / "kubeconfig"),
    }, scripts={"build_script": [f"{berth_cmd} werf converge"]}))
    expect(job.run("build_script"), rn.OK)

    env = fake.one()["env"]
    ws = job.workspace
    expected = {
        "WERF_ENV": "custom",
        "WERF_SYNCHRONIZATION": "kubernetes://ns",
        "WERF_LOG_COLOR_MODE": "off",
        # werf's annotations are werf's, over the job's own, as `werf ci-env` writes them.
        "WERF_ADD_ANNOTATION_CI_COMMIT": "ci.werf.io/commit=" + job.variables()["CI_COMMIT_SHA"],
        "WERF_LOG_PROJECT_DIR": "1",          # what the job did not set is still set
        "WERF_ADD_ANNOTATION_CI_GIT_TAG": None,  # no CI_COMMIT_TAG: no tag annotation
        "DOCKER_CONFIG": str(ws / "docker"),
        "WERF_DOCKER_CONFIG": str(ws / "docker"),
        "KUBECONFIG": str(ws / "kube" / "config"),
        "WERF_KUBE_CONFIG": str(ws / "kube" / "config"),
    }
    assert not mismatches(env, expected), mismatches(env, expected)
    assert not elsewhere.exists()
    expect(job.cleanup(), rn.OK)


def test_werf_repo_from_ci_registry_image_and_werf_parallel(
        runner, settings, fake, jobs, berth_cmd):
    # No CI_REGISTRY and no WERF_REPO in the job's variables: prepare logs in nowhere.
    image = "registry.example.com/group/app"
    craas = "cr.selcloud.ru/myreg/app"
    job = started_job(jobs(1103, variables={"CI_REGISTRY_IMAGE": image}))

    def werf(*commands):
        before = len(fake.records())
        expect(job.run("build_script", commands=list(commands)), rn.OK)
        return {r["argv"][-1]: r["env"] for r in fake.records()[before:]}

    # Default settings: rate_limited_hosts is [cr.selcloud.ru], werf_synchronization :local.
    seen = werf(f"{berth_cmd} werf build --case=image",
                f"WERF_REPO={craas} {berth_cmd} werf build --case=craas")
    assert seen["--case=image"].get("WERF_REPO") == image
    assert "WERF_PARALLEL" not in seen["--case=image"], seen["--case=image"].get("WERF_PARALLEL")
    assert seen["--case=image"].get("WERF_SYNCHRONIZATION") == ":local"
    assert seen["--case=craas"].get("WERF_REPO") == craas
    assert seen["--case=craas"].get("WERF_PARALLEL") == "0", "the default rate-limited host"

    # The job's berth reads the settings as prepare found them: a new job sees the change.
    expect(job.cleanup(), rn.OK)
    settings.write(rate_limited_hosts=["registry.example.com"],
                   werf_synchronization="kubernetes://berth-sync")
    job = started_job(jobs(1104, variables={"CI_REGISTRY_IMAGE": image}))
    seen = werf(f"{berth_cmd} werf build --case=image",
                f"WERF_PARALLEL=4 {berth_cmd} werf build --case=job-set",
                f"WERF_REPO={craas} {berth_cmd} werf build --case=craas")
    assert seen["--case=image"].get("WERF_PARALLEL") == "0"
    assert seen["--case=image"].get("WERF_SYNCHRONIZATION") == "kubernetes://berth-sync"
    assert seen["--case=job-set"].get("WERF_PARALLEL") == "4", "the job's own value wins"
    assert "WERF_PARALLEL" not in seen["--case=craas"], "the list replaces the default"
    expect(job.cleanup(), rn.OK)


# -- exit status ------------------------------------------------------------------------------

def test_werf_failure_is_the_jobs_build_failure(runner, fake, jobs, berth_cmd):
    job = started_job(jobs(1201, werf_env=fake.env(exit=1), **ODD_CODES,
                           scripts={"build_script": [f"{berth_cmd} werf converge"]}))
    result = job.run("build_script")
    expect(result, rn.BUILD_FAILURE, 77)
    assert result.build_exit_code == "1", result.report()
    assert fake.one()["exit"] == 1

    job.env_overrides.update(fake.env(exit=0))
    expect(job.run("build_script"), rn.OK)
    assert [r["exit"] for r in fake.records()] == [1, 0]
    expect(job.cleanup(), rn.OK)


@pytest.mark.parametrize("behaviour, status, says", [
    ({"exit": 0}, 0, None),
    ({"exit": 1}, 1, None),
    ({"kill_self": signal.SIGKILL}, 137, r"SIGKILL|signal 9\b"),
    ({"kill_self": signal.SIGTERM}, 143, r"SIGTERM|signal 15\b"),
], ids=["exit-0", "exit-1", "SIGKILL", "SIGTERM"])
def test_exit_status_is_werfs(hand, fake, behaviour, status, says):
    run = hand.werf("converge", env={"CI_PROJECT_ID": PROJECT, **fake.env(**behaviour)})
    assert run.wait() == status, run.report()
    assert len(fake.records()) == 1
    if says:
        assert re.search(says, run.stderr), (
            f"berth does not say which signal ended werf:\n{run.report()}")
        assert "werf" in run.stderr, run.report()


def test_berth_stays_werfs_parent_until_werf_exits(hand, fake):
    run = hand.werf("converge", env={"CI_PROJECT_ID": PROJECT,
                                     **fake.env(sleep=0.5, gate=fake.gate)})
    rec = fake.wait_started()[0]
    assert rec["ppid"] == run.pid, f"werf's parent is {rec['ppid']}, berth is {run.pid}"
    assert run.running()
    fake.open_gate()
    assert run.wait() == 0, run.report()
    rec = fake.one()
    assert rec["parent_alive_at_exit"] is True, "berth was gone before werf exited"
    assert rec["end"] - rec["start"] >= 0.5e9


# -- signals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_to_berth_reaches_werf(hand, fake, sig):
    run = hand.werf("converge", env={"CI_PROJECT_ID": PROJECT, "CI_ENVIRONMENT_SLUG": "sig",
                                     **fake.env(sleep=30)})
    rec = fake.wait_started()[0]
    time.sleep(0.1)
    sent = time.monotonic()
    os.kill(run.pid, sig)  # berth alone, not its group
    status = run.wait(60)
    took = time.monotonic() - sent
    rec = fake.one()
    assert [name for name, _ in rec["signals"]] == [sig.name], rec["signals"]
    assert rec["exit"] == sig.name, rec
    assert rec["parent_alive_at_exit"] is True, "berth exited before werf"
    assert status == 128 + sig, run.report()
    assert took < PROMPT, f"berth took {took:.2f}s to end after {sig.name}"
    assert not rn.alive(rec["pid"])
    assert hand.entry(f"deploy/{PROJECT}/sig") is None, "the deploy lock outlived berth werf"


def test_werf_ignoring_sigterm_is_killed_after_kill_grace(hand, fake):
    run = hand.werf("converge", env={"CI_PROJECT_ID": PROJECT, "CI_ENVIRONMENT_SLUG": "stub",
                                     **fake.env(sleep=30, ignore_term=True)})
    fake.wait_started()
    time.sleep(0.1)
    sent = time.monotonic()
    os.kill(run.pid, signal.SIGTERM)
    status = run.wait(60)
    took = time.monotonic() - sent
    assert status == 137, run.report()
    assert KILL_GRACE - 0.5 <= took <= KILL_GRACE + 2, (
        f"SIGKILL should follow kill_grace={KILL_GRACE}s, berth ended after {took:.2f}s")
    [rec] = fake.records()
    assert rec["term"] is True, "SIGTERM never reached werf"
    assert rec["end"] is None, "werf ended by itself: it should have been killed"
    assert not rn.alive(rec["pid"]), "werf survived berth"
    assert hand.entry(f"deploy/{PROJECT}/stub") is None, "the deploy lock outlived berth werf"


# -- berth werf's locks -----------------------------------------------------------------------

def contender_env(fake, job, env="production", project=PROJECT, sleep=SLEEP, gate=None,
                  **extra):
    out = {"CI_PROJECT_ID": project, "CI_JOB_ID": str(job), "CI_PROJECT_PATH":
           f"group/project-{project}", **fake.env(sleep=sleep, gate=gate), **extra}
    if env is not None:
        out["CI_ENVIRONMENT_SLUG"] = env
    return out


@pytest.mark.parametrize("second", ["converge", "dismiss"])
def test_deploys_of_one_project_and_environment_run_one_at_a_time(hand, fake, second):
    key = f"deploy/{PROJECT}/production"
    a = hand.werf("converge", env=contender_env(fake, 7001, gate=fake.gate))
    fake.wait_started(7001)
    hand.wait_queue(key, ["7001"])
    b = hand.werf(second, env=contender_env(fake, 7002))
    hand.wait_queue(key, ["7001", "7002"])
    assert not fake.of_job(7002), f"{second} started while converge held {key}"
    fake.open_gate()
    assert a.wait() == 0, a.report()
    assert b.wait() == 0, b.report()
    assert_no_overlap(spans(fake.records()))
    assert hand.entry(key) is None, f"{key} still listed: {hand.locks()}"


@pytest.mark.parametrize("other", [
    {"env": "staging"},
    {"project": "4243"},
], ids=["other-environment", "other-project"])
def test_other_deploys_run_side_by_side(hand, fake, other):
    a = hand.werf("converge", env=contender_env(fake, 7101, gate=fake.gate))
    fake.wait_started(7101)
    b = hand.werf("converge", env=contender_env(fake, 7102, gate=fake.gate, **other))
    fake.wait_started(7102)  # while 7101 still runs: it ends only once the gate is open
    fake.open_gate()
    assert a.wait() == 0, a.report()
    assert b.wait() == 0, b.report()
    got = spans(fake.records())
    assert overlapping(got["7101"], got["7102"]), f"the second waited for the first: {got}"


def test_build_takes_no_lock(hand, fake):
    a = hand.werf("build", env=contender_env(fake, 7201, gate=fake.gate))
    fake.wait_started(7201)
    assert hand.locks() == [], f"build took a lock: {hand.locks()}"
    b = hand.werf("build", env=contender_env(fake, 7202, gate=fake.gate))
    fake.wait_started(7202)
    fake.open_gate()
    assert a.wait() == 0, a.report()
    assert b.wait() == 0, b.report()
    got = spans(fake.records())
    assert overlapping(got["7201"], got["7202"]), f"the second build waited: {got}"


def test_deploy_without_environment_locks_default(hand, fake):
    a = hand.werf("converge", env=contender_env(fake, 7301, env=None, gate=fake.gate))
    fake.wait_started(7301)
    hand.wait_queue(f"deploy/{PROJECT}/default", ["7301"])
    fake.open_gate()
    assert a.wait() == 0, a.report()


def test_deploy_lock_in_a_job_uses_the_response_files_project_id(
        runner, settings, hand, fake, jobs, berth_cmd):
    # The run stage's own lock is off: the key seen is berth werf's.
    settings.write(lock_deploys=False)
    job = started_job(jobs(7401, project_id=3001, werf_env=fake.env(gate=fake.gate),
                           variables={"CI_PROJECT_ID": "666", "CI_ENVIRONMENT_SLUG": "production"},
                           scripts={"build_script": [f"{berth_cmd} werf converge"]}))
    stage = job.start("build_script")
    fake.wait_started(7401)
    hand.wait_queue("deploy/3001/production", ["7401"])
    assert hand.entry("deploy/666/production") is None, "a job variable chose the project"
    fake.open_gate()
    expect(stage.wait(), rn.OK)
    expect(job.cleanup(), rn.OK)


def test_cleanup_of_one_registry_runs_one_at_a_time_across_projects(
        runner, hand, fake, jobs, berth_cmd, scratch):
    # WERF_REPO is set by the script line only: prepare logs in nowhere, nothing is contacted.
    # Every werf ends only once the gate exists (where the sandbox sees it too), which the test
    # makes after the other registry's cleanup has started: no race with the machine's speed.
    gate = scratch / "gate"

    def cleanup_job(job_id, project_id, repo):
        return started_job(jobs(
            job_id, project_id=project_id, project_path=f"group/p{project_id}",
            concurrent_id=job_id % 10, werf_env=fake.env(gate=gate),
            scripts={"build_script": [f"WERF_REPO={repo} {berth_cmd} werf cleanup"]}))

    key = "cleanup/registry.example.com/reg"
    a = cleanup_job(7501, 51, "registry.example.com/reg/proja")
    b = cleanup_job(7502, 52, "registry.example.com/reg/projb")
    c = cleanup_job(7503, 53, "registry.example.com/other/projc")
    sa = a.start("build_script")
    fake.wait_started(7501)
    hand.wait_queue(key, ["7501"])
    sb = b.start("build_script")
    hand.wait_queue(key, ["7501", "7502"])
    sc = c.start("build_script")
    fake.wait_started(7503)  # while 7501 holds its registry's lock
    gate.touch()
    for stage in (sa, sb, sc):
        expect(stage.wait(), rn.OK)
    got = spans(fake.records())
    assert set(got) == {"7501", "7502", "7503"}, got
    assert_no_overlap({k: got[k] for k in ("7501", "7502")})
    assert overlapping(got["7501"], got["7503"]), f"another registry's cleanup waited: {got}"
    assert hand.locks() == [], hand.locks()


def wait_werf_or_end(fake, job_id, stage, timeout=60):
    """The job's werf records once it started; a stage that ended first fails the test."""
    rn.wait_for(lambda: fake.of_job(job_id) or not stage.running(), timeout, interval=0.01)
    if not fake.of_job(job_id):
        result = stage.wait()
        raise AssertionError(f"werf never started in job {job_id}:\n{result.report()}")


def test_cleanup_lock_setting_names_the_key(runner, settings, hand, fake, jobs, berth_cmd):
    settings.write(cleanup_lock="cleanup/shared")
    job = started_job(jobs(7551, werf_env=fake.env(gate=fake.gate), scripts={"build_script": [
        f"WERF_REPO=registry.example.com/reg/proja {berth_cmd} werf cleanup"]}))
    stage = job.start("build_script")
    wait_werf_or_end(fake, 7551, stage)
    assert [e["key"] for e in hand.locks()] == ["cleanup/shared"], hand.locks()
    fake.open_gate()
    expect(stage.wait(), rn.OK)


def test_cleanup_of_a_registry_with_a_port(runner, hand, fake, jobs, berth_cmd):
    # docs/configuration.md's own example registry is `registry.internal:5000`; its cleanup
    # takes the lock of that host and registry, whatever the key makes of the ':'.
    job = started_job(jobs(7561, werf_env=fake.env(gate=fake.gate), scripts={"build_script": [
        f"WERF_REPO=registry.internal:5000/reg/proja {berth_cmd} werf cleanup"]}))
    stage = job.start("build_script")
    wait_werf_or_end(fake, 7561, stage)
    keys = [e["key"] for e in hand.locks()]
    assert len(keys) == 1 and keys[0].startswith("cleanup/registry.internal") and \
        keys[0].endswith("/reg") and "5000" in keys[0], keys
    fake.open_gate()
    expect(stage.wait(), rn.OK)


def test_lock_timeout_by_hand_is_a_system_failure(hand, settings, fake):
    settings.write(lock_timeout=1)
    key = f"deploy/{PROJECT}/production"
    a = hand.werf("converge", env=contender_env(fake, 7701, sleep=30))
    fake.wait_started(7701)
    b = hand.werf("converge", env={**contender_env(fake, 7702), "SYSTEM_FAILURE_EXIT_CODE": "78",
                                   "BUILD_FAILURE_EXIT_CODE": "77"})
    status = b.wait(60)
    assert status == 78, b.report()
    assert 0.8 <= b.duration <= 3.5, f"lock_timeout 1 gave up after {b.duration:.2f}s"
    assert key in b.stderr, f"the message does not name the key:\n{b.report()}"
    assert not fake.of_job(7702), "werf ran without the lock"
    assert hand.queue(key) == ["7701"], hand.locks()
    os.kill(a.pid, signal.SIGTERM)
    assert a.wait() == 143, a.report()


def test_sigterm_while_waiting_for_the_lock_leaves_nothing_behind(hand, fake, tmp_path):
    key = f"deploy/{PROJECT}/production"
    a = hand.werf("converge", env=contender_env(fake, 7801, sleep=30))
    fake.wait_started(7801)
    own_tmp = tmp_path / "waiter-tmp"
    own_tmp.mkdir()
    b = hand.werf("converge", env={**contender_env(fake, 7802), "TMPDIR": str(own_tmp),
                                   "SYSTEM_FAILURE_EXIT_CODE": "78"})
    hand.wait_queue(key, ["7801", "7802"])
    sent = time.monotonic()
    os.kill(b.pid, signal.SIGTERM)
    status = b.wait(60)
    took = time.monotonic() - sent
    assert status == 78, b.report()
    assert took < PROMPT, f"berth took {took:.2f}s to leave the queue"
    assert not fake.of_job(7802), "werf ran after berth was told to stop"
    assert os.listdir(own_tmp) == [], f"the waiter left {os.listdir(own_tmp)} in its TMPDIR"
    assert hand.queue(key) == ["7801"], hand.locks()
    os.kill(a.pid, signal.SIGTERM)
    assert a.wait() == 143, a.report()


# -- outside a job ----------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["passes", "fails", "terminated"])
def test_outside_a_job_berth_logs_in_itself_and_wipes_it_all(
        hand, settings, registry_basic, fake, tmp_path, variant):
    reg = registry_basic
    password, kube_token = canary_user(settings, reg)
    kubeconfig = GOOD.replace("TOKEN", kube_token)
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    own = '{"credsStore": "desktop"}'
    (home / ".docker" / "config.json").write_text(own)
    behaviour = {"passes": {}, "fails": {"exit": 1}, "terminated": {"sleep": 30}}[variant]
    run = hand.werf("converge", env={
        "HOME": str(home), "CI_PROJECT_ID": PROJECT,
        "WERF_REPO": f"{reg.host}/group/app", "WERF_USERNAME": "carol",
        "WERF_PASSWORD": password, "WERF_KUBECONFIG_BASE64": b64(kubeconfig),
        **fake.env(**behaviour)})
    made = []
    try:
        rec = fake.wait_started()[0]
        env = rec["env"]
        docker_dir = env.get("DOCKER_CONFIG")
        kube_file = env.get("KUBECONFIG")
        made = [p for p in (docker_dir, kube_file) if p]
        if variant == "terminated":
            time.sleep(0.1)
            os.kill(run.pid, signal.SIGTERM)
        status = run.wait()
        assert status == {"passes": 0, "fails": 1, "terminated": 143}[variant], run.report()

        assert docker_dir, "werf got no DOCKER_CONFIG"
        assert env.get("WERF_DOCKER_CONFIG") == docker_dir
        assert not docker_dir.startswith(str(home)), "the user's own ~/.docker was used"
        docker = rec["docker_config"]
        assert docker["dir_mode"] is not None and docker["dir_mode"] & 0o077 == 0, docker
        assert docker["config_json"], f"no config.json in {docker_dir}"
        config = json.loads(docker["config_json"])
        assert config.get("auths") == {reg.host: {"auth": b64(f"carol:{password}")}}, config
        assert "credsStore" not in config
        assert kube_file, "werf got no KUBECONFIG"
        assert env.get("WERF_KUBE_CONFIG") == kube_file
        kube = rec["kubeconfig"]
        assert kube["exists"] and kube["text"] == kubeconfig, kube
        assert kube["mode"] & 0o077 == 0, oct(kube["mode"])
        assert not [k for k in env if k.endswith(BASE64_KUBE)]

        # Gone when berth has exited: the files, and the private directory that held them.
        private = Path(os.path.commonpath([docker_dir, kube_file]))
        leftovers = [p for p in (docker_dir, kube_file) if os.path.lexists(p)]
        if private not in (Path("/"), Path("/tmp"), Path("/var/tmp"), hand.tmpdir):
            leftovers += [str(private)] if private.exists() else []
        assert not leftovers, f"left behind after berth exited: {leftovers}"
        if Path(docker_dir).is_relative_to(hand.tmpdir):
            assert not os.listdir(hand.tmpdir), f"left in TMPDIR: {os.listdir(hand.tmpdir)}"
        assert (home / ".docker" / "config.json").read_text() == own

        printed = run.stdout + run.stderr
        for secret in (password, kube_token, b64(f"carol:{password}")):
            assert secret not in printed, f"berth printed a secret:\n{run.report()}"
    finally:
        if run.running():
            os.killpg(run.pid, signal.SIGKILL)
            run.proc.wait(5)
        for path in made:  # what berth failed to remove (never the test's own dirs)
            p = Path(path)
            target = p if p.is_dir() else p.parent
            if target.exists() and not target.is_relative_to(tmp_path) and \
                    str(target).startswith(("/tmp/", "/var/tmp/")):
                shutil.rmtree(target, ignore_errors=True)


# -- the run stage's deploy lock --------------------------------------------------------------

def enter_leave(log, body="sleep 1"):
    f = shlex.quote(str(log))
    return [f"echo enter $CI_JOB_ID $(date +%s%N) >> {f}", body,
            f"echo leave $CI_JOB_ID $(date +%s%N) >> {f}"]


def until_exists(gate):
    """A script line that waits until GATE exists: the test's event, not a sleep's length."""
    return f"while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.01; done"


def wait_entered(log, job_id, timeout=60):
    def entered():
        try:
            return f"enter {job_id} " in Path(log).read_text()
        except FileNotFoundError:
            return False
    assert rn.wait_for(entered, timeout, interval=0.01), f"job {job_id} never entered its script"


@pytest.mark.parametrize("case", ["same-environment", "other-environment", "lock_deploys-off"])
def test_run_stage_holds_the_deploy_lock(runner, settings, hand, jobs, scratch, case):
    if case == "lock_deploys-off":
        settings.write(lock_deploys=False)
    log, gate = scratch / "log", scratch / "gate"
    envs = {"same-environment": ("production", "production"),
            "other-environment": ("production", "staging"),
            "lock_deploys-off": ("production", "production")}[case]
    # The first script runs until the test opens the gate: once the second one is queued, or
    # has entered beside it.
    a, b = (started_job(jobs(8001 + i, concurrent_id=i, concurrent_project_id=i,
                             variables={"CI_ENVIRONMENT_SLUG": env},
                             scripts={"build_script": enter_leave(log, body)}))
            for i, (env, body) in enumerate(zip(envs, (until_exists(gate), "true"))))
    sa = a.start("build_script")
    wait_entered(log, 8001)
    sb = b.start("build_script")
    if case == "same-environment":
        hand.wait_queue("deploy/1000/production", ["8001", "8002"])
        assert "enter 8002" not in log.read_text()
    else:
        wait_entered(log, 8002)
    gate.touch()
    expect(sa.wait(), rn.OK)
    expect(sb.wait(), rn.OK)
    got = intervals(log)
    if case == "same-environment":
        assert_no_overlap(got)
    else:
        assert overlapping(got["8001"], got["8002"]), f"the second job waited: {got}"
    assert hand.locks() == [], f"a lock outlived its stage: {hand.locks()}"


def holder_and_waiter(hand, jobs, log, first):
    """Two production deploys of one project: job FIRST holds the lock in a 30 s
    build_script, job FIRST+1 waits behind it. (jobs, their running build_script stages)."""
    a, b = (started_job(jobs(first + i, concurrent_id=i, concurrent_project_id=i,
                             variables={"CI_ENVIRONMENT_SLUG": "production"},
                             scripts={"build_script": enter_leave(log, body)}))
            for i, body in enumerate(("sleep 30", "true")))
    sa = a.start("build_script")
    wait_entered(log, first)
    sb = b.start("build_script")
    hand.wait_queue("deploy/1000/production", [str(first), str(first + 1)])
    return (a, b), (sa, sb)


def test_run_stage_deploy_lock_is_released_on_cancel(runner, hand, jobs, scratch):
    log = scratch / "log"
    _, (sa, sb) = holder_and_waiter(hand, jobs, log, 8101)
    canceled = time.time_ns()
    sa.cancel(grace=5)
    wait_entered(log, 8102, timeout=60)
    entered = intervals(log)["8102"][0]
    assert (entered - canceled) / 1e9 < PROMPT + KILL_GRACE, (
        f"the next job entered {(entered - canceled) / 1e9:.2f}s after the holder was canceled")
    expect(sb.wait(), rn.OK)


def test_run_stage_deploy_lock_outlives_a_killed_berth_until_the_script_ends(
        runner, hand, jobs, scratch, executor):
    log = scratch / "log"
    (a, _), (sa, sb) = holder_and_waiter(hand, jobs, log, 8151)
    sa._signal_group(signal.SIGKILL)
    sa.proc.wait(60)
    if executor == "bwrap":
        # The sandbox dies with berth (--die-with-parent), and the lock with its last holder.
        assert rn.wait_for(lambda: not job_processes(a), PROMPT), (
            f"the killed stage's sandbox outlived berth: {describe_pids(job_processes(a))}")
        wait_entered(log, 8152, timeout=PROMPT)
        assert "leave 8151" not in log.read_text(), "the holder's script ran to its end"
        expect(sb.wait(), rn.OK)
        expect(a.cleanup(), rn.OK)
        return
    # SIGKILL to berth's group: the script, in a group of its own, still runs and holds it.
    time.sleep(0.5)
    assert "enter 8152" not in log.read_text(), (
        "the next job entered while the killed stage's script still ran")
    # The runner's cleanup ends the job's processes: then the lock is free.
    ended = time.time_ns()
    expect(a.cleanup(), rn.OK)
    wait_entered(log, 8152, timeout=KILL_GRACE + 5)
    entered = intervals(log)["8152"][0]
    assert (entered - ended) / 1e9 < KILL_GRACE + PROMPT, (
        f"the next job entered {(entered - ended) / 1e9:.2f}s after the holder's cleanup")
    expect(sb.wait(), rn.OK)


def test_run_stage_lock_timeout_is_a_system_failure(runner, settings, hand, jobs, scratch):
    settings.write(lock_timeout=1)
    log, gate = scratch / "log", scratch / "gate"
    a, b = (started_job(jobs(8171 + i, concurrent_id=i, concurrent_project_id=i,
                             variables={"CI_ENVIRONMENT_SLUG": "production"},
                             scripts={"build_script": enter_leave(log, body)}, **ODD_CODES))
            for i, body in enumerate((until_exists(gate), "true")))
    sa = a.start("build_script")
    wait_entered(log, 8171)
    result = b.run("build_script")
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert 0.8 <= result.duration <= 3.5, result.report()
    assert "deploy/1000/production" in result.stdout + result.stderr, result.report()
    assert "enter 8172" not in log.read_text(), "the script ran without the lock"
    gate.touch()
    expect(sa.wait(), rn.OK)


# berth inside the script knows the lock is its job's by the ticket it inherited, so neither an
# emptied environment (env -i) nor anything the job sets makes it wait for itself.
@pytest.mark.parametrize("emptied_env", [False, True])
def test_werf_inside_the_locked_script_does_not_wait_for_itself(
        runner, hand, fake, jobs, scratch, berth_cmd, emptied_env):
    prefix = ""
    if emptied_env:
        keep = {"PATH": "$PATH", "BERTH_CONFIG": "$BERTH_CONFIG", "BERTH_JOB_DIR": "$BERTH_JOB_DIR", "CI_JOB_ID": "$CI_JOB_ID",
                "CI_ENVIRONMENT_SLUG": "production"}
        keep.update({k: shlex.quote(v) for k, v in fake.env(sleep=1, gate=fake.gate).items()})
        prefix = "env -i " + " ".join(f'{k}="{v}"' if v.startswith("$") else f"{k}={v}"
                                      for k, v in keep.items()) + " "
    job = started_job(jobs(8201, werf_env=fake.env(sleep=1, gate=fake.gate),
                           variables={"CI_ENVIRONMENT_SLUG": "production"},
                           scripts={"build_script": [f"{prefix}{berth_cmd} werf converge"]}))
    stage = job.start("build_script", timeout=60)
    fake.wait_started(8201)
    entry = hand.entry("deploy/1000/production")
    assert entry and entry["holder"] and str(entry["holder"]["job"]) == "8201", hand.locks()
    assert entry.get("waiters") == [], f"berth werf queued behind its own job: {entry}"
    fake.open_gate()
    result = stage.wait()
    expect(result, rn.OK)
    assert result.duration < 1 + 3, f"the stage took {result.duration:.1f}s"
    assert "is held by this job already" in result.stderr
    expect(job.cleanup(), rn.OK)


def test_job_without_environment_holds_no_lock(runner, hand, jobs, scratch):
    started, gate = scratch / "started", scratch / "gate"
    job = started_job(jobs(8301, scripts={"build_script": [
        f"touch {shlex.quote(str(started))}", until_exists(gate)]}))
    stage = job.start("build_script")
    assert rn.wait_for(started.exists, 60)
    assert hand.locks() == [], hand.locks()
    gate.touch()
    expect(stage.wait(), rn.OK)


# -- finding werf -----------------------------------------------------------------------------

def test_missing_werf_is_a_clear_error(hand, settings, fake):
    settings.write(werf_path="/nonexistent/werf")
    run = hand.werf("converge", env=contender_env(fake, 9001))
    status = run.wait()
    assert status != 0, run.report()
    assert "/nonexistent/werf" in run.stderr, f"the error does not name the path:\n{run.report()}"
    assert fake.records() == []
    assert hand.locks() == [], f"a lock outlived berth werf: {hand.locks()}"


def test_werf_is_found_on_path_by_default(hand, settings, fake, tmp_path):
    settings.write(werf_path=None)
    path = os.environ.get("PATH", "/usr/bin:/bin")
    run = hand.werf("version", env={**contender_env(fake, 9101, sleep=0),
                                    "PATH": f"{FAKE_DIR}:{path}"})
    assert run.wait() == 0, run.report()
    assert fake.one()["argv"] == ["version"]

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    run = hand.werf("version", env={**contender_env(fake, 9102, sleep=0),
                                    "PATH": f"{empty}:/usr/bin:/bin"})
    assert run.wait() != 0, run.report()
    assert "werf" in run.stderr, run.report()
    assert len(fake.records()) == 1


# -- found in review --------------------------------------------------------------------------

def test_stop_while_checking_the_cluster_still_wipes_the_credentials(hand, settings, fake):
    # A cluster that accepts the connection and never answers: SIGTERM arrives while berth
    # checks the kubeconfig, before werf ever starts; the decoded kubeconfig must not stay.
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        settings.write(kube_preflight=True, kube_timeout=3)
        token = "canary-kube-" + secrets.token_hex(8)
        kubeconfig = GOOD.replace("TOKEN", token).replace("https://127.0.0.1:1",
                                                          f"https://127.0.0.1:{port}")
        run = hand.werf("converge", env={"CI_PROJECT_ID": PROJECT,
                                         "WERF_KUBECONFIG_BASE64": b64(kubeconfig),
                                         **fake.env()})
        listener.settimeout(60)
        checking, _ = listener.accept()  # berth is in the check now, the kubeconfig decoded
        os.kill(run.pid, signal.SIGTERM)
        checking.close()
        status = run.wait(60)
        assert status != 0, run.report()
        assert not fake.records(), "werf ran although berth was stopped"
        left = [p for p in Path(hand.tmpdir).glob("berth-werf-*")]
        assert not left, f"private credential directories left behind: {left}"
        for path in Path(hand.tmpdir).rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path
    finally:
        listener.close()


def test_no_kubeconfig_still_pins_werf_to_berth_s_path(hand, settings, fake, tmp_path):
    # Without a job kubeconfig werf must not fall back to the runner's ~/.kube/config.
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text("the runner's own cluster\n")
    run = hand.werf("converge", env={"HOME": str(home), "CI_PROJECT_ID": PROJECT,
                                     "KUBECONFIG": str(home / ".kube" / "config"),
                                     **fake.env()})
    assert run.wait() == 0, run.report()
    env = fake.one()["env"]
    assert env.get("KUBECONFIG") and not env["KUBECONFIG"].startswith(str(home)), env
    assert env.get("WERF_KUBE_CONFIG") == env["KUBECONFIG"]
    assert not Path(env["KUBECONFIG"]).exists()
