"""`berth dry-run JOB` and `berth exec JOB`, end to end, on real git repositories.

Both commands read the git repository around `-C DIR` and its `.gitlab-ci.yml`. dry-run prints
what a runner would do with the job and touches nothing; exec really runs it through berth's
prepare, run (step_script, then after_script) and cleanup, on this machine.

Every berth call here runs with a clean environment (no CI_*, GITLAB_*, WERF_*, KUBECONFIG,
DOCKER_CONFIG, BERTH_* or CUSTOM_ENV_* from the machine running the tests), with
BUILD_FAILURE_EXIT_CODE=77 and a TMPDIR of the test's own that must be empty again afterwards.
The repositories are built with the git CLI the way test_pipeline.py builds its cases.

werf is tests/e2e/bin/werf (settings `werf_path`): it records its argv and environment.
One test logs in to a real docker-registry (htpasswd Basic auth, lib/registry.py).

PYTEST_DONT_REWRITE: the assertion messages below already show berth's command and output.
"""

import base64
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from lib import runner as rn
from test_credentials import canary_user
from test_pipeline import build_repo, git

E2E = Path(__file__).resolve().parent
REPO_ROOT = E2E.parents[1]
OWN_CI = REPO_ROOT / ".gitlab-ci.yml"
WERF_DEPLOY_CI = REPO_ROOT / "examples" / "werf-deploy" / ".gitlab-ci.yml"
FAKE_WERF = E2E / "bin" / "werf"

FAILURE_CODE = 77   # BUILD_FAILURE_EXIT_CODE in berth's environment
TIMEOUT = 60        # seconds for one berth run
ORIGIN = "git@gitlab.example.com:group/app.git"
WERF_DEPLOY_VARS = ["--var", "SEL_REGISTRY_DOMAIN=cr.selcloud.ru", "--var", "SEL_REGISTRY=myreg"]

# Names from the machine running the tests that would make a run depend on where it runs.
_FOREIGN = re.compile(r"^(CI|GITLAB|GIT|CUSTOM_ENV|WERF|BERTH|FAKE_WERF|LJ_E2E)_|"
                      r"^(CI|KUBECONFIG|KUBECONFIG_BASE64|DOCKER_CONFIG|TMPDIR|JOB_RESPONSE_FILE|"
                      r"BUILD_FAILURE_EXIT_CODE|SYSTEM_FAILURE_EXIT_CODE|BUILD_EXIT_CODE_FILE)$")


# -- helpers ----------------------------------------------------------------------------------

def b64(text):
    return base64.b64encode(text.encode()).decode()


def kubeconfig(token, server="https://10.0.0.1:6443", context="deployer", cluster="prod-k8s"):
    """A valid kubeconfig with a bearer token."""
    return f"""\
apiVersion: v1
kind: Config
clusters:
- name: {cluster}
  cluster:
    server: {server}
contexts:
- name: {context}
  context:
    cluster: {cluster}
    user: ci
current-context: {context}
users:
- name: ci
  user:
    token: {token}
"""


def canary(label):
    return f"canary-{label}-{secrets.token_hex(10)}"


def make_repo(path, ci_text, origin=ORIGIN, files=None):
    """A git repository at PATH whose first commit has .gitlab-ci.yml (and FILES), on main."""
    data = {".gitlab-ci.yml": ci_text.encode() if isinstance(ci_text, str) else ci_text}
    data.update({k: v.encode() for k, v in (files or {}).items()})
    build_repo(path, data, {"branch": "main", "origin": origin, "origin_head": "main"})
    return path


def files_under(path):
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        found += [os.path.join(dirpath, n) for n in filenames]
        found += [os.path.join(dirpath, n) for n in dirnames
                  if os.path.islink(os.path.join(dirpath, n))]
    return found


def files_containing(root, needles):
    """[(file, needle)] for every regular file under ROOT holding one of NEEDLES."""
    hits = []
    for name in files_under(root):
        try:
            data = Path(name).read_bytes()
        except OSError:
            continue
        hits += [(name, n) for n in needles if n.encode() in data]
    return hits


def in_order(text, pieces):
    """Asserts each of PIECES occurs in TEXT after the previous one."""
    at = 0
    for piece in pieces:
        found = text.find(piece, at)
        assert found >= 0, (f"{piece!r} missing from the output after position {at} "
                            f"(want, in order: {pieces})")
        at = found + len(piece)


def shown(res):
    return (f"$ {' '.join(map(str, res.args))}\nexit code {res.returncode}\n"
            f"--- stdout ---\n{res.stdout}--- stderr ---\n{res.stderr}")


class Berth:
    """berth for one test: its settings file, a clean environment, a TMPDIR of its own."""

    def __init__(self, bin_path, settings, root):
        self.bin = Path(bin_path).resolve()
        self.settings = settings
        self.root = root
        self.tmpdir = root / "tmp"
        self.tmpdir.mkdir()
        self.tag = secrets.token_hex(8)   # in every berth's environment: finds leftovers
        self.started = []

    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not _FOREIGN.match(k)}
        env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
                   BUILD_FAILURE_EXIT_CODE=str(FAILURE_CODE), TMPDIR=str(self.tmpdir),
                   LJ_E2E_TAG=self.tag)
        for k, v in (extra or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def argv(self, args, config=True):
        return [str(self.bin)] + (["--config", str(self.settings.path)] if config else []) + \
            [str(a) for a in args]

    def run(self, *args, env=None, config=True, cwd=None, timeout=TIMEOUT):
        return subprocess.run(self.argv(args, config), env=self.env(env), cwd=cwd or self.root,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)

    def start(self, *args, env=None, name="berth"):
        """berth in a session of its own, its output into files (read with .out()/.err())."""
        out, err = self.root / f"{name}.out", self.root / f"{name}.err"
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = subprocess.Popen(self.argv(args), env=self.env(env), cwd=self.root,
                                    stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                                    start_new_session=True)
        proc.out = lambda: out.read_text(errors="replace")
        proc.err = lambda: err.read_text(errors="replace")
        self.started.append(proc)
        return proc

    def locks(self):
        return rn.locks_json(self.bin, self.env({"BERTH_CONFIG": str(self.settings.path)}))

    def assert_tmpdir_empty(self, res=None):
        left = sorted(os.listdir(self.tmpdir))
        assert left == [], (f"berth left {left} in its TMPDIR {self.tmpdir}"
                            + (f"\n{shown(res)}" if res is not None else ""))

    def workspaces(self):
        jobs = self.settings.state_dir / "jobs"
        return sorted(os.listdir(jobs)) if jobs.is_dir() else []

    def close(self):
        for proc in self.started:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait(5)
        rn.kill_pids(rn.pids_with_env("LJ_E2E_TAG", self.tag))


@pytest.fixture
def berth(berth_bin, settings, tmp_path):
    b = Berth(berth_bin, settings, tmp_path)
    yield b
    b.close()


@pytest.fixture
def scratch(tmp_path):
    path = tmp_path / "scratch"
    path.mkdir()
    return path


def dry_run(berth, repo, job, *args, **kw):
    return berth.run("dry-run", job, "-C", repo, *args, **kw)


def exec_job(berth, repo, job, *args, **kw):
    return berth.run("exec", job, "-C", repo, *args, **kw)


def pipeline_jobs(berth, repo, *args):
    res = berth.run("pipeline", "-C", repo, "--json", *args)
    assert res.returncode == 0, f"berth pipeline failed\n{shown(res)}"
    data = json.loads(res.stdout)
    return {j["name"]: j for j in data["jobs"]}, res


def werf_deploy_repo(tmp_path):
    return make_repo(tmp_path / "app", WERF_DEPLOY_CI.read_bytes())


def secrets_file(path, **values):
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


# -- 1. the repository's own pipelines --------------------------------------------------------

OWN_JOBS = {  # berth's .gitlab-ci.yml: job -> its script after `make deps` (default before_script)
    "build": ["make"], "unit": ["make unit"], "e2e": ["make kube-apiserver", "make e2e"],
    "sanitizers": ["make kube-apiserver", "make O=build/san SANITIZE=address,undefined all unit e2e"],
    "lint": ["make lint"], "terraform": ["make terraform-check"],
    "ansible": ["make ansible-check"], "bench": ["make bench"],
    "package": ["make deb", "make package-check"],
}


def test_own_pipeline_listing_and_dry_run_of_every_push_job(berth, tmp_path):
    repo = make_repo(tmp_path / "berth", OWN_CI.read_bytes())
    jobs, listing = pipeline_jobs(berth, repo)
    whens = {n: j["when"] for n, j in jobs.items()}
    assert whens == {n: "manual" if n == "bench" else "on_success" for n in OWN_JOBS}, \
        f"jobs of berth's own push pipeline\n{shown(listing)}"
    assert [j for j in jobs][:1] == ["build"] and list(jobs)[-1] == "package", shown(listing)
    assert jobs["bench"]["allow_failure"] is True, shown(listing)
    human = berth.run("pipeline", "-C", repo)
    assert human.returncode == 0, shown(human)
    for name in OWN_JOBS:
        assert name in human.stdout, shown(human)

    for name, when in whens.items():
        res = dry_run(berth, repo, name)
        assert res.returncode == 0, f"dry-run {name} should succeed\n{shown(res)}"
        out = res.stdout
        assert re.search(rf"^when: {when}\b", out, re.M), f"want when: {when}\n{shown(res)}"
        assert "kubeconfig: none" in out and "lock: none" in out, shown(res)
        lines = ["make deps"] + OWN_JOBS[name]
        assert f"== run step_script: {len(lines)} line(s)" in out, shown(res)
        in_order(out, ["== prepare"] + [f"  $ {line}\n" for line in lines] +
                 ["== run after_script: 0 line(s)", "== cleanup", "== variables"])
        assert f"CI_JOB_NAME={name}" in out, shown(res)
    bench = dry_run(berth, repo, "bench")
    assert "allowed to fail" in bench.stdout.split("\n", 2)[1], shown(bench)
    berth.assert_tmpdir_empty()
    assert not berth.settings.state_dir.exists()


def werf_deploy_secrets(tmp_path, user="token", password=None, token=None):
    return secrets_file(tmp_path / "werf.env", WERF_USERNAME=user,
                        WERF_PASSWORD=password or canary("pw"),
                        WERF_KUBECONFIG_BASE64=b64(kubeconfig(token or canary("kube"))))


def test_werf_deploy_example_listing_and_dry_runs(berth, tmp_path):
    repo = werf_deploy_repo(tmp_path)
    env_file = werf_deploy_secrets(tmp_path)

    jobs, listing = pipeline_jobs(berth, repo, *WERF_DEPLOY_VARS)
    assert {n: j["when"] for n, j in jobs.items()} == {
        "Deploy to test": "manual", "Deploy to production": "manual", "Clean up": "never"}, \
        shown(listing)
    jobs, listing = pipeline_jobs(berth, repo, "--source", "schedule", *WERF_DEPLOY_VARS)
    assert {n: j["when"] for n, j in jobs.items()} == {
        "Deploy to test": "never", "Deploy to production": "never", "Clean up": "on_success"}, \
        shown(listing)

    for name, slug in (("Deploy to test", "test"), ("Deploy to production", "production")):
        res = dry_run(berth, repo, name, *WERF_DEPLOY_VARS, "--vars-file", env_file)
        assert res.returncode == 0, f"dry-run {name!r}\n{shown(res)}"
        out = res.stdout
        assert re.search(r"^when: manual\b", out, re.M), shown(res)
        assert ("kubeconfig: from WERF_KUBECONFIG_BASE64, valid: context 'deployer', "
                "cluster 'prod-k8s' at https://10.0.0.1:6443") in out, shown(res)
        assert "registry login: cr.selcloud.ru as '[MASKED]'" in out, shown(res)
        assert f"lock: 'deploy/local/{slug}'" in out, shown(res)
        in_order(out, ["== run step_script: 1 line(s)", "  $ berth werf converge\n",
                       f"berth werf converge: holds lock 'deploy/local/{slug}'",
                       "== run after_script: 0 line(s)", "== werf's environment in every stage",
                       "== cleanup", "== variables"])
        for line in ("WERF_REPO=cr.selcloud.ru/myreg/group/app", f"WERF_ENV={slug}",
                     "WERF_PARALLEL=0", "DOCKER_CONFIG=$STATE/jobs/<job id>/docker",
                     "KUBECONFIG=$STATE/jobs/<job id>/kube/config"):
            assert re.search(rf"^  {re.escape(line)}$", out, re.M), f"want {line}\n{shown(res)}"
        assert re.search(r"^  WERF_SYNCHRONIZATION=\S", out, re.M), shown(res)
        assert "  WERF_PASSWORD=[MASKED]" in out, shown(res)

    # the project id a runner would use, given by hand
    res = dry_run(berth, repo, "Deploy to production", *WERF_DEPLOY_VARS, "--vars-file", env_file,
                  "--var", "CI_PROJECT_ID=4242")
    assert res.returncode == 0, shown(res)
    assert "lock: 'deploy/4242/production'" in res.stdout, shown(res)
    assert "berth werf converge: holds lock 'deploy/4242/production'" in res.stdout, shown(res)

    res = dry_run(berth, repo, "Clean up", "--source", "schedule", *WERF_DEPLOY_VARS,
                  "--vars-file", env_file)
    assert res.returncode == 0, shown(res)
    assert "berth werf cleanup: holds lock 'cleanup/cr.selcloud.ru/myreg'" in res.stdout, shown(res)
    assert "lock: none" in res.stdout, shown(res)
    assert not re.search(r"^  WERF_ENV=", res.stdout, re.M), \
        f"Clean up has no environment: no WERF_ENV\n{shown(res)}"

    res = dry_run(berth, repo, "Clean up", *WERF_DEPLOY_VARS, "--vars-file", env_file)
    assert res.returncode == FAILURE_CODE, f"Clean up is not in a push pipeline\n{shown(res)}"
    assert "Clean up" in res.stderr and "push" in res.stderr and "rules" in res.stderr, shown(res)
    assert "== run" not in res.stdout, shown(res)
    berth.assert_tmpdir_empty()
    assert not berth.settings.state_dir.exists()


def test_werf_deploy_dry_run_with_file_option_and_subdirectory(berth, tmp_path):
    """--file names the pipeline file relative to the work tree's root, -C any dir inside it."""
    repo = make_repo(tmp_path / "app", "broken: [\n",
                     files={"ci/deploy.yml": WERF_DEPLOY_CI.read_text(), "sub/dir/x.txt": "x\n"})
    env_file = werf_deploy_secrets(tmp_path)
    res = berth.run("dry-run", "Deploy to test", "-C", repo / "sub" / "dir", "--file",
                    "ci/deploy.yml", *WERF_DEPLOY_VARS, "--vars-file", env_file)
    assert res.returncode == 0, shown(res)
    assert "lock: 'deploy/local/test'" in res.stdout, shown(res)
    assert f"CI_PROJECT_DIR={repo}" in res.stdout, shown(res)


# -- 2. dry-run masks secrets -----------------------------------------------------------------

MASK_CI = """\
variables:
  WERF_REPO: registry.example.com/group/app
deploy:
  environment: {name: production}
  script:
    - echo "deploying as $WERF_USERNAME"
    - werf converge
"""


def test_dry_run_masks_vars_file_and_environment_secrets(berth, tmp_path):
    repo = make_repo(tmp_path / "app", MASK_CI)
    password, user, token, env_secret = canary("pw"), canary("user"), canary("tok"), canary("env")
    kube_b64 = b64(kubeconfig(token))
    env_file = secrets_file(tmp_path / "s.env", WERF_USERNAME=user, WERF_PASSWORD=password,
                            WERF_KUBECONFIG_BASE64=kube_b64)
    visible = "visible-" + secrets.token_hex(6)
    res = dry_run(berth, repo, "deploy", "--vars-file", env_file, "--var", f"PLAIN={visible}",
                  "--env", "MY_ENV_SECRET", env={"MY_ENV_SECRET": env_secret})
    assert res.returncode == 0, shown(res)
    for secret in (password, user, token, kube_b64, env_secret):
        assert secret not in res.stdout + res.stderr, f"leaked {secret!r}\n{shown(res)}"
    out = res.stdout
    assert "registry login: registry.example.com as '[MASKED]'" in out, shown(res)
    for name in ("WERF_USERNAME", "WERF_PASSWORD", "WERF_KUBECONFIG_BASE64", "MY_ENV_SECRET"):
        assert f"  {name}=[MASKED]\n" in out, f"{name} should be listed masked\n{shown(res)}"
    assert f"  PLAIN={visible}\n" in out, f"--var values are not secret\n{shown(res)}"
    assert "kubeconfig: from WERF_KUBECONFIG_BASE64, valid" in out, shown(res)

    # WERF_KUBECONFIG_BASE64 taken from the environment by itself, masked as well
    token2 = canary("tok2")
    kube2 = b64(kubeconfig(token2, context="from-env"))
    creds = secrets_file(tmp_path / "creds.env", WERF_USERNAME=user, WERF_PASSWORD=password)
    res = dry_run(berth, repo, "deploy", "--vars-file", creds,
                  env={"WERF_KUBECONFIG_BASE64": kube2})
    assert res.returncode == 0, shown(res)
    assert "kubeconfig: from WERF_KUBECONFIG_BASE64, valid: context 'from-env'" in res.stdout, \
        shown(res)
    assert "  WERF_KUBECONFIG_BASE64=[MASKED]\n" in res.stdout, shown(res)
    for secret in (token2, kube2, password, user):
        assert secret not in res.stdout + res.stderr, f"leaked {secret!r}\n{shown(res)}"

    # a user name given with --var is no secret: the plan shows it
    only_pw = secrets_file(tmp_path / "pw.env", WERF_PASSWORD=password)
    res = dry_run(berth, repo, "deploy", "--vars-file", only_pw, "--var", "WERF_USERNAME=token")
    assert res.returncode == 0, shown(res)
    assert "registry login: registry.example.com as 'token'" in res.stdout, shown(res)
    assert "  WERF_USERNAME=token\n" in res.stdout and "  WERF_PASSWORD=[MASKED]\n" in res.stdout, \
        shown(res)
    assert password not in res.stdout + res.stderr, shown(res)
    berth.assert_tmpdir_empty()


def test_dry_run_masks_secrets_inside_derived_variables(berth, tmp_path):
    """A job variable built from a secret (`AUTH: user:$TOKEN`) carries the secret: as GitLab
    masks a masked value wherever it appears, the plan must not print it."""
    repo = make_repo(tmp_path / "app", """\
variables:
  AUTH: "user:$API_TOKEN"
job:
  variables:
    COPY: $API_TOKEN
  script:
    - curl -u "$AUTH" https://example.com
""")
    token = canary("api")
    env_file = secrets_file(tmp_path / "s.env", API_TOKEN=token)
    res = dry_run(berth, repo, "job", "--vars-file", env_file)
    assert res.returncode == 0, shown(res)
    assert "  API_TOKEN=[MASKED]\n" in res.stdout, shown(res)
    assert token not in res.stdout + res.stderr, \
        f"the --vars-file value leaked through a variable that references it\n{shown(res)}"


# -- 3. dry-run touches nothing ---------------------------------------------------------------

def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    return s


def accepted(sock):
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def test_dry_run_touches_nothing_and_calls_no_network(berth, settings, tmp_path):
    reg, api = listener(), listener()
    try:
        reg_host = f"127.0.0.1:{reg.getsockname()[1]}"
        settings.write(registries=[{"host": reg_host, "plain_http": True}], kube_preflight=True)
        repo = make_repo(tmp_path / "app", MASK_CI.replace("registry.example.com", reg_host))
        env_file = secrets_file(
            tmp_path / "s.env", WERF_USERNAME="alice", WERF_PASSWORD=canary("pw"),
            WERF_KUBECONFIG_BASE64=b64(kubeconfig(
                canary("tok"), server=f"https://127.0.0.1:{api.getsockname()[1]}")))
        before = sorted(files_under(repo))
        res = dry_run(berth, repo, "deploy", "--vars-file", env_file)
        assert res.returncode == 0, shown(res)
        # the plan names our settings' state_dir, the registry and the cluster: it read them
        assert f"under state_dir {settings.state_dir}" in res.stdout, shown(res)
        assert f"registry login: {reg_host} as '[MASKED]'" in res.stdout, shown(res)
        assert f"at https://127.0.0.1:{api.getsockname()[1]}" in res.stdout, shown(res)
        time.sleep(0.2)
        assert not accepted(reg), f"dry-run connected to the registry\n{shown(res)}"
        assert not accepted(api), f"dry-run connected to the cluster\n{shown(res)}"
    finally:
        reg.close()
        api.close()
    assert not settings.state_dir.exists(), \
        f"dry-run created {files_under(settings.state_dir) or settings.state_dir}\n{shown(res)}"
    assert not settings.builds_dir.exists() and not settings.cache_dir.exists(), shown(res)
    berth.assert_tmpdir_empty(res)
    assert sorted(files_under(repo)) == before, "dry-run changed the repository"
    assert git(repo, "status", "--porcelain") == "", "dry-run changed the work tree"


# -- 4. dry-run refuses what a runner would refuse --------------------------------------------

ERRORS_CI = """\
workflow:
  rules:
    - if: $NO_PIPELINE == "yes"
      when: never
    - when: always
.hidden:
  script: [echo hidden]
deploy:
  environment: {name: production}
  script: [werf converge]
excluded:
  script: [echo excluded]
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"
      when: never
    - when: on_success
"""


@pytest.mark.parametrize("job, args, env_values, words", [
    ("no-such-job", [], {}, ["no-such-job", "no job"]),
    (".hidden", [], {}, [".hidden", "hidden"]),
    ("excluded", [], {}, ["excluded", "would not run", "push", "rules[0]", "when: never"]),
    ("deploy", ["--var", "NO_PIPELINE=yes"], {}, ["no pipeline", "workflow"]),
    ("deploy", [], {"WERF_KUBECONFIG_BASE64": b64("not: [a kubeconfig")},
     ["WERF_KUBECONFIG_BASE64", "kubeconfig"]),
    ("deploy", [], {"WERF_KUBECONFIG_BASE64": "%%% not base64 %%%"},
     ["WERF_KUBECONFIG_BASE64", "base64"]),
    ("deploy", ["--var", "WERF_REPO=cr.selcloud.ru/onlyregistry"],
     {"WERF_USERNAME": "token", "WERF_PASSWORD": "pw-123456"},
     ["cr.selcloud.ru/onlyregistry", "root", "CRaaS"]),
    ("deploy", ["--var", "WERF_REPO=registry.example.com/group/app"],
     {"WERF_USERNAME": "token"}, ["WERF_USERNAME", "WERF_PASSWORD", "both"]),
    ("deploy", ["--var", "WERF_REPO=registry.example.com/group/app"],
     {"WERF_PASSWORD": "pw-123456"}, ["WERF_USERNAME", "WERF_PASSWORD", "both"]),
], ids=["unknown", "hidden", "rules-never", "workflow", "bad-kubeconfig", "bad-base64",
        "craas-root", "username-only", "password-only"])
def test_dry_run_errors(berth, settings, tmp_path, job, args, env_values, words):
    repo = make_repo(tmp_path / "app", ERRORS_CI)
    env_file = secrets_file(tmp_path / "s.env", **env_values)
    res = dry_run(berth, repo, job, *args, "--vars-file", env_file)
    assert res.returncode == FAILURE_CODE, f"want exit {FAILURE_CODE}\n{shown(res)}"
    for word in words:
        assert word.lower() in res.stderr.lower(), f"stderr should mention {word!r}\n{shown(res)}"
    for value in env_values.values():
        if "pw-" in value:
            assert value not in res.stdout + res.stderr, shown(res)
    assert not settings.state_dir.exists(), shown(res)
    berth.assert_tmpdir_empty(res)


def test_dry_run_of_the_same_pipeline_succeeds_without_the_errors(berth, tmp_path):
    """The counterpart of test_dry_run_errors: the pipeline and `deploy` are fine as such."""
    repo = make_repo(tmp_path / "app", ERRORS_CI)
    res = dry_run(berth, repo, "deploy")
    assert res.returncode == 0, shown(res)
    assert "lock: 'deploy/local/production'" in res.stdout, shown(res)
    res = dry_run(berth, repo, "excluded", "--source", "web")
    assert res.returncode == 0 and re.search(r"^when: on_success", res.stdout, re.M), shown(res)


# -- 5. exec: the success path ----------------------------------------------------------------

EXEC_CI = """\
variables:
  GLOBAL_ONLY: global-value
  OVERRIDE_ME: from-yaml
  BOTH: global
  LJ_MARKER: "{marker}"
job:
  variables:
    BOTH: job
  before_script:
    - echo "before GLOBAL_ONLY=$GLOBAL_ONLY BOTH=$BOTH OVERRIDE_ME=$OVERRIDE_ME"
  script:
    - echo "sha=$CI_COMMIT_SHA"
    - echo "dir=$CI_PROJECT_DIR pwd=$(pwd)"
    - sleep 300 &
    - echo $! > "$SCRATCH/sleep.pid"
    # until the fork has exec'd sleep: before, /proc/PID/environ is the shell's at its start
    - for i in $(seq 1000); do [ "$(cat /proc/$!/comm)" = sleep ] && break; sleep 0.01; done
    - grep -qz "^LJ_MARKER=$LJ_MARKER$" /proc/$!/environ && echo marked > "$SCRATCH/sleep_marked"
    - echo "workspace=$BERTH_JOB_DIR"
    - test -d "$BERTH_JOB_DIR" && echo "script done"
  after_script:
    - echo "after OVERRIDE_ME=$OVERRIDE_ME"
fails:
  script:
    - echo "script runs"
    - exit 3
    - echo "never printed"
  after_script:
    - echo "after_script ran"
    - touch "$SCRATCH/after_ran"
after-fails:
  script:
    - echo "script passes"
  after_script:
    - echo "after_script fails"
    - exit 5
before-fails:
  before_script:
    - exit 4
  script:
    - touch "$SCRATCH/script_ran"
excluded:
  script:
    - touch "$SCRATCH/excluded_ran"
  after_script:
    - touch "$SCRATCH/excluded_after_ran"
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"
      when: never
    - when: on_success
"""


@pytest.fixture
def exec_repo(tmp_path):
    marker = "lj-" + secrets.token_hex(8)
    repo = make_repo(tmp_path / "app", EXEC_CI.format(marker=marker),
                     files={"sub/README": "x\n"})
    return SimpleNamespace(path=repo, marker=marker)


def assert_nothing_left(berth, res, marker=None):
    assert berth.workspaces() == [], f"workspace left behind: {berth.workspaces()}\n{shown(res)}"
    berth.assert_tmpdir_empty(res)
    if marker:
        left = []
        if not rn.wait_for(lambda: not rn.pids_with_env("LJ_MARKER", marker), 60):
            left = [(p, Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" "))
                    for p in rn.pids_with_env("LJ_MARKER", marker)]
        assert not left, f"processes of the job survived: {left}\n{shown(res)}"


def test_exec_runs_the_job_in_order_with_its_variables(berth, exec_repo, scratch):
    repo = exec_repo.path
    sha = git(repo, "rev-parse", "HEAD")
    res = exec_job(berth, repo / "sub", "job", "--var", "OVERRIDE_ME=from-cli",
                   "--var", f"SCRATCH={scratch}")
    assert res.returncode == 0, shown(res)
    in_order(res.stdout, [
        '$ echo "before GLOBAL_ONLY=$GLOBAL_ONLY BOTH=$BOTH OVERRIDE_ME=$OVERRIDE_ME"\n',
        "before GLOBAL_ONLY=global-value BOTH=job OVERRIDE_ME=from-cli\n",
        '$ echo "sha=$CI_COMMIT_SHA"\n', f"sha={sha}\n",
        '$ echo "dir=$CI_PROJECT_DIR pwd=$(pwd)"\n', f"dir={repo} pwd={repo}\n",
        "$ sleep 300 &\n",
        '$ echo "workspace=$BERTH_JOB_DIR"\n', "workspace=",
        "script done\n",
        '$ echo "after OVERRIDE_ME=$OVERRIDE_ME"\n', "after OVERRIDE_ME=from-cli\n"])
    m = re.search(r"^workspace=(.+)$", res.stdout, re.M)
    workspace = Path(m.group(1))
    assert workspace.parent == berth.settings.state_dir / "jobs", \
        f"the workspace should be under state_dir/jobs\n{shown(res)}"
    assert not workspace.exists(), f"{workspace} survived cleanup\n{shown(res)}"
    assert "running job 'job'" in res.stderr, shown(res)

    sleep_pids = rn.read_pids(scratch / "sleep.pid")
    assert sleep_pids, f"the script did not record its background sleep\n{shown(res)}"
    assert (scratch / "sleep_marked").exists(), \
        f"the background sleep should carry LJ_MARKER (else the process check is blind)\n{shown(res)}"
    assert rn.wait_for(lambda: not any(rn.alive(p) for p in sleep_pids), 60), \
        f"`sleep 300 &` (pid {sleep_pids}) survived the job\n{shown(res)}"
    assert_nothing_left(berth, res, exec_repo.marker)
    assert git(repo, "status", "--porcelain") == "", "exec left files in the work tree"


# -- 6. exec: exit codes ----------------------------------------------------------------------

def test_exec_failing_script_exits_with_its_code_after_after_script(berth, exec_repo, scratch):
    res = exec_job(berth, exec_repo.path, "fails", "--var", f"SCRATCH={scratch}")
    assert res.returncode == 3, f"want the script's exit code 3\n{shown(res)}"
    in_order(res.stdout, ['$ echo "script runs"\n', "script runs\n", "$ exit 3\n",
                          '$ echo "after_script ran"\n', "after_script ran\n"])
    assert "never printed" not in res.stdout, shown(res)
    assert (scratch / "after_ran").exists(), shown(res)
    assert_nothing_left(berth, res, exec_repo.marker)


def test_exec_failing_after_script_keeps_success(berth, exec_repo, scratch):
    res = exec_job(berth, exec_repo.path, "after-fails", "--var", f"SCRATCH={scratch}")
    assert res.returncode == 0, f"after_script failing must not fail the job\n{shown(res)}"
    in_order(res.stdout, ["script passes\n", "$ exit 5\n"])
    assert "after_script" in res.stderr, shown(res)
    assert_nothing_left(berth, res, exec_repo.marker)


def test_exec_failing_before_script_skips_script(berth, exec_repo, scratch):
    res = exec_job(berth, exec_repo.path, "before-fails", "--var", f"SCRATCH={scratch}")
    assert res.returncode == 4, f"want before_script's exit code 4\n{shown(res)}"
    assert not (scratch / "script_ran").exists(), f"script ran after before_script failed\n{shown(res)}"
    assert_nothing_left(berth, res, exec_repo.marker)


# -- 7. exec with werf: berth werf's environment and the deploy lock --------------------------

WERF_CI = """\
deploy:
  stage: deploy
  environment:
    name: production
  script:
    - echo "before werf"
    - werf converge --atomic
    - echo "after werf"
"""


@pytest.mark.parametrize("project_id", ["4242", None], ids=["given", "derived"])
def test_exec_werf_gets_its_environment_under_the_deploy_lock(berth, settings, tmp_path,
                                                              project_id):
    assert os.access(FAKE_WERF, os.X_OK), f"{FAKE_WERF} is not executable"
    settings.write(werf_path=str(FAKE_WERF), kube_preflight=False)
    repo = make_repo(tmp_path / "app", WERF_CI)
    log = tmp_path / "werf.log"
    live = Path(str(log) + ".live")
    kube_token = canary("kube")
    env_file = secrets_file(tmp_path / "s.env", WERF_KUBECONFIG_BASE64=b64(kubeconfig(kube_token)))
    args = ["exec", "deploy", "-C", repo, "--vars-file", env_file]
    if project_id:
        args += ["--var", f"CI_PROJECT_ID={project_id}"]
    proc = berth.start(*args, env={"FAKE_WERF_LOG": str(log), "FAKE_WERF_SLEEP": "4"})

    def live_record():
        try:
            names = [n for n in os.listdir(live) if n.endswith(".json")]
        except FileNotFoundError:
            return None
        for name in names:
            try:
                return json.loads((live / name).read_text())
            except (FileNotFoundError, ValueError):
                pass
        return None

    record = rn.wait_for(live_record, 60, interval=0.02)
    assert record, f"werf did not start\nstdout: {proc.out()}\nstderr: {proc.err()}"
    if project_id is None:
        m = re.search(r"locks use (\d+)", proc.err())
        assert m, f"berth should announce the derived project id\nstderr: {proc.err()}"
        key = f"deploy/{m.group(1)}/production"
    else:
        key = f"deploy/{project_id}/production"
    locks = berth.locks()
    still_running = live_record() is not None and not log.exists()
    entry = rn.lock_entry(locks, key)
    assert entry and entry.get("holder"), f"{key} should be held while werf runs: {locks}"
    assert str(entry["holder"]["job"]) == str(proc.pid), \
        f"the holder should be exec's job (berth's pid {proc.pid}): {entry}"
    assert still_running, "werf ended before the lock was seen: the check proves nothing"

    try:
        code = proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"berth exec still running\nstderr: {proc.err()}") from None
    out, err = proc.out(), proc.err()
    report = f"exit {code}\nstdout: {out}\nstderr: {err}"
    assert code == 0, report
    in_order(out, ["$ werf converge --atomic\n", "$ echo \"after werf\"\n", "after werf\n"])
    assert "fake werf: converge --atomic" in out + err, report

    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert len(records) == 1, records
    r = records[0]
    env = r["env"]
    assert r["argv"] == ["converge", "--atomic"], r["argv"]
    assert r["exit"] == 0 and r["cwd"] == str(repo), (r["exit"], r["cwd"])
    assert env.get("WERF_ENV") == "production", env.get("WERF_ENV")
    assert env.get("WERF_SYNCHRONIZATION"), "WERF_SYNCHRONIZATION should be set"
    jobs_dir = settings.state_dir / "jobs"
    docker = Path(env.get("DOCKER_CONFIG", ""))
    assert docker.parent.parent == jobs_dir and docker.name == "docker", \
        f"DOCKER_CONFIG should be <state_dir>/jobs/<job>/docker, got {docker}"
    assert r["docker_config"]["dir_exists"], r["docker_config"]
    kube = r["kubeconfig"]
    assert kube and kube["path"] == str(docker.parent / "kube" / "config"), kube
    assert kube["exists"] and kube_token in (kube["text"] or ""), \
        "werf should get the job's kubeconfig"
    assert kube["mode"] == 0o600, oct(kube["mode"] or 0)
    assert env.get("CI_ENVIRONMENT_NAME") == "production"
    # `werf` in the script was the stage's werf wrapper, first on PATH, as under a runner.
    assert env.get("PATH", "").split(":")[0] == str(docker.parent / "bin"), env.get("PATH")
    assert r["argv0"] == str(FAKE_WERF), r["argv0"]

    assert not docker.parent.exists(), f"workspace {docker.parent} survived cleanup"
    entry = rn.lock_entry(berth.locks(), key)
    assert not (entry and entry.get("holder")), f"{key} still held after exec: {entry}"
    assert berth.workspaces() == [], berth.workspaces()
    berth.assert_tmpdir_empty()
    assert kube_token not in out + err, "the kube token leaked into exec's output"


def test_exec_dry_run_agrees_with_exec_on_the_lock(berth, settings, tmp_path):
    """dry-run's plan names the same lock key exec holds (same CI_PROJECT_ID)."""
    repo = make_repo(tmp_path / "app", WERF_CI)
    res = dry_run(berth, repo, "deploy", "--var", "CI_PROJECT_ID=77")
    assert res.returncode == 0, shown(res)
    assert "berth werf converge: holds lock 'deploy/77/production'" in res.stdout, shown(res)
    assert "  WERF_ENV=production\n" in res.stdout, shown(res)


# -- 8. exec keeps secrets secret -------------------------------------------------------------

SECRET_CI = """\
variables:
  WERF_REPO: {host}/group/app
deploy:
  environment: {{name: production}}
  script:
    - echo "${{#MYSECRET}}" > "$SCRATCH/secret_len"
    - python3 -c 'import json,os,sys; print(" ".join(sorted(json.load(open(os.environ["DOCKER_CONFIG"] + "/config.json"))["auths"])))' > "$SCRATCH/auths"
    - test "$(cat "$KUBECONFIG" | grep -c "$KUBE_CANARY_NAME")" = 1
    - echo "script done"
  after_script:
    - echo "${{#WERF_PASSWORD}}" > "$SCRATCH/password_len"
"""


def test_exec_secrets_reach_the_script_but_nothing_else(berth, settings, tmp_path, scratch,
                                                         registry_basic):
    reg = registry_basic
    password, kube_token = canary_user(settings, reg, user="carol")   # kube_preflight off
    mysecret = canary("mine")
    repo = make_repo(tmp_path / "app", SECRET_CI.format(host=reg.host))
    env_file = secrets_file(tmp_path / "s.env", MYSECRET=mysecret, WERF_USERNAME="carol",
                            WERF_PASSWORD=password,
                            WERF_KUBECONFIG_BASE64=b64(kubeconfig(kube_token)))
    res = exec_job(berth, repo, "deploy", "--vars-file", env_file, "--var", f"SCRATCH={scratch}",
                   "--var", "KUBE_CANARY_NAME=canary-kube-")
    assert res.returncode == 0, shown(res)
    assert "script done" in res.stdout, shown(res)
    assert (scratch / "secret_len").read_text().strip() == str(len(mysecret)), shown(res)
    assert (scratch / "password_len").read_text().strip() == str(len(password)), shown(res)
    assert (scratch / "auths").read_text().split() == [reg.host], \
        f"prepare should have logged in to {reg.host}\n{shown(res)}"

    basic = base64.b64encode(f"carol:{password}".encode()).decode()
    needles = [mysecret, password, kube_token, basic]
    for needle in needles:
        assert needle not in res.stdout + res.stderr, f"leaked {needle!r}\n{shown(res)}"
    hits = []
    for root in (settings.state_dir, berth.tmpdir, settings.builds_dir, settings.cache_dir, repo):
        hits += files_containing(root, needles)
    assert not hits, f"secrets left in files after exec: {hits}"
    assert_nothing_left(berth, res)


# -- 9. exec refuses a job that would not run ------------------------------------------------

@pytest.mark.parametrize("job, words", [
    ("excluded", ["excluded", "would not run", "push", "when: never"]),
    ("no-such-job", ["no-such-job", "no job"]),
])
def test_exec_of_a_job_that_would_not_run(berth, settings, exec_repo, scratch, job, words):
    res = exec_job(berth, exec_repo.path, job, "--var", f"SCRATCH={scratch}")
    assert res.returncode == FAILURE_CODE, f"want exit {FAILURE_CODE}\n{shown(res)}"
    for word in words:
        assert word.lower() in res.stderr.lower(), f"stderr should mention {word!r}\n{shown(res)}"
    assert os.listdir(scratch) == [], f"something ran: {os.listdir(scratch)}\n{shown(res)}"
    assert "$ " not in res.stdout, shown(res)
    assert not settings.state_dir.exists(), shown(res)
    berth.assert_tmpdir_empty(res)


def test_exec_of_the_excluded_job_runs_in_another_pipeline(berth, exec_repo, scratch):
    """The counterpart: the same job runs in a web pipeline, so the refusal above is the rule's."""
    res = exec_job(berth, exec_repo.path, "excluded", "--source", "web", "--var", f"SCRATCH={scratch}")
    assert res.returncode == 0, shown(res)
    assert sorted(os.listdir(scratch)) == ["excluded_after_ran", "excluded_ran"], shown(res)
    assert_nothing_left(berth, res, exec_repo.marker)


# -- 10. workflow:rules:variables reach the job ----------------------------------------------

WORKFLOW_CI = """\
variables:
  DEPLOY_VARIABLE: default-deploy
workflow:
  rules:
    - if: $CI_COMMIT_REF_NAME == $CI_DEFAULT_BRANCH
      variables:
        DEPLOY_VARIABLE: deploy-production
        FROM_WORKFLOW: "yes"
    - when: always
job:
  script:
    - echo "DEPLOY_VARIABLE=$DEPLOY_VARIABLE FROM_WORKFLOW=$FROM_WORKFLOW"
own:
  variables:
    DEPLOY_VARIABLE: job-level
  script:
    - echo "DEPLOY_VARIABLE=$DEPLOY_VARIABLE FROM_WORKFLOW=$FROM_WORKFLOW"
"""


@pytest.mark.parametrize("job, want", [
    ("job", "DEPLOY_VARIABLE=deploy-production FROM_WORKFLOW=yes"),
    ("own", "DEPLOY_VARIABLE=job-level FROM_WORKFLOW=yes"),
])
def test_workflow_variables_reach_exec_and_dry_run(berth, tmp_path, job, want):
    """GitLab docs, workflow:rules:variables: they override the global variables for every job
    of the pipeline, and a job's own variables override them."""
    repo = make_repo(tmp_path / "app", WORKFLOW_CI)
    res = exec_job(berth, repo, job)
    assert res.returncode == 0, shown(res)
    assert f"\n{want}\n" in res.stdout, f"want the line {want!r}\n{shown(res)}"
    res = dry_run(berth, repo, job)
    assert res.returncode == 0, shown(res)
    for pair in want.split():
        assert re.search(rf"^\s+{re.escape(pair)}$", res.stdout, re.M), \
            f"dry-run should list {pair}\n{shown(res)}"


# -- 11. parallel jobs: dry-run and exec take the names GitLab gives the copies ---------------

PARALLEL_CI = """\
deploy:
  variables:
    STACK: from-job
  script:
    - 'echo "copy $CI_NODE_INDEX of $CI_NODE_TOTAL: $PROVIDER/$STACK" > "$SCRATCH/ran"'
  parallel:
    matrix:
      - PROVIDER: [aws, gcp]
        STACK: [app, data]
  environment: $PROVIDER-$STACK
shards:
  script: [echo shard]
  parallel: 2
"""


def test_dry_run_of_a_matrix_copy_shows_its_variables_and_environment(berth, tmp_path):
    """GitLab docs, parallel:matrix: the copy 'deploy: [gcp, app]' (the third of four) carries
    PROVIDER=gcp and STACK=app over the job's own STACK, and its environment expands with them."""
    repo = make_repo(tmp_path / "app", PARALLEL_CI)
    res = dry_run(berth, repo, "deploy: [gcp, app]")
    assert res.returncode == 0, shown(res)
    for line in ("PROVIDER=gcp", "STACK=app", "CI_NODE_INDEX=3", "CI_NODE_TOTAL=4",
                 "CI_ENVIRONMENT_NAME=gcp-app", "CI_JOB_NAME=deploy: [gcp, app]"):
        assert re.search(rf"^\s*{re.escape(line)}$", res.stdout, re.M), \
            f"{line} missing from the variables\n{shown(res)}"
    assert "lock: 'deploy/local/gcp-app'" in res.stdout, shown(res)


@pytest.mark.parametrize("job, copy", [("deploy", "deploy: [aws, app]"), ("shards", "shards 1/2")])
def test_dry_run_of_a_parallel_job_by_its_own_name_names_a_copy(berth, tmp_path, job, copy):
    """The name before expansion is no job in GitLab's pipeline: the error names a real one."""
    repo = make_repo(tmp_path / "app", PARALLEL_CI)
    res = dry_run(berth, repo, job)
    assert res.returncode == FAILURE_CODE, f"want exit {FAILURE_CODE}\n{shown(res)}"
    assert f"no job '{job}'" in res.stderr and f"'{copy}'" in res.stderr, shown(res)
    assert res.stdout == "", shown(res)


def test_exec_runs_one_matrix_copy_with_its_variables(berth, tmp_path, scratch):
    repo = make_repo(tmp_path / "app", PARALLEL_CI)
    res = exec_job(berth, repo, "deploy: [aws, data]", "--var", f"SCRATCH={scratch}")
    assert res.returncode == 0, shown(res)
    assert (scratch / "ran").read_text() == "copy 2 of 4: aws/data\n", shown(res)
    assert_nothing_left(berth, res)
