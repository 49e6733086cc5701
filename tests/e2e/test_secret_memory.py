"""No secret is left in memory berth frees: the kubeconfig, the registry password, the
Authorization headers curl built, other jobs' environments read at cleanup.

An LD_PRELOAD shim (bin/shim/free_canary.c) searches every freed block for canary strings. It
needs the release build (ASan cannot share free() with a shim): $BERTH_RELEASE_BIN, default
build/berth.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lib import runner as rn
from test_credentials import b64, registry_settings
from test_protocol import expect

REPO = Path(__file__).resolve().parents[2]
SHIM = Path(__file__).resolve().parent / "bin" / "shim" / "free_canary.c"


@pytest.fixture
def shim(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    out = tmp_path / "free_canary.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(out),
                    str(SHIM), "-ldl"], check=True)
    return out


@pytest.fixture
def release_runner(settings, tmp_path):
    binary = Path(os.environ.get("BERTH_RELEASE_BIN") or REPO / "build" / "berth")
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no release build at {binary}: run `make`")
    root = tmp_path / "release-runner"
    root.mkdir()
    r = rn.Runner(binary, root, settings=settings.path)
    yield r
    r.close()


def test_no_secret_in_freed_memory(release_runner, settings, registry_basic, kube_api, shim,
                                   tmp_path):
    reg = registry_basic
    password = "canary-pw-" + os.urandom(8).hex()
    reg.add_user("dave", password)
    registry_settings(settings, reg)
    kubeconfig = kube_api.kubeconfig(auth="token")
    canaries = [password, b64(f"dave:{password}"), kube_api.admin_token]
    canary_file = tmp_path / "canaries"
    canary_file.write_text("\n".join(canaries) + "\n")
    report = tmp_path / "report"
    job = release_runner.job(950, variables={
        "WERF_REPO": f"{reg.host}/group/app", "WERF_USERNAME": "dave",
        "WERF_PASSWORD": password, "WERF_KUBECONFIG_BASE64": b64(kubeconfig)},
        env_overrides={"LD_PRELOAD": str(shim), "CANARY_FILE": str(canary_file),
                       "CANARY_REPORT": str(report)})
    assert job.config_and_prepare(), job.results
    prepare = job.stage("prepare")
    assert "logged in to registry" in prepare.stderr and "(reachable)" in prepare.stderr
    expect(job.cleanup(), rn.OK)
    # The shim works: a process that frees a canary unwiped is reported.
    assert not report.exists(), report.read_text()
    probe = subprocess.run(["python3", "-c", "import sys; b = bytearray(sys.argv[1], 'ascii') * 64"
                            "; del b", password], env={**os.environ, "LD_PRELOAD": str(shim),
                                                       "CANARY_FILE": str(canary_file),
                                                       "CANARY_REPORT": str(report)})
    assert probe.returncode == 0
    assert report.exists() and "canary 0" in report.read_text()
