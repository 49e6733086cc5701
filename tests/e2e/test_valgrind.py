"""One whole job with every berth invocation under valgrind's memcheck.

The job has what exercises most of berth's memory handling: a registry login (libcurl, the
docker config), a kubeconfig decoded, written and checked against a real kube-apiserver (TLS),
the run stages, and cleanup wiping both. The runner's argv is REPO/build/berth wrapped in a
small script that execs valgrind on it, so berth keeps its PID and leads its process group as
the runner expects. Only definite leaks and memcheck errors count: libcurl and OpenSSL, which
berth dlopens, keep "still reachable" and "possibly lost" blocks from their one-time init.

The release build is used whatever BERTH_BIN says: memcheck cannot run an ASan binary.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

from lib import runner as rn
from test_credentials import GOOD, REPO, b64, registry_settings
from test_protocol import assert_no_secret_printed, expect

RELEASE = rn.REPO / "build" / "berth"

VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99", "--track-fds=no"]


def release_binary(berth_bin):
    """REPO/build/berth; BERTH_BIN itself only when it is not a sanitizer build."""
    if RELEASE.is_file() and os.access(RELEASE, os.X_OK):
        return RELEASE
    if "san" in Path(berth_bin).resolve().parts:
        pytest.skip(f"{berth_bin} is a sanitizer build and {RELEASE} is missing: run `make`")
    return Path(berth_bin)


@pytest.fixture
def valgrind_berth(berth_bin, tmp_path):
    """(a wrapper that runs berth under memcheck, the directory of its logs, the binary)."""
    if not shutil.which("valgrind"):
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    logs = tmp_path / "valgrind"
    logs.mkdir()
    wrapper = tmp_path / "berth-under-valgrind"
    argv = " ".join(VALGRIND + [f"--log-file={logs}/%p.log", str(release_binary(berth_bin))])
    wrapper.write_text(f'#!/bin/sh\nexec {argv} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, logs, release_binary(berth_bin)


# The first line of each kind of report memcheck makes about a bad access.
MEMCHECK_ERROR = re.compile(r"^==\d+== (Invalid (read|write|free)|Conditional jump|Use of uninit"
                            r"|Syscall param|Source and destination overlap|Mismatched free"
                            r"|Argument '.*' of function)", re.M)


def read_logs(logs):
    """[(pid, parent pid, command line, log text)] for every valgrind log."""
    found = []
    for log in sorted(logs.glob("*.log"), key=lambda p: int(p.stem)):
        text = log.read_text()
        command = re.search(r"^==\d+== Command: (.*)$", text, re.M)
        parent = re.search(r"^==\d+== Parent PID: (\d+)$", text, re.M)
        found.append((int(log.stem), int(parent.group(1)) if parent else None,
                      command.group(1) if command else "?", text))
    return found


def summary_lines(text):
    return [re.sub(r"^==\d+== +", "", line) for line in text.splitlines()
            if re.search(r"(in use at exit|definitely lost|indirectly lost|possibly lost"
                         r"|still reachable|ERROR SUMMARY):", line)]


@pytest.mark.parametrize("executor", ["shell"], indirect=True)
def test_whole_job_under_valgrind(request, valgrind_berth, settings, registry_basic, tmp_path):
    wrapper, logs, binary = valgrind_berth
    reg = registry_basic
    registry_settings(settings, reg)
    try:
        kube = request.getfixturevalue("kube_api")
        kubeconfig = kube.kubeconfig(auth="token")
        settings.write(kube_preflight=True)
    except pytest.skip.Exception:  # no kube-apiserver here: the kubeconfig is checked offline
        kube = None
        kubeconfig = GOOD.replace("TOKEN", "canary-valgrind-token")
        settings.write(kube_preflight=False)
    root = tmp_path / "runner"
    root.mkdir()
    # valgrind slows berth 20-50 times: a stage gets a minute.
    runner = rn.Runner(wrapper, root, settings=settings.path, stage_timeout=120)
    try:
        job = runner.job(9901, variables={
            "WERF_REPO": f"{reg.host}/{REPO}", "WERF_USERNAME": "alice",
            "WERF_PASSWORD": reg.users["alice"], "WERF_KUBECONFIG_BASE64": b64(kubeconfig)},
            masked=("WERF_PASSWORD", "WERF_KUBECONFIG_BASE64"),
            scripts={"build_script": ['test -s "$KUBECONFIG"',
                                      'test -s "$DOCKER_CONFIG/config.json"']})
        assert job.run_job(), job.results
        prepare = job.stage("prepare")
        assert f"logged in to registry {reg.host} as alice" in prepare.stderr, prepare.report()
        if kube:
            assert "(reachable)" in prepare.stderr, prepare.report()
        for result in job.results:
            expect(result, rn.OK)
        assert not job.workspace.exists()
        assert_no_secret_printed(job)
    finally:
        runner.close()

    logs_read = read_logs(logs)
    berth_pids = {pid for pid, _, _, _ in logs_read}
    # berth's own invocations; the others are children berth forked, logged until their exec
    # (of bash), where memcheck stops following them without a summary.
    invocations = [entry for entry in logs_read if entry[1] not in berth_pids]
    children = [entry for entry in logs_read if entry[1] in berth_pids]
    assert len(invocations) == len(job.results), (
        f"{len(job.results)} berth invocations, {len(invocations)} valgrind logs of them")
    print(f"\nvalgrind on {binary}: {len(invocations)} invocations, "
          f"{len(children)} forked children (until exec)")
    bad = []
    for pid, _, command, text in invocations:
        print(f"  berth {' '.join(command.split()[1:2])}"
              f"{' ' + command.split()[-1] if ' run ' in command else ''}:")
        for line in summary_lines(text):
            print(f"    {line}")
        definite = re.search(r"definitely lost: ([\d,]+) bytes", text)
        errors = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if not errors or errors.group(1) != "0" or (definite and definite.group(1) != "0"):
            bad.append(f"{pid}: {command}\n{text}")
    for pid, _, command, text in children:
        if MEMCHECK_ERROR.search(text) or "ERROR SUMMARY: 0 errors" not in text and \
                "ERROR SUMMARY" in text:
            bad.append(f"{pid} (forked): {command}\n{text}")
    assert not bad, "memcheck found errors or definite leaks:\n" + "\n\n".join(bad)
