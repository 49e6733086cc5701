"""The kube_api fixture itself: a real kube-apiserver, checked with the real kubectl."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lib import kubeapi

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")


def kubectl(tmp_path, kubeconfig, *args):
    """Run kubectl against the kubeconfig text KUBECONFIG; return the CompletedProcess."""
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(kubeconfig)
    env = dict(os.environ, HOME=str(tmp_path))
    env.pop("KUBECONFIG", None)
    return subprocess.run([KUBECTL, "--kubeconfig", str(cfg), "--request-timeout=20s", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          timeout=60, check=False)


@needs_kubectl
def test_admin_token_version(kube_api, tmp_path):
    proc = kubectl(tmp_path, kube_api.kubeconfig(), "version", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["serverVersion"]["gitVersion"] == "v1.20.2"


@needs_kubectl
def test_client_cert_is_system_masters(kube_api, tmp_path):
    config = kube_api.kubeconfig(auth="cert")
    assert "client-certificate-data:" in config and "token:" not in config
    proc = kubectl(tmp_path, config, "get", "--raw", "/version")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["gitVersion"] == "v1.20.2"
    # More than public info: the certificate's O=system:masters may list namespaces.
    proc = kubectl(tmp_path, config, "get", "--raw", "/api/v1/namespaces")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kind"] == "NamespaceList"


@needs_kubectl
def test_bad_token_is_unauthorized(kube_api, tmp_path):
    proc = kubectl(tmp_path, kube_api.kubeconfig(auth="bad-token"), "get", "--raw", "/version")
    assert proc.returncode != 0
    assert "Unauthorized" in proc.stderr, proc.stderr


@needs_kubectl
def test_nobody_token_is_forbidden(kube_api, tmp_path):
    config = kube_api.kubeconfig(auth="nobody")
    proc = kubectl(tmp_path, config, "get", "--raw", "/api/v1/namespaces")
    assert proc.returncode != 0
    assert "Forbidden" in proc.stderr, proc.stderr
    # ...while /version is public information for any authenticated user.
    proc = kubectl(tmp_path, config, "get", "--raw", "/version")
    assert proc.returncode == 0, proc.stderr


def test_status_codes(kube_api):
    """What berth's /version check will see for each credential (see lib/kubeapi.py's docstring)."""
    assert kube_api.request("/version", auth="token")[0] == 200
    assert kube_api.request("/version", auth="cert")[0] == 200
    assert kube_api.request("/version", auth="nobody")[0] == 200
    assert kube_api.request("/version", auth="bad-token")[0] == 401
    assert kube_api.request("/version", auth=None)[0] == 401  # no anonymous access
    assert kube_api.request("/api/v1/namespaces", auth="nobody")[0] == 403


@needs_kubectl
def test_ca_options(kube_api, tmp_path):
    proc = kubectl(tmp_path, kube_api.kubeconfig(ca=False), "get", "--raw", "/version")
    assert proc.returncode != 0
    assert "x509" in proc.stderr or "certificate" in proc.stderr, proc.stderr
    proc = kubectl(tmp_path, kube_api.kubeconfig(ca="insecure"), "get", "--raw", "/version")
    assert proc.returncode == 0, proc.stderr


@needs_kubectl
def test_extra_contexts_and_closed_port(kube_api, tmp_path):
    config = kube_api.kubeconfig(context="main", extra_contexts=[
        "copy", {"name": "down", "server": kubeapi.closed_port_url()},
        {"name": "nobody", "auth": "nobody"}])
    proc = kubectl(tmp_path, config, "config", "get-contexts", "-o", "name")
    assert sorted(proc.stdout.split()) == ["copy", "down", "main", "nobody"]
    assert kubectl(tmp_path, config, "config", "current-context").stdout.strip() == "main"
    assert kubectl(tmp_path, config, "--context", "copy", "get", "--raw", "/version"
                   ).returncode == 0
    proc = kubectl(tmp_path, config, "--context", "down", "get", "--raw", "/version")
    assert proc.returncode != 0
    assert "refused" in proc.stderr, proc.stderr
    proc = kubectl(tmp_path, config, "--context", "nobody", "get", "--raw", "/api/v1/namespaces")
    assert "Forbidden" in proc.stderr, proc.stderr


def test_stop_leaves_nothing(kube_api):
    """A second server starts next to the session's; stop() ends both processes, drops the dir."""
    api = kubeapi.KubeAPI(kube_api.binary).start()
    pids, root = dict(api.pids), api.dir
    assert set(pids) == {"etcd", "kube-apiserver"}
    assert api.request("/version")[0] == 200
    api.stop()
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists(), f"{name} ({pid}) still there"
    assert not root.exists()
    assert kube_api.request("/readyz")[0] == 200  # the session's server is unaffected
