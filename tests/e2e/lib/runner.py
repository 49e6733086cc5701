#!/usr/bin/env python3
"""Drive the berth binary the way GitLab Runner 17.9+ drives a custom executor.

This is the runner's side of the contract in docs/protocol.md, written down once so that the
end-to-end tests (and `make fresh-debian`'s job through the installed package) exercise berth
exactly as production does:

- every stage runs with the job temp dir as cwd and TMPDIR, stdin /dev/null, in a process group
  of its own with berth as leader, and both output pipes are read to EOF;
- the environment is the runner's own plus TMPDIR, BUILD_FAILURE_EXIT_CODE,
  SYSTEM_FAILURE_EXIT_CODE, BUILD_EXIT_CODE_FILE, JOB_RESPONSE_FILE, every job variable as
  CUSTOM_ENV_<NAME>, and (after config) config's job_env unprefixed;
- config+prepare is tried up to 3 times with cleanup after each failed attempt; run stages come in
  the runner's order; cleanup always runs last;
- exit codes are classified like the runner does; cancel is SIGTERM to berth's process group,
  then SIGKILL after a grace.

Standard library only: `python3 tests/e2e/lib/runner.py --demo` runs one job with no pytest
around.
"""

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# Result classes, as the runner sees them.
OK = "ok"
BUILD_FAILURE = "build_failure"
SYSTEM_FAILURE = "system_failure"
UNKNOWN_EXIT_CODE = "unknown_exit_code"  # the runner reports it as a system failure

# The runner's defaults for the two exit-code variables.
RUNNER_BUILD_FAILURE_EXIT_CODE = 1
RUNNER_SYSTEM_FAILURE_EXIT_CODE = 2

PREPARATION_ATTEMPTS = 3

# Run stages in the runner's order, split around the user's script.
STAGES_BEFORE_SCRIPT = ("prepare_script", "get_sources", "restore_cache", "download_artifacts")

# Sentinel for Job(response=...): write the response file the runner would write.
AUTO = "auto"


class ProtocolError(AssertionError):
    """berth broke the protocol in a way the real runner would choke on."""


class StageTimeout(AssertionError):
    """A stage did not end in time (berth still running, or its output pipes still open)."""


def find_berth():
    """The binary under test: $BERTH_BIN, else build/san/berth (make check), else build/berth."""
    env = os.environ.get("BERTH_BIN")
    if env:
        return Path(env)
    for candidate in (REPO / "build" / "san" / "berth", REPO / "build" / "berth"):
        if candidate.exists():
            return candidate
    return REPO / "build" / "san" / "berth"


# ---------------------------------------------------------------------------------------------
# Shell quoting and the runner's script shape

_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./,:=+@%")
_ESCAPES = {0x5C: "\\\\", 0x27: "\\'", 0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r", 0x1B: "\\E"}


def shell_escape(value):
    """Quote like the runner's helpers.ShellEscape: bare when safe, else bash's $'...'."""
    if value and all(c in _SAFE for c in value):
        return value
    out = []
    for byte in value.encode():
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append("\\x%02x" % byte)
    return "$'" + "".join(out) + "'"


def bash_script(body_lines):
    """The file the runner hands to `run_exec`: the shape of BashWriter.Finish in 17.x."""
    body = "".join(line + "\n" for line in body_lines)
    return (
        "#!/usr/bin/env bash\n\n"
        "trap exit 1 TERM\n\n"
        "if set -o | grep pipefail > /dev/null; then set -o pipefail; fi; set -o errexit\n"
        "set +o noclobber\n"
        ": | eval " + shell_escape(body) + "\n"
        "exit 0\n"
    )


def _commands(script):
    """A stage script given as one command per line (str) or as a list of commands."""
    if isinstance(script, str):
        return [line for line in script.splitlines() if line.strip()]
    return list(script)


# ---------------------------------------------------------------------------------------------
# Processes

def proc_state(pid):
    """The state letter of /proc/PID/stat, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(b")") + 2:][:1].decode()


def alive(pid):
    """True while PID runs. A zombie is dead: PID 1 here does not reap orphans."""
    return proc_state(pid) not in (None, "Z", "X")


def proc_environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def pids_with_env(name, value=None, prefix=False):
    """Live processes whose environment has NAME=VALUE (NAME=VALUE... with prefix=True)."""
    want = f"{name}={'' if value is None else value}".encode()
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        env = proc_environ(pid)
        hit = any(e.startswith(want) if (prefix or value is None) else e == want for e in env)
        if hit and alive(pid):
            found.append(pid)
    return found


def children_cpu():
    """CPU seconds used by the children this process has waited for (and theirs). A bound on
    the work a berth run did, unlike its wall time, holds whatever else the machine runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for(predicate, timeout, interval=0.02):
    """Poll PREDICATE until it is true or TIMEOUT seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# In the bwrap sandbox a script has a PID namespace of its own: the number it sees for a process
# ($!, $BASHPID) is another process, or none, on the host. So a script records a PID with the
# namespace it counts in (pid_record), and the test looks the process up by both.

def pid_record(pid="$!"):
    """Shell words printing PID as the script sees it, then the script's PID namespace."""
    return f"echo {pid} $(readlink /proc/self/ns/pid)"


def host_pid(ns, pid):
    """The host's number for process PID of PID namespace NS ("pid:[N]"), or None when gone."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
            with open(f"/proc/{entry}/status") as f:
                nspid = next(line for line in f if line.startswith("NSpid:")).split()[1:]
        except (OSError, StopIteration):
            continue
        if nspid and int(nspid[-1]) == pid:
            return int(entry)
    return None


def read_pid_records(path):
    """What a script recorded, one line each: [(pid, namespace or None)]; no file: none yet."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        words = line.split()
        if words and words[0].isdigit():
            records.append((int(words[0]), words[1] if len(words) > 1 else None))
    return records


def read_pids(path):
    """PIDs a test script wrote (pid_record lines, or bare PIDs), as the host numbers them.

    A PID of another namespace that no process there has any more is left out: it is gone.
    """
    own = os.readlink("/proc/self/ns/pid")
    pids = []
    for pid, ns in read_pid_records(path):
        if ns is not None and ns != own:
            pid = host_pid(ns, pid)
        if pid is not None:
            pids.append(pid)
    return pids


# ---------------------------------------------------------------------------------------------
# One invocation of berth

@dataclass(repr=False)
class StageResult:
    stage: str                 # config, prepare, cleanup, or the run stage's name
    argv: list
    exit_code: int             # negative: killed by that signal
    cls: str                   # OK, BUILD_FAILURE, SYSTEM_FAILURE, UNKNOWN_EXIT_CODE
    stdout: str
    stderr: str
    duration: float            # start to exit and EOF on both pipes
    attempt: int = 0           # config/prepare/cleanup: which preparation attempt
    build_exit_code: str = None  # first line of BUILD_EXIT_CODE_FILE after a build failure
    canceled: bool = False
    term_to_exit: float = None  # cancel: seconds from SIGTERM until berth exited
    killed: bool = False       # cancel: berth outlived the grace and got SIGKILL
    pid: int = None            # berth's PID, also its process group

    @property
    def ok(self):
        return self.cls == OK

    def report(self):
        lines = [f"berth {' '.join(self.argv[1:])}: exit {self.exit_code} ({self.cls}) "
                 f"in {self.duration:.2f}s"]
        if self.build_exit_code is not None:
            lines.append(f"  BUILD_EXIT_CODE_FILE: {self.build_exit_code!r}")
        if self.canceled:
            lines.append(f"  canceled: berth exited {self.term_to_exit}s after SIGTERM"
                         f"{', after SIGKILL' if self.killed else ''}")
        for name in ("stdout", "stderr"):
            text = getattr(self, name)
            if text:
                lines.append(f"  {name}:")
                lines.extend("    | " + line for line in text.rstrip("\n").split("\n"))
        return "\n".join(lines)

    __repr__ = report


class RunningStage:
    """berth started as the runner starts a stage: own process group, pipes read to EOF."""

    def __init__(self, job, stage, argv, env, timeout, attempt=0):
        self.job = job
        self.stage = stage
        self.argv = argv
        self.timeout = timeout
        self.attempt = attempt
        self.started = time.monotonic()
        # The runner sets Setpgid (helpers/process): berth leads a new group in the runner's
        # session. Python < 3.11 has no process_group; a new session is the closest thing.
        group = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
        self.proc = subprocess.Popen(argv, cwd=job.tmp, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, **group)
        self.pgid = self.proc.pid
        job.runner._started.append(self)
        self._out = {}
        self._readers = [self._reader("stdout", self.proc.stdout),
                         self._reader("stderr", self.proc.stderr)]
        self.result = None

    def _reader(self, name, pipe):
        chunks = self._out[name] = []  # kept in pieces: a hung stage still shows its output

        def read():
            with pipe:
                for chunk in iter(lambda: pipe.read1(65536), b""):
                    chunks.append(chunk)
        thread = threading.Thread(target=read, name=f"berth-{self.stage}-{name}", daemon=True)
        thread.start()
        return thread

    def _signal_group(self, sig):
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _wait_exit(self, deadline):
        try:
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            return True
        except subprocess.TimeoutExpired:
            return False

    def _wait_eof(self, deadline):
        for thread in self._readers:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._readers)

    def _finish(self, **extra):
        job = self.job
        code = self.proc.returncode
        if code == 0:
            cls = OK
        elif code == job.build_failure_exit_code:
            cls = BUILD_FAILURE
        elif code == job.system_failure_exit_code:
            cls = SYSTEM_FAILURE
        else:
            cls = UNKNOWN_EXIT_CODE
        build_exit_code = None
        if cls == BUILD_FAILURE:
            try:
                build_exit_code = job.build_exit_code_file.read_text().split("\n")[0]
            except FileNotFoundError:
                pass
        text = {name: b"".join(chunks).decode("utf-8", "replace")
                for name, chunks in self._out.items()}
        self.result = StageResult(
            stage=self.stage, argv=self.argv, exit_code=code, cls=cls,
            stdout=text["stdout"], stderr=text["stderr"],
            duration=round(time.monotonic() - self.started, 3), attempt=self.attempt,
            build_exit_code=build_exit_code, pid=self.proc.pid, **extra)
        job._record(self.result)
        return self.result

    def _hang(self, why):
        """Give up on the stage: kill berth's group, record what we have, fail loudly."""
        exited = self.proc.poll() is not None
        self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self._wait_eof(time.monotonic() + 0.2)
        result = self._finish()
        state = ("berth had exited but its stdout/stderr stayed open: a process it started "
                 "still holds them" if exited else "berth was still running")
        raise StageTimeout(f"stage {self.stage}: {why}; {state}\n{result.report()}")

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout=None):
        """Wait for berth to exit and both pipes to reach EOF; classify the exit code."""
        timeout = self.timeout if timeout is None else timeout
        deadline = self.started + timeout
        if not self._wait_exit(deadline):
            self._hang(f"no exit within {timeout}s")
        if not self._wait_eof(deadline):
            self._hang(f"output pipes not closed within {timeout}s of the start")
        return self._finish()

    def cancel(self, grace, eof_timeout=30.0):
        """The runner's cancel: SIGTERM to berth's group, SIGKILL to it after GRACE seconds.

        The runner then still waits for both pipes; a stage whose pipes outlive berth by
        EOF_TIMEOUT seconds fails the test (the real runner would hang forever).
        """
        sent = time.monotonic()
        self._signal_group(signal.SIGTERM)
        killed = False
        if not self._wait_exit(sent + grace):
            killed = True
            self._signal_group(signal.SIGKILL)
            self.proc.wait()
        term_to_exit = round(time.monotonic() - sent, 3)
        if not self._wait_eof(time.monotonic() + eof_timeout):
            self._hang(f"canceled; pipes still open {eof_timeout}s after berth exited")
        return self._finish(canceled=True, term_to_exit=term_to_exit, killed=killed)


# ---------------------------------------------------------------------------------------------
# A job and the runner that runs it

class Job:
    """One CI job and the runner's state for it: temp dir, response file, config's answer.

    scripts maps a run stage to its user commands (a str, one command per line, or a list);
    stages not in it get a short echo. response is AUTO (the runner's JSON), None (no file and
    no JOB_RESPONSE_FILE: only the CUSTOM_ENV_ fallback), a dict (written as JSON) or str/bytes
    (written as is). env_overrides is applied last to every invocation (None deletes a name).
    """

    def __init__(self, runner, job_id, *, project_id=1000, project_path="group/project",
                 name="test", variables=None, masked=(), scripts=None, main_stage="build_script",
                 concurrent_id=0, concurrent_project_id=0, protected=False,
                 build_failure_exit_code=RUNNER_BUILD_FAILURE_EXIT_CODE,
                 system_failure_exit_code=RUNNER_SYSTEM_FAILURE_EXIT_CODE,
                 response=AUTO, env_overrides=None):
        self.runner = runner
        self.id = job_id
        self.project_id = project_id
        self.project_path = project_path
        self.name = name
        self.user_variables = dict(variables or {})
        self.masked = set(masked)
        self.scripts = dict(scripts or {})
        self.main_stage = main_stage
        self.concurrent_id = concurrent_id
        self.concurrent_project_id = concurrent_project_id
        self.protected = protected
        self.build_failure_exit_code = build_failure_exit_code
        self.system_failure_exit_code = system_failure_exit_code
        self.response = response
        self.env_overrides = dict(env_overrides or {})
        self.token = "glcbt-64_" + secrets.token_urlsafe(15)
        self.tmp = Path(tempfile.mkdtemp(prefix="custom-executor", dir=runner.root))
        self.build_exit_code_file = self.tmp / "build_exit_code"
        self.response_file = self.tmp / "response.json"
        self.results = []
        self.on_result = runner.on_result
        self._scripts_written = 0
        # Filled in by config.
        self.config_output = None
        self.job_env = {}
        self.builds_dir = None
        self.cache_dir = None
        self.build_dir = None
        self.project_cache_dir = None

    # -- what the runner knows about the job ---------------------------------------------------

    def repo_url(self):
        """The clone URL the runner gets: it carries the job token."""
        return f"https://gitlab-ci-token:{self.token}@gitlab.example.com/{self.project_path}.git"

    def predefined_variables(self):
        """The CI_* variables a job gets; the dirs are empty until config has answered."""
        namespace, _, project_name = self.project_path.rpartition("/")
        return {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_SERVER": "yes",
            "CI_SERVER_URL": "https://gitlab.example.com",
            "CI_JOB_ID": str(self.id),
            "CI_JOB_NAME": self.name,
            "CI_JOB_STAGE": "test",
            "CI_JOB_TOKEN": self.token,
            "CI_JOB_TIMEOUT": "3600",
            "CI_REGISTRY_USER": "gitlab-ci-token",
            "CI_REGISTRY_PASSWORD": self.token,
            "CI_REPOSITORY_URL": self.repo_url(),
            "CI_PROJECT_ID": str(self.project_id),
            "CI_PROJECT_PATH": self.project_path,
            "CI_PROJECT_NAME": project_name,
            "CI_PROJECT_NAMESPACE": namespace,
            "CI_PIPELINE_ID": "5000",
            "CI_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
            "CI_COMMIT_REF_NAME": "main",
            "CI_CONCURRENT_ID": str(self.concurrent_id),
            "CI_CONCURRENT_PROJECT_ID": str(self.concurrent_project_id),
            "CI_RUNNER_ID": "7",
            "CI_RUNNER_SHORT_TOKEN": self.runner.short_token,
            "CI_BUILDS_DIR": str(self.builds_dir or ""),
            "CI_PROJECT_DIR": str(self.build_dir or ""),
        }

    def variables(self):
        """Every job variable, predefined first: on a repeated key the user's value wins."""
        merged = self.predefined_variables()
        merged.update(self.user_variables)
        return merged

    def secret_values(self):
        """Values berth must never print."""
        values = {self.token}
        values.update(v for k, v in self.user_variables.items() if k in self.masked)
        return values

    def default_response(self):
        """The runner's JOB_RESPONSE_FILE for this job, as a dict tests may edit."""
        namespace, _, project_name = self.project_path.rpartition("/")
        hidden = {"CI_BUILDS_DIR", "CI_PROJECT_DIR", "CI_CONCURRENT_ID",
                  "CI_CONCURRENT_PROJECT_ID", "CI_RUNNER_SHORT_TOKEN"}
        secret_keys = {"CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD", "CI_REPOSITORY_URL"}
        variables = [
            {"key": k, "value": v, "public": k not in secret_keys and k not in self.masked,
             "masked": k in secret_keys or k in self.masked, "file": False, "raw": False}
            for k, v in self.variables().items() if k not in hidden]
        return {
            "id": self.id,
            "token": self.token,
            "allow_git_fetch": True,
            "job_info": {
                "name": self.name,
                "stage": "test",
                "project_id": self.project_id,
                "project_name": project_name,
                "project_full_path": self.project_path,
                "user_id": 1,
                "namespace_id": 10,
            },
            "git_info": {
                "repo_url": self.repo_url(),
                "ref": "main",
                "sha": "0123456789abcdef0123456789abcdef01234567",
                "before_sha": "0000000000000000000000000000000000000000",
                "ref_type": "branch",
                "refspecs": [],
                "depth": 20,
                "protected": self.protected,
            },
            "runner_info": {"timeout": 3600},
            "variables": variables,
            "steps": [
                {"name": "script", "script": _commands(self.scripts.get(self.main_stage, "")),
                 "timeout": 3600, "when": "on_success", "allow_failure": False},
                {"name": "after_script", "script": _commands(self.scripts.get("after_script", "")),
                 "timeout": 3600, "when": "always", "allow_failure": False},
            ],
            "features": {},
        }

    def _write_response(self):
        if self.response is None:
            return
        content = self.response
        if content == AUTO:
            content = self.default_response()
        if isinstance(content, dict):
            content = json.dumps(content, indent=1)
        if isinstance(content, str):
            content = content.encode()
        fd = os.open(self.response_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)

    def env(self, stage):
        """The environment of one berth invocation, built in the runner's order."""
        env = dict(self.runner.base_env)
        env.update({
            "TMPDIR": str(self.tmp),
            "BUILD_FAILURE_EXIT_CODE": str(self.build_failure_exit_code),
            "SYSTEM_FAILURE_EXIT_CODE": str(self.system_failure_exit_code),
            "BUILD_EXIT_CODE_FILE": str(self.build_exit_code_file),
        })
        if self.response is not None:
            env["JOB_RESPONSE_FILE"] = str(self.response_file)
        else:
            env.pop("JOB_RESPONSE_FILE", None)
        if self.runner.settings is not None:
            env["BERTH_CONFIG"] = str(self.runner.settings)
        if stage != "config":
            env.update(self.job_env)
        env.update({"CUSTOM_ENV_" + k: v for k, v in self.variables().items()})
        env["CUSTOM_ENV_CI_JOB_IMAGE"] = ""
        for k, v in self.env_overrides.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def script_text(self, stage, commands=None):
        """The script the runner writes for a run stage (runner-generated lines + the user's)."""
        lines = []
        if stage == "prepare_script":
            lines.append('echo "Running on $(hostname) via e2e-runner..."')
        for key, value in self.variables().items():
            lines.append(f"export {key}={shell_escape(value)}")
        if stage == "get_sources":
            lines.append(f"mkdir -p {shell_escape(str(self.build_dir))}")
        if stage != "prepare_script":
            lines.append(f"cd {shell_escape(str(self.build_dir))}")
        if commands is None:
            commands = self.scripts.get(stage, f"echo {shell_escape(stage + ': nothing to do')}")
        for command in _commands(commands):
            lines.append("echo " + shell_escape(f"\x1b[32;1m$ {command}\x1b[0;m"))
            lines.append(command)
        return bash_script(lines)

    # -- invoking berth -----------------------------------------------------------------------

    def _record(self, result):
        self.results.append(result)
        if self.on_result:
            self.on_result(result)

    def start(self, stage, args=(), attempt=0, commands=None, timeout=None):
        """Start one berth invocation. A run stage gets its script file written first."""
        if not self.tmp.exists():
            raise RuntimeError("the job temp dir is gone (run_job removes it at the end)")
        if stage in ("config", "prepare", "cleanup"):
            argv = [str(self.runner.berth), stage, *args]
        else:
            self._scripts_written += 1
            script_dir = self.tmp / f"script{self._scripts_written}"
            script_dir.mkdir(mode=0o700)
            script = script_dir / "script."
            script.write_text(self.script_text(stage, commands))
            script.chmod(0o700)
            argv = [str(self.runner.berth), "run", str(script), stage]
        self._write_response()  # the runner writes it once; rewriting lets tests edit it
        try:
            self.build_exit_code_file.unlink()
        except FileNotFoundError:
            pass
        return RunningStage(self, stage, argv, self.env(stage),
                            timeout or self.runner.stage_timeout, attempt)

    def invoke(self, stage, args=(), **kw):
        return self.start(stage, args, **kw).wait()

    def config(self, args=(), attempt=0):
        """Run config; on exit 0 check its stdout is the JSON the runner accepts, apply it."""
        # Each attempt is a fresh executor in the runner: nothing known from an earlier one.
        self.config_output, self.job_env = None, {}
        self.builds_dir = self.cache_dir = self.build_dir = self.project_cache_dir = None
        result = self.invoke("config", args, attempt=attempt)
        if result.ok:
            self._apply_config(result)
        return result

    def _apply_config(self, result):
        try:
            out = json.loads(result.stdout)
        except ValueError as e:
            raise ProtocolError(f"config stdout is not only JSON ({e})\n{result.report()}")
        if not isinstance(out, dict):
            raise ProtocolError(f"config stdout is not a JSON object\n{result.report()}")
        for key in ("builds_dir", "cache_dir"):
            if not isinstance(out.get(key), str) or not out[key]:
                raise ProtocolError(f"config gave no {key}: the runner fails the job\n"
                                    f"{result.report()}")
        job_env = out.get("job_env") or {}
        if not isinstance(job_env, dict) or not all(isinstance(v, str) for v in job_env.values()):
            raise ProtocolError(f"config job_env is not an object of strings\n{result.report()}")
        self.config_output = out
        self.job_env = dict(job_env)
        self.runner._job_dirs.update(v for k, v in job_env.items() if k == "BERTH_JOB_DIR")
        self.builds_dir = Path(out["builds_dir"])
        self.cache_dir = Path(out["cache_dir"])
        # Build.ProjectUniqueDir: a shared builds dir gets token/slot in front of the path.
        if out.get("builds_dir_is_shared") is True:
            self.build_dir = (self.builds_dir / self.runner.short_token /
                              str(self.concurrent_project_id) / self.project_path)
        else:
            self.build_dir = self.builds_dir / self.project_path
        self.project_cache_dir = self.cache_dir / self.project_path

    def prepare(self, attempt=0):
        return self.invoke("prepare", attempt=attempt)

    def run(self, stage, commands=None, timeout=None):
        """`berth run SCRIPT STAGE` for one run stage; commands replace the job's script."""
        return self.start(stage, commands=commands, timeout=timeout).wait()

    def cleanup(self, attempt=0):
        return self.invoke("cleanup", attempt=attempt)

    # -- the runner's sequence ----------------------------------------------------------------

    def config_and_prepare(self, before_attempt=None):
        """Up to 3 attempts of config+prepare, cleanup after each failed one (a build
        failure is not retried). before_attempt(n) runs before attempt n. True on success."""
        for attempt in range(1, PREPARATION_ATTEMPTS + 1):
            if before_attempt:
                before_attempt(attempt)
            result = self.config(attempt=attempt)
            if result.ok:
                result = self.prepare(attempt=attempt)
            if result.ok:
                return True
            self.cleanup(attempt=attempt)
            if result.cls == BUILD_FAILURE:
                return False
            time.sleep(self.runner.retry_interval)
        return False

    def run_stages(self):
        """Every run stage in the runner's order; True when the job succeeded."""
        success = all(self.run(stage).ok for stage in STAGES_BEFORE_SCRIPT)
        if success:
            success = self.run(self.main_stage).ok
            self.run("after_script")  # its failure does not fail the job
        self.run("archive_cache" if success else "archive_cache_on_failure")
        self.run("upload_artifacts_on_success" if success else "upload_artifacts_on_failure")
        self.run("cleanup_file_variables")
        return success

    def run_job(self, before_attempt=None):
        """The whole job as the runner runs it; removes the job temp dir at the end."""
        try:
            if not self.config_and_prepare(before_attempt):
                return False
            try:
                return self.run_stages()
            finally:
                self.cleanup()
        finally:
            self.remove_tmp()

    def remove_tmp(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- looking at results -------------------------------------------------------------------

    def stage(self, name):
        """The last result of stage NAME."""
        for result in reversed(self.results):
            if result.stage == name:
                return result
        raise KeyError(f"stage {name} never ran; ran: {[r.stage for r in self.results]}")

    def stages(self, name=None):
        return [r for r in self.results if name is None or r.stage == name]

    @property
    def workspace(self):
        return Path(self.job_env["BERTH_JOB_DIR"])


class Runner:
    """What the runner process holds: berth's path, its own environment, the jobs it started.

    settings is the BERTH_CONFIG file every invocation gets (None: not set). close() kills
    whatever berth or a job script left running: call it from a finalizer.
    """

    def __init__(self, berth, root, settings=None, short_token="e2eTokn1",
                 stage_timeout=120.0, retry_interval=0.0, on_result=None):
        self.berth = Path(berth)
        self.root = Path(root)
        self.settings = settings
        self.short_token = short_token
        self.stage_timeout = stage_timeout
        self.retry_interval = retry_interval  # the runner waits 3 s; tests need not
        self.on_result = on_result
        # A mark in the runner's environment: berth passes it to every script, so close()
        # finds leftovers even when BERTH_JOB_DIR is missing.
        self.tag = secrets.token_hex(8)
        self.base_env = dict(os.environ, BERTH_E2E_TAG=self.tag)
        self._started = []
        self._job_dirs = set()
        self.extra_pids = set()

    def job(self, job_id, **kw):
        return Job(self, job_id, **kw)

    def owns(self, pid):
        """True when PID's environment shows it was started by one of this runner's jobs."""
        marks = {f"BERTH_E2E_TAG={self.tag}".encode()}
        marks.update(f"BERTH_JOB_DIR={d}".encode() for d in self._job_dirs)
        return any(entry in marks for entry in proc_environ(pid))

    def leftovers(self):
        """Live processes started by this runner's jobs (berth itself excluded)."""
        pids = set(pids_with_env("BERTH_E2E_TAG", self.tag))
        for job_dir in self._job_dirs:
            pids.update(pids_with_env("BERTH_JOB_DIR", job_dir))
        # PIDs a script reported: only when they are still ours (never a reused PID, nor a
        # number from another PID namespace).
        pids.update(p for p in self.extra_pids if alive(p) and self.owns(p))
        return sorted(pids)

    def close(self):
        for stage in self._started:
            if stage.running():
                stage._signal_group(signal.SIGKILL)
                stage.proc.wait()
        kill_pids(self.leftovers())


# ---------------------------------------------------------------------------------------------
# Locks, as `berth locks --json` lists them

def locks_json(berth, env):
    """`berth locks --json` with ENV, parsed (a failure or no JSON fails the test)."""
    res = subprocess.run([str(berth), "locks", "--json"], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, f"berth locks --json: exit {res.returncode}\n{res.stderr}"
    try:
        data = json.loads(res.stdout)
    except ValueError as e:
        raise AssertionError(f"berth locks --json printed no JSON ({e}):\n{res.stdout!r}")
    assert isinstance(data, list), res.stdout
    return data


def lock_entry(locks, key):
    """KEY's entry in a `berth locks --json` list, or None."""
    found = [e for e in locks if e.get("key") == key]
    assert len(found) <= 1, f"{key} listed twice: {found}"
    return found[0] if found else None


def lock_queue(entry):
    """[holder job or None, waiter jobs...] of a lock entry (None: [None])."""
    if entry is None:
        return [None]
    holder = entry.get("holder")
    return ([str(holder["job"]) if holder else None] +
            [str(w["job"]) for w in entry.get("waiters", [])])


# ---------------------------------------------------------------------------------------------
# The demo: one job through every stage, printed

def _print_result(result):
    head = f"== {result.stage}"
    if result.attempt:
        head += f" (attempt {result.attempt})"
    print(f"{head}: exit {result.exit_code} [{result.cls}] {result.duration:.2f}s")
    if result.build_exit_code is not None:
        print(f"   script exit code: {result.build_exit_code}")
    for name in ("stdout", "stderr"):
        text = getattr(result, name)
        if text.strip():
            for line in text.rstrip("\n").split("\n"):
                print(f"   {name[3:]}| {line}")
    sys.stdout.flush()


def demo(berth, settings=None):
    """One job; with SETTINGS (a file) every stage reads those settings, as an installed berth
    reads /etc/berth/berth.yaml."""
    if not os.access(berth, os.X_OK):
        print(f"runner.py: berth binary not found at {berth} (set BERTH_BIN or run make)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="berth-demo-") as root:
        if os.geteuid() == 0:
            os.chmod(root, 0o711)  # job users reach their stage scripts in it
        if settings is None and os.geteuid() == 0:
            # As root, as under GitLab Runner: the script runs as a job user (scripts/job-users.sh
            # creates berth-job-1), never root; state in the demo's own directory.
            settings = Path(root) / "berth.yaml"
            settings.write_text(f'state_dir: "{root}/state"\njob_users: [berth-job-1]\n')
        runner = Runner(berth, root, settings=settings, on_result=_print_result)
        job = runner.job(
            900000000 + os.getpid() % 100000, project_path="demo/hello", name="demo",
            main_stage="step_script",
            variables={"GREETING": "hello from berth"},
            scripts={
                "prepare_script": 'echo "prepared on $(hostname)"',
                "get_sources": 'echo "fetching into $CI_PROJECT_DIR"',
                "step_script": ['echo "$GREETING"', 'echo "running as: $(id -un)"',
                                'echo "workspace: $BERTH_JOB_DIR"',
                                'echo "tmp: $TMPDIR"', 'date > built.txt', "ls -l"],
                "after_script": 'echo "after_script sees: $(cat built.txt)"',
            })
        print(f"berth demo: {berth}\n")
        try:
            success = job.run_job()
        finally:
            runner.close()
        print(f"\njob {job.id}: {'succeeded' if success else 'FAILED'}")
        return 0 if success else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true",
                        help="run one sample job through every stage and print each stage")
    parser.add_argument("--berth", help="the berth binary (default: $BERTH_BIN, build/san/berth, "
                                        "build/berth)")
    parser.add_argument("--settings", help="the demo's settings file (default: as root, one "
                                           "of the demo's own; else berth's usual lookup)")
    args = parser.parse_args(argv)
    if not args.demo:
        parser.print_help()
        return 2
    return demo(Path(args.berth) if args.berth else find_berth(),
                Path(args.settings) if args.settings else None)


if __name__ == "__main__":
    sys.exit(main())
