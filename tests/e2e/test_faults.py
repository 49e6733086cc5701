"""Faults, end to end: what berth says and leaves behind when the world misbehaves.

A full or unwritable state dir, a file-size limit, registries that reset, babble or send a
10 MB header, a Kubernetes API that never answers, berth SIGKILLed in the middle of every
stage, and bad job input. Each test asserts the failure class the runner sees, berth's message,
that no secret is printed and that cleanup leaves nothing: no workspace, no process, no secret.

The failures also make docs/bad-input.md: `record_bad_input` (conftest.py) notes each one
(input, stage, berth's error line, class), as the attack tests in attacks/ do; with
BERTH_BAD_INPUT_RECORD=FILE the notes go to FILE, from which scripts/bad-input.py writes the
table. Without it every note must already be a row of the committed table, and the last test
checks that no row is stale, so the table cannot drift.
"""

import gzip
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from lib import runner as rn
from lib.bad_input import script as bad_input
from lib.registry import free_port
from test_credentials import GOOD, b64, registry_settings
from test_gc import kubeconfig, silent_server  # noqa: F401  (a fixture)
from test_protocol import ODD_CODES, expect, files_under

SHELL_ONLY = pytest.mark.parametrize("executor", ["shell"], indirect=True)

# -- helpers ----------------------------------------------------------------------------------

def first_failure(job):
    """The first config or prepare result that failed."""
    for result in job.results:
        if result.stage in ("config", "prepare") and not result.ok:
            return result
    raise AssertionError(f"nothing failed: {job.results}")


def assert_nothing_left(runner, settings, job_id, *canaries):
    """No workspace, no process of the job, no canary in any file berth could have written."""
    workspace = settings.jobs_dir() / str(job_id)
    assert not workspace.exists(), f"{workspace} outlived cleanup: {files_under(workspace)}"
    assert rn.wait_for(lambda: not rn.pids_with_env("BERTH_JOB_DIR", str(workspace)), 60), \
        f"processes of job {job_id} outlived cleanup"
    assert rn.wait_for(lambda: not runner.leftovers(), 60), \
        f"processes of the runner's jobs outlived cleanup: {runner.leftovers()}"
    for root in (settings.state_dir, settings.builds_dir):
        for path in files_under(root):
            try:
                data = open(path, "rb").read()
            except OSError:
                continue
            for canary in canaries:
                assert canary.encode() not in data, f"{canary} left in {path}"


def printed(job):
    return "".join(r.stdout + r.stderr for r in job.results)


# -- bad job input and bad settings -----------------------------------------------------------

KUBE_CANARY = "canary-kube-tok-5d1e"
GOOD_CANARY = GOOD.replace("TOKEN", KUBE_CANARY)

# (id, what the table says, job variables, settings changes, stage, class, message fragment)
BAD_INPUT = [
    ("kubeconfig-base64", "kubeconfig variable that is not base64",
     {"WERF_KUBECONFIG_BASE64": "!!not base64!!"}, {}, "prepare", rn.BUILD_FAILURE,
     "is not valid base64"),
    ("kubeconfig-not-yaml", "kubeconfig that is not YAML",
     {"WERF_KUBECONFIG_BASE64": b64("apiVersion: v1\nkind: [Config\n")}, {}, "prepare",
     rn.BUILD_FAILURE, "invalid YAML"),
    ("kubeconfig-gzip", "kubeconfig as truncated gzip",
     {"WERF_KUBECONFIG_BASE64": b64(gzip.compress(GOOD_CANARY.encode())[:40])}, {}, "prepare",
     rn.BUILD_FAILURE, "truncated or corrupt gzip"),
    ("kubeconfig-too-large", "kubeconfig larger than kubeconfig_max_bytes (1024)",
     {"WERF_KUBECONFIG_BASE64": b64(GOOD_CANARY + "#" + "x" * 2000 + "\n")},
     {"kubeconfig_max_bytes": 1024}, "prepare", rn.BUILD_FAILURE, "kubeconfig_max_bytes"),
    ("kubeconfig-current-context", "kubeconfig whose current-context names no context",
     {"WERF_KUBECONFIG_BASE64": b64(GOOD_CANARY.replace("current-context: ctx",
                                                        "current-context: nope"))},
     {}, "prepare", rn.BUILD_FAILURE, "current-context names no context"),
    ("kube-context-unknown", "WERF_KUBE_CONTEXT naming a context the kubeconfig lacks",
     {"WERF_KUBECONFIG_BASE64": b64(GOOD_CANARY), "WERF_KUBE_CONTEXT": "nope"}, {}, "prepare",
     rn.BUILD_FAILURE, "WERF_KUBE_CONTEXT names no context"),
    ("kubeconfig-required", "no kubeconfig with kubeconfig_required: true", {},
     {"kubeconfig_required": True}, "prepare", rn.BUILD_FAILURE, "requires a kubeconfig"),
    ("registry-no-password", "WERF_USERNAME without WERF_PASSWORD",
     {"WERF_REPO": "registry.example.com/group/app", "WERF_USERNAME": "token"}, {}, "prepare",
     rn.BUILD_FAILURE, "CI/CD variable WERF_USERNAME is set but WERF_PASSWORD is not"),
    ("registry-no-credentials", "WERF_REPO without WERF_USERNAME and WERF_PASSWORD",
     {"WERF_REPO": "cr.selcloud.ru/myreg/group/app"}, {}, "prepare", rn.BUILD_FAILURE,
     "set WERF_USERNAME and WERF_PASSWORD"),
    ("werf-repo-image", "WERF_REPO naming an image (with a tag)",
     {"WERF_REPO": "registry.example.com/group/app:v1", "WERF_USERNAME": "u",
      "WERF_PASSWORD": "canary-pw-x1"}, {}, "prepare", rn.BUILD_FAILURE, "names an image"),
    ("werf-repo-uppercase", "WERF_REPO with uppercase letters",
     {"WERF_REPO": "Registry.Example.com/App", "WERF_USERNAME": "u",
      "WERF_PASSWORD": "canary-pw-x2"}, {}, "prepare", rn.BUILD_FAILURE, "lowercase"),
    ("job-id", "CI_JOB_ID that is not a number (no response file)",
     {"CI_JOB_ID": "12a"}, {}, "config", rn.BUILD_FAILURE, "invalid CI/CD variable CI_JOB_ID '12a'"),
    ("project-path", "CI_PROJECT_PATH with '..' (no response file)",
     {"CI_PROJECT_PATH": "../../etc"}, {}, "config", rn.BUILD_FAILURE,
     "invalid CI/CD variable CI_PROJECT_PATH"),
]


@SHELL_ONLY
@pytest.mark.parametrize("name, what, variables, changes, stage, cls, fragment", BAD_INPUT,
                         ids=[c[0] for c in BAD_INPUT])
def test_bad_job_input(runner, settings, record_bad_input, name, what, variables, changes,
                       stage, cls, fragment):
    settings.write(kube_preflight=False, **changes)
    response = None if stage == "config" else rn.AUTO
    job = runner.job(9700, variables=variables, masked=("WERF_PASSWORD",), response=response,
                     **ODD_CODES)
    assert not job.config_and_prepare()
    failed = first_failure(job)
    assert failed.stage == stage, failed.report()
    expect(failed, cls, 77 if cls == rn.BUILD_FAILURE else 78)
    assert fragment in failed.stderr, failed.report()
    assert KUBE_CANARY not in printed(job)
    for secret in job.secret_values():
        assert secret not in printed(job)
    assert all(r.ok for r in job.stages("cleanup"))
    assert_nothing_left(runner, settings, 9700, KUBE_CANARY)
    record_bad_input(what, failed)


BAD_SETTINGS = [
    ("unknown-key", "settings file with an unknown key", "colour: blue\n",
     "unknown setting 'colour'"),
    ("misspelt-key", "settings file with a misspelt key (kill_gace)", "kill_gace: 3\n",
     "did you mean 'kill_grace'?"),
    ("bad-duration", "settings file with a bad duration (kill_grace: soon)", "kill_grace: soon\n",
     "kill_grace"),
    ("bad-bool", "settings file with a bad boolean (kube_preflight: maybe)",
     "kube_preflight: maybe\n", "kube_preflight"),
    ("not-yaml", "settings file that is not YAML", "registries: [\n", "berth.yaml"),
]


@SHELL_ONLY
@pytest.mark.parametrize("name, what, line, fragment", BAD_SETTINGS,
                         ids=[c[0] for c in BAD_SETTINGS])
def test_bad_settings(runner, settings, record_bad_input, name, what, line, fragment):
    settings.write_text(f'state_dir: "{settings.state_dir}"\n' + line)
    job = runner.job(9701, **ODD_CODES)
    result = job.config()
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert fragment in result.stderr, result.report()
    record_bad_input(what, result)


@SHELL_ONLY
def test_response_file_not_json(runner, settings, record_bad_input):
    job = runner.job(9702, response="not json", **ODD_CODES)
    result = job.config()
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert str(job.response_file) in result.stderr, result.report()
    record_bad_input("JOB_RESPONSE_FILE that is not JSON", result,
                     (str(job.response_file), "<JOB_RESPONSE_FILE>"))


# -- the state dir ----------------------------------------------------------------------------

@SHELL_ONLY
def test_state_dir_is_a_file(runner, settings, record_bad_input):
    settings.state_dir.write_text("a file where the state dir should be\n")
    job = runner.job(9710, **ODD_CODES)
    assert not job.config_and_prepare()
    failed = first_failure(job)
    expect(failed, rn.SYSTEM_FAILURE, 78)
    assert str(settings.state_dir) in failed.stderr, failed.report()
    assert len(job.stages("cleanup")) == 3 and all(r.ok for r in job.stages("cleanup"))
    assert settings.state_dir.read_text() == "a file where the state dir should be\n"
    record_bad_input("state dir that is a regular file", failed)


@pytest.fixture
def immutable(tmp_path):
    """chattr +i DIR (skips where the file system or kernel says no); undone at the end."""
    done = []

    def make(path):
        res = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"chattr +i does not work here: {res.stderr.strip()}")
        done.append(path)
    yield make
    for path in done:
        subprocess.run(["chattr", "-i", str(path)])


@SHELL_ONLY
def test_state_dir_immutable(runner, settings, immutable, record_bad_input):
    # Root ignores modes; an immutable jobs dir refuses even root.
    settings.jobs_dir().mkdir(parents=True)
    immutable(settings.jobs_dir())
    job = runner.job(9711, **ODD_CODES)
    assert not job.config_and_prepare()
    failed = first_failure(job)
    expect(failed, rn.SYSTEM_FAILURE, 78)
    assert str(settings.jobs_dir()) in failed.stderr, failed.report()
    assert all(r.ok for r in job.stages("cleanup"))
    assert_nothing_left(runner, settings, 9711)
    record_bad_input("state dir's jobs dir immutable (chattr +i)", failed)


@pytest.fixture
def small_tmpfs():
    """mount(DIR): a 64 KB tmpfs on DIR (skips when mounting is not allowed); unmounted after."""
    mounted = []

    def mount(path):
        path.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs",
                              str(path)], capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
        mounted.append(path)
    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)])


def fill(directory):
    """Write a file in DIRECTORY until the file system is full."""
    with open(directory / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError:
            pass
        try:
            while True:
                f.write(b"x")
        except OSError:
            pass


@SHELL_ONLY
def test_state_dir_full(runner, settings, small_tmpfs, record_bad_input):
    small_tmpfs(settings.state_dir)
    job = runner.job(9712, variables={"WERF_KUBECONFIG_BASE64": b64(GOOD_CANARY)},
                     masked=("WERF_KUBECONFIG_BASE64",), **ODD_CODES)
    settings.write(kube_preflight=False)
    expect(job.config(), rn.OK)
    fill(settings.state_dir)
    prepare = job.prepare()
    expect(prepare, rn.SYSTEM_FAILURE, 78)
    assert "No space left on device" in prepare.stderr, prepare.report()
    assert str(job.workspace) in prepare.stderr, prepare.report()
    # The disk is still full: cleanup must manage with no room at all.
    expect(job.cleanup(), rn.OK)
    assert_nothing_left(runner, settings, 9712, KUBE_CANARY)
    record_bad_input("state dir's file system full", prepare,
                     (str(job.workspace), "<state_dir>/jobs/<id>"))
    # And once there is room again, the same job goes through.
    (settings.state_dir / "filler").unlink()
    assert job.config_and_prepare(), job.results
    expect(job.cleanup(), rn.OK)
    assert_nothing_left(runner, settings, 9712, KUBE_CANARY)


@SHELL_ONLY
def test_file_size_limit(runner, settings, tmp_path, scratch, record_bad_input):
    # RLIMIT_FSIZE: a write past it fails with EFBIG (berth ignores SIGXFSZ, which would kill
    # it without a word) and the failure is reported like a full disk.
    if not shutil.which("prlimit"):
        pytest.skip("prlimit (util-linux) is not installed")
    limited = tmp_path / "berth-fsize"
    limited.write_text(f'#!/bin/sh\nexec prlimit --fsize=16 -- "{runner.berth}" "$@"\n')
    limited.chmod(0o755)
    job = runner.job(9713, scripts={"build_script": f"grep SigIgn /proc/$$/status > {scratch}/ign"},
                     **ODD_CODES)
    expect(job.config(), rn.OK)
    real = runner.berth
    runner.berth = limited
    try:
        prepare = job.prepare()
    finally:
        runner.berth = real
    expect(prepare, rn.SYSTEM_FAILURE, 78)
    assert "File too large" in prepare.stderr, prepare.report()
    expect(job.cleanup(), rn.OK)
    assert_nothing_left(runner, settings, 9713)
    record_bad_input("a file-size limit (RLIMIT_FSIZE) berth's writes exceed", prepare,
                     (str(job.workspace), "<state_dir>/jobs/<id>"))
    # Scripts get SIGXFSZ's default action back: berth ignores it for itself alone.
    assert job.run_job(), job.results
    ignored = int((scratch / "ign").read_text().split()[1], 16)
    assert not ignored & (1 << (signal.SIGXFSZ - 1)), "the job's script inherited SIGXFSZ ignored"


# -- registries that misbehave ----------------------------------------------------------------

class FaultyRegistry:
    """A TCP server that reads a request and then misbehaves as KIND says."""

    def __init__(self, kind):
        self.kind = kind
        self.tls = False
        self.requests = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.host = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            conn.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.requests += 1
            if self.kind == "reset":  # half an answer, then RST
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a")
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif self.kind == "garbage":  # not HTTP at all
                conn.sendall(b"\x00\xff\x13SSH-2.0-OpenSSH garbage\r\n" * 64)
            elif self.kind == "huge-header":  # one 10 MB header line
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nX-Huge: ")
                for _ in range(160):
                    conn.sendall(b"a" * 65536)
                conn.sendall(b"\r\nContent-Length: 0\r\n\r\n")
            elif self.kind == "huge-headers":  # 10 MB of 1 KB header lines
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\n")
                for i in range(10240):
                    conn.sendall(b"X-H%d: " % i + b"a" * 1024 + b"\r\n")
                conn.sendall(b"Content-Length: 0\r\n\r\n")
            elif self.kind == "silent":
                time.sleep(30)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass


FAULTY = [
    ("reset", "registry resetting the connection mid-answer", "Connection reset by peer"),
    ("garbage", "registry answering bytes that are not HTTP", "HTTP/0.9"),
    ("huge-header", "registry answering a 10 MB header line", "header larger than"),
    ("huge-headers", "registry answering 10 MB of headers", "larger than berth accepts"),
    ("silent", "registry accepting the connection and never answering (registry_timeout 2s)",
     "imed out"),
]


@SHELL_ONLY
@pytest.mark.parametrize("kind, what, fragment", FAULTY, ids=[c[0] for c in FAULTY])
def test_faulty_registry(runner, settings, record_bad_input, kind, what, fragment):
    server = FaultyRegistry(kind)
    try:
        registry_settings(settings, server)
        settings.write(kube_preflight=False, registry_timeout="2s")
        password = "canary-pw-" + kind
        job = runner.job(9720, variables={"WERF_REPO": f"{server.host}/group/app",
                                          "WERF_USERNAME": "alice", "WERF_PASSWORD": password},
                         masked=("WERF_PASSWORD",), **ODD_CODES)
        expect(job.config(), rn.OK)
        prepare = job.prepare()
        expect(prepare, rn.SYSTEM_FAILURE, 78)
        assert f"registry {server.host}" in prepare.stderr, prepare.report()
        assert fragment in prepare.stderr, prepare.report()
        assert prepare.duration < 10, prepare.report()
        assert server.requests >= 1
        expect(job.cleanup(), rn.OK)
        assert password not in printed(job)
        assert b64(f"alice:{password}") not in printed(job)
        assert_nothing_left(runner, settings, 9720, password)
        record_bad_input(what, prepare)
    finally:
        server.close()


@SHELL_ONLY
def test_registry_unreachable(runner, settings, record_bad_input):
    host = f"127.0.0.1:{free_port()}"
    settings.write(registries=[{"host": host, "plain_http": True}], kube_preflight=False)
    job = runner.job(9721, variables={"WERF_REPO": f"{host}/group/app", "WERF_USERNAME": "alice",
                                      "WERF_PASSWORD": "canary-pw-down"}, **ODD_CODES)
    assert not job.config_and_prepare()
    failed = first_failure(job)
    expect(failed, rn.SYSTEM_FAILURE, 78)
    assert f"cannot reach registry {host}" in failed.stderr, failed.report()
    assert "canary-pw-down" not in printed(job)
    assert_nothing_left(runner, settings, 9721, "canary-pw-down")
    record_bad_input("registry where nothing listens", failed)


@SHELL_ONLY
def test_registry_wrong_password(runner, settings, registry_basic, record_bad_input):
    reg = registry_basic
    registry_settings(settings, reg)
    settings.write(kube_preflight=False)
    job = runner.job(9722, variables={"WERF_REPO": f"{reg.host}/group/app",
                                      "WERF_USERNAME": "alice", "WERF_PASSWORD": "canary-pw-bad"},
                     masked=("WERF_PASSWORD",), **ODD_CODES)
    assert not job.config_and_prepare()
    failed = first_failure(job)
    expect(failed, rn.BUILD_FAILURE, 77)
    assert "canary-pw-bad" not in printed(job)
    assert_nothing_left(runner, settings, 9722, "canary-pw-bad")
    record_bad_input("registry password the registry rejects", failed)


# -- a Kubernetes API that never answers ------------------------------------------------------

@SHELL_ONLY
def test_silent_kubernetes_api(runner, settings, silent_server, record_bad_input):
    settings.write(kube_preflight=True, kube_timeout="2s")
    token = "canary-kube-silent-9b2c"
    job = runner.job(9730, variables={"WERF_KUBECONFIG_BASE64": b64(kubeconfig(silent_server,
                                                                                token))},
                     masked=("WERF_KUBECONFIG_BASE64",), **ODD_CODES)
    expect(job.config(), rn.OK)
    prepare = job.prepare()
    expect(prepare, rn.SYSTEM_FAILURE, 78)
    assert prepare.duration < 10, prepare.report()
    assert silent_server in prepare.stderr, prepare.report()
    expect(job.cleanup(), rn.OK)
    assert token not in printed(job)
    assert_nothing_left(runner, settings, 9730, token)
    record_bad_input("Kubernetes API accepting the connection and never answering "
                     "(kube_timeout 2s)", prepare)


# -- berth SIGKILLed in the middle of a stage, then the runner's cleanup ----------------------

KILL_STAGES = ["config", "prepare", "prepare_script", "get_sources", "build_script",
               "after_script"]
RUN_ORDER = ["prepare_script", "get_sources", "restore_cache", "download_artifacts",
             "build_script", "after_script"]


def kill_group(stage):
    try:
        os.killpg(stage.pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    stage.proc.wait(60)


@pytest.mark.parametrize("stage", KILL_STAGES)
def test_sigkill_mid_stage_then_cleanup(runner, settings, scratch, silent_server, stage):
    token = "canary-kill-" + stage
    started = scratch / f"started-{stage}"
    settings.write(kube_preflight=stage == "prepare", kube_timeout="60s")
    # The prepare case checks its kubeconfig against a server that never answers: prepare is
    # stuck in the middle with the kubeconfig (the canary) already on disk.
    job = runner.job(9740, variables={
        "WERF_KUBECONFIG_BASE64": b64(kubeconfig(silent_server, token)), "MARK": str(started)},
        masked=("WERF_KUBECONFIG_BASE64",),
        scripts={stage: ['touch "$MARK"', "sleep 1000 &", "sleep 1000"]})
    workspace = settings.jobs_dir() / str(job.id)
    if stage == "config":
        running = job.start("config")
        time.sleep(0.003)
    elif stage == "prepare":
        expect(job.config(), rn.OK)
        running = job.start("prepare")
        assert rn.wait_for(lambda: (workspace / "kube" / "config").exists(), 60), \
            "prepare never wrote the kubeconfig"
        silent_server.wait_connected()  # stuck in the preflight, the canary on disk
    else:
        assert job.config_and_prepare(), job.results
        for before in RUN_ORDER[:RUN_ORDER.index(stage)]:
            expect(job.run(before), rn.OK)
        running = job.start(stage)
        assert rn.wait_for(started.exists, 60), f"{stage} never started"
        rn.wait_for(lambda: len(rn.pids_with_env("BERTH_JOB_DIR", str(workspace))) >= 3, 60)
    kill_group(running)

    # The runner gives up on the stage and runs cleanup (config_exec never answered for the
    # config case: cleanup then has no job_env, as in the runner).
    cleanup = job.cleanup()
    expect(cleanup, rn.OK)
    assert token not in cleanup.stdout + cleanup.stderr
    assert_nothing_left(runner, settings, job.id, token)

    # The next job on the same slot goes through end to end.
    settings.write(kube_preflight=False)
    after = runner.job(9741, variables={"WERF_KUBECONFIG_BASE64": b64(GOOD_CANARY)},
                       scripts={"build_script": ["test -s \"$KUBECONFIG\"", "echo next ok"]})
    assert after.run_job(), after.results
    assert "next ok" in after.stage("build_script").stdout
    assert_nothing_left(runner, settings, 9741, KUBE_CANARY)
    job.remove_tmp()


# -- the table is up to date ------------------------------------------------------------------

def test_zz_bad_input_doc_has_no_stale_rows(request, bad_input_records):
    """Last in the file (and after the attack tests, which scripts/bad-input.py runs first):
    when every recording test of every file the script runs ran and recorded, the committed
    table is exactly what they produced (rows missing fail in the tests)."""
    if bad_input_records.file:
        pytest.skip("recording for scripts/bad-input.py: the table is being regenerated")
    recorders = [item.nodeid for item in request.session.items
                 if "record_bad_input" in item.fixturenames]
    ran = {str(item.path.relative_to(rn.REPO)) for item in request.session.items}
    absent = [t for t in bad_input.TESTS if t not in ran]
    missing = [n for n in recorders if n not in bad_input_records.recorded_by]
    if absent or not recorders or missing:
        pytest.skip(f"{len(missing)} of {len(recorders)} recording tests did not record, "
                    f"{len(absent)} recording files not collected (skipped, failed, deselected "
                    f"or after this one): cannot tell stale rows")
    produced = {bad_input.row(r) for r in bad_input_records.records}
    stale = bad_input_records.doc_rows - produced
    assert not stale, ("docs/bad-input.md has rows no test produces: run scripts/bad-input.py\n"
                       + "\n".join(sorted(stale)))
    assert bad_input.DOC.read_text() == bad_input.render(bad_input_records.records), \
        "docs/bad-input.md is not what scripts/bad-input.py renders: run it"
