#!/usr/bin/env python3
"""berth's benchmark: what berth adds to a job, next to the floors it is judged against.

A job of 10 trivial stages runs these ways, in a shuffled order in every round, from this one
process:
  true       one exec of /bin/true per stage (the cost of starting any program here);
  bash       the 10 stage scripts as `bash SCRIPT` alone (the floor: no driver at all);
  bwrap-bare the 10 scripts as `bwrap (the system berth's sandbox shows) bash SCRIPT`, no berth;
  berth      config, prepare, 10 x run, cleanup through the berth binary (executor shell);
  metrics    the same with `metrics_dir` set, as the package and the Ansible role install it:
             every stage also rewrites berth.prom (docs/operations.md, "Metrics");
  bwrap      the same with executor bwrap: every stage in berth's sandbox (docs/bwrap.md), with
             the default network, a private one reaching out through slirp4netns;
  bwrap-host the same with `bwrap_network: host`: the sandbox shares the host's network;
  reference  the same through tests/bench/reference/*.sh, a driver written as bash scripts in the
             style of GitLab's documented custom-executor examples, doing the same workspace work.
Every call is made the same way (subprocess.run, the runner's environment shape, own process
group, stdin /dev/null, output through a pipe), so the Python side costs the same for each.

The targets are ratios to floors measured in the same rounds (tests/bench/floors.py; why each
floor: docs/performance.md): berth's overhead per stage, median(berth run) - median(bash
SCRIPT), against the reference driver's, median(run.sh) - median(bash SCRIPT), and printed in
execs of /bin/true too; a whole job against the reference driver's; a stage in
berth's sandbox (host network) against bare bwrap running the same script. The private
network's slirp4netns is reported, not judged. This is a benchmark, not a test: it exits 0
whatever the figures are, and non-zero only when something broke (a stage failed, a driver did
not do the work docs/protocol.md describes, berth is missing).

Usage: python3 tests/bench/bench.py [--rounds N] [--warmup N] [--executor shell|bwrap|both]
                                   [--json FILE]
The berth binary is $BERTH_BIN, default build/berth (the optimized build, not the sanitized one);
this script builds nothing.
"""

import argparse
import base64
import gc
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import floors

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REFERENCE = os.path.join(HERE, "reference")

# The runner's stage names; `build_script`/`step_script` are the user's script.
STAGES = [
    "prepare_script",
    "get_sources",
    "restore_cache",
    "download_artifacts",
    "build_script",
    "step_script",
    "after_script",
    "archive_cache",
    "upload_artifacts_on_success",
    "cleanup_file_variables",
]
# Not the usual 1 and 2, so a driver that hard-codes them shows up.
BUILD_FAILURE = 41
SYSTEM_FAILURE = 42
# Names that must not reach a stage script (docs/protocol.md, "Stages": run). BERTH_CONFIG
# does: berth points it at the job's own copy of the settings in the workspace.
INTERNALS = {
    "JOB_RESPONSE_FILE",
    "BUILD_FAILURE_EXIT_CODE",
    "SYSTEM_FAILURE_EXIT_CODE",
    "BUILD_EXIT_CODE_FILE",
    "REF_CONFIG",
}
PROJECT_ID = 4242
PROJECT_PATH = "platform/deploy/shop-api"
WAYS = ("true", "bash", "bwrap-bare", "berth", "metrics", "bwrap", "bwrap-host", "reference")
# The targets (docs/performance.md, "Targets"), ratios to floors measured beside them.
TARGET_OVERHEAD_PER_REFERENCE = 0.75  # berth run's overhead / the reference run.sh's
TARGET_JOB_PER_REFERENCE = 0.9        # a whole job, berth / the bash reference driver
TARGET_BWRAP_PER_BARE = 2.2      # a stage in berth's sandbox / bare bwrap bash SCRIPT
# The berth ways and the executor each runs its stages with.
EXECUTORS = {"berth": "shell", "metrics": "shell", "bwrap": "bwrap", "bwrap-host": "bwrap"}
# And the sandbox's network, where not the default (private).
NETWORKS = {"bwrap-host": "host"}


class Crash(Exception):
    """Something broke: the figures would mean nothing."""


def ansi_c(text):
    """Bash $'...' quoting, as GitLab Runner writes its scripts."""
    return "$'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def job_variables(job_id):
    """The CI variables of a job, about as many as GitLab sends for a plain pipeline job."""
    sha = "%040x" % (0x5EED * job_id)
    v = {
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_SERVER": "yes",
        "CI_SERVER_URL": "https://gitlab.example.com",
        "CI_SERVER_HOST": "gitlab.example.com",
        "CI_SERVER_PORT": "443",
        "CI_SERVER_PROTOCOL": "https",
        "CI_SERVER_NAME": "GitLab",
        "CI_SERVER_VERSION": "17.5.1",
        "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
        "CI_JOB_ID": str(job_id),
        "CI_JOB_NAME": "bench",
        "CI_JOB_NAME_SLUG": "bench",
        "CI_JOB_STAGE": "test",
        "CI_JOB_URL": "https://gitlab.example.com/%s/-/jobs/%d" % (PROJECT_PATH, job_id),
        "CI_JOB_TOKEN": "glcbt-64_bench%020d" % job_id,
        "CI_JOB_STARTED_AT": "2025-01-01T00:00:00Z",
        "CI_JOB_TIMEOUT": "3600",
        "CI_BUILD_TOKEN": "glcbt-64_bench%020d" % job_id,
        "CI_REGISTRY": "registry.example.com",
        "CI_REGISTRY_IMAGE": "registry.example.com/" + PROJECT_PATH,
        # No CI_REGISTRY_PASSWORD: as in a project without GitLab's container registry, so
        # berth's prepare has no registry to log in to (bench_login.py measures logins).
        "CI_REGISTRY_USER": "gitlab-ci-token",
        "CI_DEPENDENCY_PROXY_SERVER": "gitlab.example.com:443",
        "CI_PROJECT_ID": str(PROJECT_ID),
        "CI_PROJECT_NAME": PROJECT_PATH.rsplit("/", 1)[1],
        "CI_PROJECT_TITLE": "Shop API",
        "CI_PROJECT_PATH": PROJECT_PATH,
        "CI_PROJECT_PATH_SLUG": PROJECT_PATH.replace("/", "-"),
        "CI_PROJECT_NAMESPACE": PROJECT_PATH.rsplit("/", 1)[0],
        "CI_PROJECT_ROOT_NAMESPACE": PROJECT_PATH.split("/", 1)[0],
        "CI_PROJECT_URL": "https://gitlab.example.com/" + PROJECT_PATH,
        "CI_PROJECT_VISIBILITY": "internal",
        "CI_PROJECT_REPOSITORY_LANGUAGES": "go,shell",
        "CI_PROJECT_CLASSIFICATION_LABEL": "",
        "CI_DEFAULT_BRANCH": "main",
        "CI_PIPELINE_ID": str(90000 + job_id),
        "CI_PIPELINE_IID": str(job_id % 1000),
        "CI_PIPELINE_SOURCE": "push",
        "CI_PIPELINE_URL": "https://gitlab.example.com/%s/-/pipelines/%d"
        % (PROJECT_PATH, 90000 + job_id),
        "CI_PIPELINE_CREATED_AT": "2025-01-01T00:00:00Z",
        "CI_CONFIG_PATH": ".gitlab-ci.yml",
        "CI_COMMIT_SHA": sha,
        "CI_COMMIT_SHORT_SHA": sha[:8],
        "CI_COMMIT_BEFORE_SHA": "0" * 40,
        "CI_COMMIT_REF_NAME": "main",
        "CI_COMMIT_REF_SLUG": "main",
        "CI_COMMIT_BRANCH": "main",
        "CI_COMMIT_REF_PROTECTED": "true",
        "CI_COMMIT_MESSAGE": "Bump the bench\n",
        "CI_COMMIT_TITLE": "Bump the bench",
        "CI_COMMIT_DESCRIPTION": "",
        "CI_COMMIT_AUTHOR": "Bench <bench@example.com>",
        "CI_COMMIT_TIMESTAMP": "2025-01-01T00:00:00+00:00",
        "CI_REPOSITORY_URL": "https://gitlab-ci-token:[MASKED]@gitlab.example.com/%s.git"
        % PROJECT_PATH,
        "CI_RUNNER_ID": "17",
        "CI_RUNNER_DESCRIPTION": "berth bench",
        "CI_RUNNER_TAGS": '["werf"]',
        "CI_RUNNER_VERSION": "17.5.1",
        "CI_RUNNER_SHORT_TOKEN": "t3_bench",
        "CI_CONCURRENT_ID": "0",
        "CI_CONCURRENT_PROJECT_ID": "0",
        "GITLAB_USER_ID": "7",
        "GITLAB_USER_LOGIN": "bench",
        "GITLAB_USER_NAME": "Bench",
        "GITLAB_USER_EMAIL": "bench@example.com",
        "GITLAB_FEATURES": "",
        "FF_USE_NEW_BASH_EVAL_STRATEGY": "false",
        # The project's own CI/CD variables, as the seed's werf pipeline has them, with a
        # kubeconfig's size (certificates and key are some 6 KB of base64). Under another name:
        # the reference driver does no credential work, so berth must not either here;
        # bench_login.py measures that part.
        "SEL_REGISTRY_DOMAIN": "cr.selcloud.ru",
        "SEL_REGISTRY": "bench-registry",
        "WERF_USERNAME": "token",
        "WERF_PASSWORD": "bench-registry-token-%016x" % job_id,
        "DEPLOY_BUNDLE_BASE64": KUBECONFIG_BASE64,
    }
    return v


# Stand-in bytes of kubeconfig size: the runner writes them into the response file, the
# environment (CUSTOM_ENV_) and every stage script, for every way alike.
KUBECONFIG_BASE64 = base64.b64encode(
    b"".join(hashlib.sha256(b"kubeconfig %d" % i).digest() for i in range(140))
).decode()


def stage_script(variables, command):
    """A stage script in the shape GitLab Runner writes for bash (self-contained, exports all)."""
    body = "".join("export %s=%s\n" % (k, ansi_c(val)) for k, val in variables.items())
    body += "echo %s\n" % ansi_c("\x1b[32;1m$ " + command + "\x1b[0;m")
    body += command + "\n"
    return (
        "#!/usr/bin/env bash\n\n"
        "trap exit 1 TERM\n\n"
        "set -eo pipefail\n"
        "set +o noclobber\n"
        ": | eval " + ansi_c(body) + "\n"
        "exit 0\n"
    )


def write_file(path, text, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def response_file(job_id, variables):
    """The runner's job response ($JOB_RESPONSE_FILE), the fields berth reads and the usual rest."""
    return json.dumps(
        {
            "id": job_id,
            "token": variables["CI_JOB_TOKEN"],
            "allow_git_fetch": True,
            "job_info": {
                "id": job_id,
                "name": "bench",
                "stage": "test",
                "project_id": PROJECT_ID,
                "project_name": variables["CI_PROJECT_NAME"],
                "project_full_path": PROJECT_PATH,
                "pipeline_id": int(variables["CI_PIPELINE_ID"]),
                "user_id": 7,
                "time_in_queue_seconds": 0.5,
                "project_jobs_running_on_instance_runners_count": "0",
            },
            "git_info": {
                "repo_url": variables["CI_REPOSITORY_URL"],
                "ref": "main",
                "sha": variables["CI_COMMIT_SHA"],
                "before_sha": variables["CI_COMMIT_BEFORE_SHA"],
                "ref_type": "branch",
                "refspecs": ["+refs/heads/main:refs/remotes/origin/main"],
                "depth": 20,
                "protected": True,
            },
            "runner_info": {"timeout": 3600, "runner_session_url": ""},
            "variables": [
                {"key": k, "value": val, "public": True, "masked": False}
                for k, val in variables.items()
            ],
            "steps": [
                {
                    "name": "script",
                    "script": ["echo ok"],
                    "timeout": 3600,
                    "when": "on_success",
                    "allow_failure": False,
                }
            ],
            "image": {"name": ""},
            "services": [],
            "artifacts": [],
            "cache": [],
            "credentials": [],
            "dependencies": [],
            "features": {"trace_sections": True, "failure_reasons": ["script_failure"]},
        },
        separators=(",", ":"),
    )


def call(argv, env, cwd):
    """One driver or script invocation, the same way for every way: (ns, returncode, out, err)."""
    t0 = time.perf_counter_ns()
    p = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        process_group=0,
    )
    return time.perf_counter_ns() - t0, p.returncode, p.stdout, p.stderr


def describe(what, rc, out, err):
    text = (out + err).decode(errors="replace").strip()
    if len(text) > 2000:
        text = text[:2000] + " ..."
    return "%s exited %d%s" % (what, rc, (":\n" + text) if text else " with no output")


class Driver:
    """A custom-executor driver: argv per command, plus the variable that points at its settings."""

    def __init__(self, name, argv_of, settings_var, settings_path):
        self.name = name
        self.argv_of = argv_of
        self.settings_var = settings_var
        self.settings_path = settings_path


class Bench:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        # The runner's own environment, as a systemd service has it (PATH is systemd's default,
        # not the caller's: every exec searches it, and a developer's PATH is long).
        self.base_env = {
            k: os.environ[k] for k in ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL") if k in os.environ
        }
        self.base_env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        self.drivers = {}
        # samples[way][kind] -> list of ns; kind is "stage", "config", "prepare", "cleanup", "job"
        self.samples = {w: {} for w in WAYS}

    # --- set-up -----------------------------------------------------------------------------

    def add_berth(self, binary, way="berth"):
        root = os.path.join(self.tmp, way)
        os.makedirs(root)
        settings = os.path.join(root, "berth.yaml")
        write_file(
            settings,
            "# berth settings for tests/bench/bench.py\n"
            "state_dir: %s/state\nbuilds_dir: %s/builds\ncache_dir: %s/cache\nexecutor: %s\n"
            # The same work as the bash reference driver, which runs scripts as root.
            "allow_root_scripts: true\n" % (root, root, root, EXECUTORS[way])
            + ("bwrap_network: %s\n" % NETWORKS[way] if way in NETWORKS else "")
            + ("metrics_dir: %s/metrics\n" % root if way == "metrics" else ""),
        )
        if way == "metrics":
            os.makedirs(os.path.join(root, "metrics"))
        self.drivers[way] = Driver(
            way, lambda cmd, *a: [binary, cmd, *a], "BERTH_CONFIG", settings
        )

    def add_reference(self):
        root = os.path.join(self.tmp, "reference")
        os.makedirs(root)
        settings = os.path.join(root, "settings.sh")
        write_file(
            settings,
            "state_dir=%s/state\nbuilds_dir=%s/builds\ncache_dir=%s/cache\nkill_grace=10\n"
            % (root, root, root),
        )
        self.drivers["reference"] = Driver(
            "reference",
            lambda cmd, *a: [os.path.join(REFERENCE, cmd + ".sh"), *a],
            "REF_CONFIG",
            settings,
        )

    def new_job(self, way, job_id, label=None):
        """The runner's side of one job: its temp dir (cwd and TMPDIR) and environment."""
        jobtmp = os.path.join(self.tmp, "runner", "%s-%d" % (label or way, job_id))
        os.makedirs(jobtmp)
        variables = job_variables(job_id)
        resp = os.path.join(jobtmp, "response.json")
        write_file(resp, response_file(job_id, variables), 0o600)
        env = dict(self.base_env)
        env.update(
            TMPDIR=jobtmp,
            BUILD_FAILURE_EXIT_CODE=str(BUILD_FAILURE),
            SYSTEM_FAILURE_EXIT_CODE=str(SYSTEM_FAILURE),
            BUILD_EXIT_CODE_FILE=os.path.join(jobtmp, "exit-code"),
            JOB_RESPONSE_FILE=resp,
        )
        for k, val in variables.items():
            env["CUSTOM_ENV_" + k] = val
        # The runner leaves these empty during config (and fills them for the later stages).
        env["CUSTOM_ENV_CI_BUILDS_DIR"] = ""
        env["CUSTOM_ENV_CI_PROJECT_DIR"] = ""
        driver = self.drivers.get(way)
        if driver:
            env[driver.settings_var] = driver.settings_path
        return jobtmp, env

    @staticmethod
    def write_scripts(scripts_dir, job_id, command="echo ok"):
        os.makedirs(scripts_dir, exist_ok=True)
        text = stage_script(job_variables(job_id), command)
        paths = []
        for stage in STAGES:
            path = os.path.join(scripts_dir, "script." + stage)
            write_file(path, text, 0o700)
            paths.append(path)
        return paths

    # --- one job ----------------------------------------------------------------------------

    def run_config(self, driver, env, cwd):
        ns, rc, out, err = call(driver.argv_of("config"), env, cwd)
        if rc != 0:
            raise Crash(describe("%s config" % driver.name, rc, out, err))
        try:
            cfg = json.loads(out)
        except ValueError as e:
            raise Crash("%s config printed no JSON on stdout (%s): %r" % (driver.name, e, out[:500]))
        for key in ("builds_dir", "cache_dir", "builds_dir_is_shared", "hostname", "driver"):
            if key not in cfg:
                raise Crash("%s config: no %r in %s" % (driver.name, key, out.decode()))
        if not cfg["builds_dir"] or not cfg["cache_dir"]:
            raise Crash("%s config: empty builds_dir or cache_dir" % driver.name)
        job_env = cfg.get("job_env") or {}
        if not isinstance(job_env, dict) or not job_env.get("BERTH_JOB_DIR"):
            raise Crash("%s config: no job_env.BERTH_JOB_DIR in %s" % (driver.name, out.decode()))
        return ns, cfg

    def check_prepared(self, driver, workspace):
        try:
            st = os.lstat(workspace)
        except OSError as e:
            raise Crash("%s prepare made no workspace: %s" % (driver.name, e))
        if not os.path.isdir(workspace) or os.path.islink(workspace) or st.st_mode & 0o777 != 0o700:
            raise Crash("%s prepare: workspace %s is not a 0700 directory (mode %o)"
                        % (driver.name, workspace, st.st_mode & 0o7777))
        if not os.path.isdir(os.path.join(workspace, "tmp")):
            raise Crash("%s prepare: no %s/tmp" % (driver.name, workspace))
        if not os.path.isfile(os.path.join(workspace, "state")):
            raise Crash("%s prepare: no %s/state" % (driver.name, workspace))

    def driver_job(self, driver, job_id, scripts, record):
        """config, prepare, every stage, cleanup; checks each step, returns nothing."""
        jobtmp, env = self.new_job(driver.name, job_id)
        total = 0
        ns, cfg = self.run_config(driver, env, jobtmp)
        total += ns
        env.update(cfg["job_env"])
        workspace = cfg["job_env"]["BERTH_JOB_DIR"]
        times = {"config": ns, "stage": []}

        ns, rc, out, err = call(driver.argv_of("prepare"), env, jobtmp)
        if rc != 0:
            raise Crash(describe("%s prepare" % driver.name, rc, out, err))
        total += ns
        times["prepare"] = ns
        self.check_prepared(driver, workspace)

        env["CUSTOM_ENV_CI_BUILDS_DIR"] = cfg["builds_dir"]
        env["CUSTOM_ENV_CI_PROJECT_DIR"] = os.path.join(cfg["builds_dir"], PROJECT_PATH)
        for stage, script in zip(STAGES, scripts):
            ns, rc, out, err = call(driver.argv_of("run", script, stage), env, jobtmp)
            if rc != 0 or b"ok" not in (out + err).splitlines():
                raise Crash(describe("%s run %s" % (driver.name, stage), rc, out, err))
            total += ns
            times["stage"].append(ns)

        ns, rc, out, err = call(driver.argv_of("cleanup"), env, jobtmp)
        if rc != 0:
            raise Crash(describe("%s cleanup" % driver.name, rc, out, err))
        total += ns
        times["cleanup"] = ns
        if os.path.lexists(workspace):
            raise Crash("%s cleanup left the workspace %s" % (driver.name, workspace))
        shutil.rmtree(jobtmp)
        if record:
            self.record(driver.name, times, total)

    def floor_job(self, way, job_id, scripts, record):
        """A floor: the 10 stage scripts run as WAY, no driver (`bash SCRIPT`, bare bwrap, or
        /bin/true in place of each, which runs no script at all)."""
        jobtmp, env = self.new_job(way, job_id)
        times = {"stage": []}
        for stage, script in zip(STAGES, scripts):
            if way == "true":
                argv = [floors.TRUE]
            else:
                argv = ["bash", script] if way == "bash" else bare_bwrap(script, jobtmp)
            ns, rc, out, err = call(argv, env, jobtmp)
            if rc != 0 or (way != "true" and b"ok" not in out.splitlines()):
                raise Crash(describe("%s %s" % (way, stage), rc, out, err))
            times["stage"].append(ns)
        shutil.rmtree(jobtmp)
        if record:
            self.record(way, times, sum(times["stage"]))

    def record(self, way, times, total):
        s = self.samples[way]
        for kind, ns in times.items():
            s.setdefault(kind, []).extend(ns if isinstance(ns, list) else [ns])
        s.setdefault("job", []).append(total)

    # --- protocol probe -----------------------------------------------------------------------

    def probe(self, driver):
        """One untimed job checking that the driver does the work the figures assume
        (docs/protocol.md): environment, TMPDIR, process group, stdin, exit codes, leftovers."""
        job_id = 999001
        probe_dir = os.path.join(self.tmp, "probe-" + driver.name)
        os.makedirs(probe_dir)
        env_script = os.path.join(probe_dir, "env.sh")
        write_file(
            env_script,
            "read -r -a me < /proc/$$/stat\n"
            "read -r -a parent < /proc/$PPID/stat\n"
            'echo "PGRP ${me[4]} PARENT_PGRP ${parent[4]}"\n'
            'echo "STDIN $(readlink /proc/$$/fd/0)"\n'
            'echo "TMPDIR ${TMPDIR-}"\n'
            'echo "JOBDIR ${BERTH_JOB_DIR-}"\n'
            'echo "ENV $(compgen -e | tr "\\n" " ")"\n'
            "sleep 30 > /dev/null 2>&1 &\n"
            'echo "LEFT $!"\n'
            # In the bwrap sandbox $! counts in a PID namespace of its own.
            'echo "PIDNS $(readlink /proc/self/ns/pid)"\n',
        )
        fail_script = os.path.join(probe_dir, "fail.sh")
        write_file(fail_script, "exit 3\n")
        kill_script = os.path.join(probe_dir, "kill.sh")
        write_file(kill_script, "kill -KILL $$\n")
        problems = []

        jobtmp, env = self.new_job(driver.name, job_id, label="probe-" + driver.name)
        _, cfg = self.run_config(driver, env, jobtmp)
        env.update(cfg["job_env"])
        workspace = cfg["job_env"]["BERTH_JOB_DIR"]
        _, rc, out, err = call(driver.argv_of("prepare"), env, jobtmp)
        if rc != 0:
            raise Crash(describe("%s prepare" % driver.name, rc, out, err))
        self.check_prepared(driver, workspace)

        _, rc, out, err = call(driver.argv_of("run", env_script, "build_script"), env, jobtmp)
        if rc != 0:
            raise Crash(describe("%s run (probe)" % driver.name, rc, out, err))
        seen = {}
        for line in out.decode(errors="replace").splitlines():
            key, _, value = line.partition(" ")
            seen[key] = value
        pgrp = seen.get("PGRP", "").split()
        if len(pgrp) != 3 or pgrp[0] == pgrp[2]:
            problems.append("the script does not run in its own process group (pgid %s, its "
                            "parent's %s)" % (pgrp[0] if pgrp else "?", pgrp[2] if len(pgrp) == 3 else "?"))
        if seen.get("STDIN") != "/dev/null":
            problems.append("the script's stdin is %r, not /dev/null" % seen.get("STDIN"))
        if seen.get("JOBDIR") != workspace:
            problems.append("BERTH_JOB_DIR is %r, not the workspace %r" % (seen.get("JOBDIR"), workspace))
        if seen.get("TMPDIR") != os.path.join(workspace, "tmp"):
            problems.append("TMPDIR is %r, not %r" % (seen.get("TMPDIR"), os.path.join(workspace, "tmp")))
        names = set(seen.get("ENV", "").split())
        leaked = sorted(n for n in names if n in INTERNALS or n.startswith("CUSTOM_ENV_"))
        if leaked:
            problems.append("the script sees the driver's internals: %s" % " ".join(leaked))
        for k in ("PATH", "HOME"):
            if k in env and k not in names:
                problems.append("the script lost the runner's %s" % k)
        left = seen.get("LEFT", "")
        pidns = seen.get("PIDNS", "")
        if pidns and pidns != os.readlink("/proc/self/ns/pid"):
            if not namespace_empty(pidns, 2.0):
                problems.append("processes of the stage's sandbox (%s) are still running after "
                                "the stage ended" % pidns)
        elif left.isdigit() and not process_gone(int(left), 2.0):
            problems.append("a process the script left behind (pid %s) is still running after the "
                            "stage ended" % left)
            try:
                os.kill(int(left), 9)
            except OSError:
                pass

        for script, code in ((fail_script, 3), (kill_script, 137)):
            try:
                os.unlink(env["BUILD_EXIT_CODE_FILE"])
            except FileNotFoundError:
                pass
            _, rc, out, err = call(driver.argv_of("run", script, "step_script"), env, jobtmp)
            if rc != BUILD_FAILURE:
                problems.append("a script that %s: exit %d, not $BUILD_FAILURE_EXIT_CODE (%d)"
                                % ("exits 3" if code == 3 else "is killed by SIGKILL", rc, BUILD_FAILURE))
            try:
                with open(env["BUILD_EXIT_CODE_FILE"]) as f:
                    first = f.readline().strip()
            except OSError as e:
                first = "(unreadable: %s)" % e.strerror
            if first != str(code):
                problems.append("$BUILD_EXIT_CODE_FILE says %r for a script that ends with %d"
                                % (first, code))

        _, rc, out, err = call(driver.argv_of("cleanup"), env, jobtmp)
        if rc != 0:
            raise Crash(describe("%s cleanup (probe)" % driver.name, rc, out, err))
        if os.path.lexists(workspace):
            problems.append("cleanup left the workspace %s" % workspace)
        _, rc, out, err = call(driver.argv_of("cleanup"), env, jobtmp)
        if rc != 0:
            problems.append(describe("a second cleanup (nothing to do)", rc, out, err))
        shutil.rmtree(jobtmp)
        shutil.rmtree(probe_dir)
        if problems:
            raise Crash("%s does not do what docs/protocol.md says, so its figures would not be "
                        "comparable:\n  - %s" % (driver.name, "\n  - ".join(problems)))
        return cfg

    # --- the rounds -----------------------------------------------------------------------------

    def run(self):
        rounds, warmup = self.args.rounds, self.args.warmup
        floors_here = ["true", "bash"] + (["bwrap-bare"] if "bwrap" in self.drivers else [])
        ways = [w for w in WAYS if w in floors_here or w in self.drivers]
        # A new order every round (seeded, so runs compare), so that no way always runs first
        # or after another: the floors share the machine's state of the moment with berth.
        shuffle = random.Random(1)
        for r in range(warmup + rounds):
            record = r >= warmup
            job_id = 100000 + r
            scripts = self.write_scripts(os.path.join(self.tmp, "scripts", str(r)), job_id)
            order = list(ways)
            shuffle.shuffle(order)
            gc.collect()
            gc.disable()
            try:
                for way in order:
                    if way in floors_here:
                        self.floor_job(way, job_id, scripts, record)
                    else:
                        self.driver_job(self.drivers[way], job_id, scripts, record)
            finally:
                gc.enable()
            shutil.rmtree(os.path.join(self.tmp, "scripts", str(r)))
            if self.args.progress and sys.stderr.isatty():
                print("\rround %d/%d" % (r + 1, warmup + rounds), end="", file=sys.stderr, flush=True)
        if self.args.progress and sys.stderr.isatty():
            print("\r" + " " * 20 + "\r", end="", file=sys.stderr, flush=True)


def bare_bwrap(script, workdir):
    """bwrap showing a stage what berth's sandbox shows of the system (executors/bwrap.c,
    push_system), the host's network, and running `bash SCRIPT`: what the sandbox costs
    without berth."""
    argv = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", workdir, workdir,
             "--ro-bind", script, script, "--", "bash", script]
    return argv


def process_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                return True
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def namespace_empty(ns, timeout):
    """True once no process is left in PID namespace NS ("pid:[N]")."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.readlink("/proc/%s/ns/pid" % entry) == ns:
                    left.append(entry)
            except OSError:
                pass
        if not any(not process_gone(int(p), 0) for p in left):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def bwrap_problem():
    """Why berth's bwrap executor cannot run here (its own prepare check), or None."""
    if not shutil.which("bwrap"):
        return "bwrap is not installed (apt-get install bubblewrap)"
    p = subprocess.run(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                        "true"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return "bwrap cannot create namespaces here: " + p.stderr.strip() if p.returncode else None


def ms(ns):
    return ns / 1e6


def stats(values):
    if not values:
        return None
    v = sorted(values)
    q = statistics.quantiles(v, n=10, method="inclusive") if len(v) > 1 else [v[0]] * 9
    return {"median": ms(statistics.median(v)), "p90": ms(q[8]), "min": ms(v[0]), "n": len(v)}


def sanitized(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return b"__asan_init" in data or b"__ubsan_handle" in data or b"__tsan_init" in data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30, help="measured jobs per way (default 30)")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured jobs per way first (default 2)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    ap.add_argument("--no-berth", action="store_true",
                    help="bench bash and the reference driver alone (while berth does not build)")
    ap.add_argument("--executor", choices=("shell", "bwrap", "both"), default="both",
                    help="berth's executor(s) to measure (default both; bwrap is left out, with "
                         "a note, where it cannot run)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (printed)")
    ap.add_argument("--no-progress", dest="progress", action="store_false")
    args = ap.parse_args()
    if args.rounds < 1 or args.warmup < 0:
        ap.error("--rounds must be >= 1 and --warmup >= 0")

    berth_bin = os.environ.get("BERTH_BIN") or os.path.join(REPO, "build", "berth")
    if not args.no_berth:
        if not (os.path.isfile(berth_bin) and os.access(berth_bin, os.X_OK)):
            raise Crash("no berth binary at %s: build it first (`make`), or set BERTH_BIN" % berth_bin)
        berth_bin = os.path.abspath(berth_bin)
    for name in ("config", "prepare", "run", "cleanup"):
        if not os.access(os.path.join(REFERENCE, name + ".sh"), os.X_OK):
            raise Crash("reference driver script %s/%s.sh is missing or not executable"
                        % (REFERENCE, name))

    ways = []
    if not args.no_berth:
        ways = {"shell": ["berth", "metrics"], "bwrap": ["bwrap", "bwrap-host"],
                "both": ["berth", "metrics", "bwrap", "bwrap-host"]}[args.executor]
    if "bwrap" in ways and bwrap_problem():
        if args.executor == "bwrap":
            raise Crash("executor bwrap: %s" % bwrap_problem())
        print("note: executor bwrap not measured: %s\n" % bwrap_problem())
        ways.remove("bwrap")
        ways.remove("bwrap-host")

    tmp = tempfile.mkdtemp(prefix="berth-bench-")
    try:
        bench = Bench(args, tmp)
        for way in ways:
            bench.add_berth(berth_bin, way)
        bench.add_reference()
        versions = {}
        for name, driver in bench.drivers.items():
            cfg = bench.probe(driver)
            versions[name] = (cfg.get("driver") or {}).get("version", "?")
        load_before = os.getloadavg()
        t0 = time.monotonic()
        bench.run()
        elapsed = time.monotonic() - t0
        load_after = os.getloadavg()
        figures = report(bench, args, berth_bin, versions, load_before, load_after, elapsed)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=2)
                f.write("\n")
    finally:
        if args.keep:
            print("temp dir kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(bench, args, berth_bin, versions, load_before, load_after, elapsed):
    s = bench.samples
    have_berth = "berth" in bench.drivers
    have_bwrap = "bwrap" in bench.drivers
    fig = {
        "rounds": args.rounds,
        "warmup": args.warmup,
        "stages": len(STAGES),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_before": list(load_before),
        "loadavg_after": list(load_after),
        "elapsed_s": round(elapsed, 2),
        "berth_bin": berth_bin if have_berth or have_bwrap else None,
        "berth_sanitized": sanitized(berth_bin) if have_berth or have_bwrap else None,
        "driver_versions": versions,
        "ms": {},
    }
    for way in WAYS:
        if s[way]:
            fig["ms"][way] = {kind: stats(v) for kind, v in s[way].items()}
    bare = fig["ms"]["bash"]["stage"]["median"]
    fig["overhead_per_stage_ms"] = {
        w: fig["ms"][w]["stage"]["median"] - bare
        for w in ("berth", "metrics", "bwrap", "bwrap-host", "reference") if w in fig["ms"]
    }

    def row(label, st, extra=""):
        print("  %-26s %8.2f %8.2f %8.2f%s" % (label, st["median"], st["p90"], st["min"], extra))

    variables = job_variables(100000)
    fig["job_variables"] = len(variables)
    fig["response_bytes"] = len(response_file(100000, variables))
    fig["script_bytes"] = len(stage_script(variables, "echo ok"))
    print("berth bench: a job of %d trivial stages, %d rounds (+%d warm-up), the %d ways "
          "interleaved; %d CPUs, load %.2f -> %.2f, %.1f s"
          % (len(STAGES), args.rounds, args.warmup, len(fig["ms"]), os.cpu_count(),
             load_before[0], load_after[0], elapsed))
    print("job: %d variables, response file %.1f KB, stage script %.1f KB"
          % (fig["job_variables"], fig["response_bytes"] / 1000, fig["script_bytes"] / 1000))
    if have_berth or have_bwrap:
        print("berth: %s (driver version %s)"
              % (berth_bin, versions.get("berth") or versions.get("bwrap")))
        if fig["berth_sanitized"]:
            print("WARNING: this berth binary is built with sanitizers: its figures are not "
                  "representative (use the optimized build)")
    print()
    print("  %-26s %8s %8s %8s" % ("one stage (ms)", "median", "p90", "min"))
    row("exec of /bin/true", fig["ms"]["true"]["stage"])
    row("bash SCRIPT alone", fig["ms"]["bash"]["stage"])
    if "bwrap-bare" in fig["ms"]:
        row("bare bwrap bash SCRIPT", fig["ms"]["bwrap-bare"]["stage"])
    for w, label in (("berth", "berth run"), ("metrics", "  the same, metrics on"),
                     ("bwrap", "berth run, executor bwrap"),
                     ("bwrap-host", "  the same, host network"),
                     ("reference", "reference run.sh")):
        if w in fig["ms"]:
            row(label, fig["ms"][w]["stage"], "   overhead %+.2f ms" % fig["overhead_per_stage_ms"][w])
    print()
    print("  %-26s %8s %8s %8s" % ("one job (ms)", "median", "p90", "min"))
    row("bash alone (%d scripts)" % len(STAGES), fig["ms"]["bash"]["job"])
    for w in ("berth", "metrics", "bwrap", "bwrap-host", "reference"):
        if w in fig["ms"]:
            row("%s (whole job)" % w, fig["ms"][w]["job"])
            for kind in ("config", "prepare", "cleanup"):
                row("  %s %s" % (w, kind), fig["ms"][w][kind])
    print()
    judge(fig, have_berth, have_bwrap)
    return fig


def judge(fig, have_berth, have_bwrap):
    """The verdicts, each a ratio to a floor measured in the same rounds (floors.py)."""
    med = {w: fig["ms"][w]["stage"]["median"] for w in fig["ms"]}
    over = fig["overhead_per_stage_ms"]
    fig["verdicts"] = {}
    if not have_berth and not have_bwrap:
        print("berth not measured (--no-berth); reference overhead per stage: %.2f ms"
              % over["reference"])
        return
    if have_berth:
        fig["verdicts"]["overhead"] = floors.verdict(
            "berth's overhead per stage (berth run - bash SCRIPT)", over["berth"],
            "the bash reference driver's (run.sh - bash SCRIPT)", over["reference"],
            at_most=TARGET_OVERHEAD_PER_REFERENCE)
        print("  (in execs of /bin/true: berth's overhead %.1fx, the reference driver's %.1fx; "
              "reported, not judged: under load this unit swings, docs/performance.md)"
              % (over["berth"] / med["true"], over["reference"] / med["true"]))
        fig["verdicts"]["job"] = floors.verdict(
            "a whole job through berth", fig["ms"]["berth"]["job"]["median"],
            "the bash reference driver's", fig["ms"]["reference"]["job"]["median"],
            at_most=TARGET_JOB_PER_REFERENCE)
    if "metrics" in med:
        added = med["metrics"] - med["berth"]
        fig["metrics_added_per_stage_ms"] = added
        print("  (metrics_dir set adds %.2f ms a stage, %.1fx /bin/true: reported, not judged)"
              % (added, added / med["true"]))
    if have_bwrap:
        fig["verdicts"]["bwrap"] = floors.verdict(
            "a stage in berth's sandbox, host network", med["bwrap-host"],
            "bare bwrap bash SCRIPT", med["bwrap-bare"], at_most=TARGET_BWRAP_PER_BARE)
        added = med["bwrap"] - med["bwrap-host"]
        fig["private_network_added_per_stage_ms"] = added
        print("  (the private network's slirp4netns adds %.2f ms a stage, %.1fx /bin/true: "
              "reported, not judged)" % (added, added / med["true"]))
        if have_berth:
            fig["stage_over_shell"] = {w: med[w] / med["berth"] for w in ("bwrap", "bwrap-host")}
            print("  (one bwrap stage is %.1fx a shell stage with the private network, %.1fx "
                  "with the host's)" % (fig["stage_over_shell"]["bwrap"],
                                        fig["stage_over_shell"]["bwrap-host"]))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Crash as e:
        print("bench.py: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
