"""The kubernetes lock backend (docs/locks.md) beyond what test_locks.py runs on both backends.

Against the real API server (lib/kubeapi.py): the Lease objects themselves, whose credentials are
used and what a refusal (401, 403) is, the namespace, a berth killed while holding, the run
stage's deploy lock with the job's own kubeconfig. Through the fault-injecting proxy
(lib/kubeproxy.py): an API that hangs, one that answers 503, and a holder whose renewals start
failing, which must kill its command before anyone else may take over.
"""

import base64
import hashlib
import json
import os
import shlex
import signal
import time

import pytest

from lib import runner as rn
from lib.kubeproxy import lease_renewals
from test_locks import (LEASE, SYSTEM_FAILURE, TAKEOVER, Lab, enter_leave, event, events,
                        gate_cmd, use_kubernetes)
from test_protocol import expect

BUILD_FAILURE = 77  # BUILD_FAILURE_EXIT_CODE given to the contenders that need it


def lease_name(key):
    return "berth-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def get_lease(kube_api, namespace, name):
    status, body = kube_api.request(
        f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}")
    return json.loads(body) if status == 200 else None


def leases(kube_api, namespace):
    status, body = kube_api.request(
        f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases")
    assert status == 200, body
    return json.loads(body)["items"]


@pytest.fixture
def klab(berth_bin, settings, tmp_path, kube_api):
    root = tmp_path / "locks"
    root.mkdir()
    lab = Lab(berth_bin, settings, root, "kubernetes")
    lab.namespace = use_kubernetes(settings, kube_api, root)
    lab.api = kube_api
    yield lab
    lab.close()


def ticker(lab, ident):
    """sh -c text: "enter", then a "tick ID NS" line every 50 ms, forever."""
    f = shlex.quote(str(lab.log))
    return ["sh", "-c", f"echo enter {ident} $(date +%s%N) >> {f}; "
                        f"while :; do echo tick {ident} $(date +%s%N) >> {f}; sleep 0.05; done"]


def last_tick(lab, ident):
    ticks = [ns for kind, i, ns in events(lab.log) if kind == "tick" and i == str(ident)]
    return ticks[-1] if ticks else None


# -- the Lease objects ------------------------------------------------------------------------

def test_the_lock_is_a_lease_held_by_host_and_job(klab):
    key = "deploy/77/production"
    gate = klab.root / "gate"
    a = klab.start(key, gate_cmd(klab, "A", gate), job=1201)
    klab.wait_entered("A")
    lease = get_lease(klab.api, klab.namespace, lease_name(key))
    assert lease, f"no Lease {lease_name(key)}: {leases(klab.api, klab.namespace)}"
    spec, meta = lease["spec"], lease["metadata"]
    assert spec["holderIdentity"] == f"{os.uname().nodename}/1201", spec
    assert spec["leaseDurationSeconds"] == LEASE
    assert meta["annotations"]["berth.io/key"] == key
    assert meta["annotations"]["berth.io/pid"] == str(a.pid)
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "berth"
    first_renew = spec["renewTime"]

    def renewed():
        now = get_lease(klab.api, klab.namespace, lease_name(key))["spec"]["renewTime"]
        return now if now > first_renew else None
    # Renewed every LEASE / 3 s; the wait is only a safety net for a loaded machine.
    later = rn.wait_for(renewed, 60, interval=0.1)
    assert later, f"the holder did not renew: still {first_renew}"

    gate.touch()
    assert a.wait() == 0, a.report()
    after = get_lease(klab.api, klab.namespace, lease_name(key))
    assert not after["spec"].get("holderIdentity"), f"release left a holder: {after['spec']}"
    left = [x["metadata"]["name"] for x in leases(klab.api, klab.namespace)]
    assert left == [lease_name(key)], f"tickets left behind: {left}"


def test_namespace_is_created_when_missing(klab):
    status, _ = klab.api.request(f"/api/v1/namespaces/{klab.namespace}")
    assert status == 404
    c = klab.start("ns/created", ["true"], job=1301)
    assert c.wait() == 0, c.report()
    status, _ = klab.api.request(f"/api/v1/namespaces/{klab.namespace}")
    assert status == 200, "berth did not create its namespace"


def test_missing_namespace_not_to_be_created_is_a_clear_error(klab):
    klab.settings.write(lock_create_namespace=False)
    marker = klab.root / "ran"
    c = klab.start("ns/refused", ["touch", str(marker)], job=1302)
    assert c.wait() == SYSTEM_FAILURE, c.report()
    assert klab.namespace in c.stderr and "kubectl create namespace" in c.stderr, c.report()
    assert not marker.exists()


def test_werf_synchronization_follows_the_lock_backend(klab):
    res = klab.berth_run("config", "--show-settings")
    assert res.returncode == 0, res.stderr
    assert f'werf_synchronization: "kubernetes://{klab.namespace}"' in res.stdout, res.stdout


# -- whose credentials, and refusals ----------------------------------------------------------

@pytest.mark.parametrize("auth, status", [("nobody", 403), ("bad-token", 401)])
def test_refused_job_credentials_are_a_build_failure(klab, tmp_path, auth, status):
    """Outside a job's workspace, `berth lock` uses the user's kubeconfig ($KUBECONFIG)."""
    user = tmp_path / f"{auth}.kubeconfig"
    user.write_text(klab.api.kubeconfig(auth=auth))
    klab.settings.write(lock_kubeconfig=None)
    marker = klab.root / "ran"
    c = klab.start("rbac/job", ["touch", str(marker)], job=1401,
                   env={"KUBECONFIG": str(user), "BUILD_FAILURE_EXIT_CODE": str(BUILD_FAILURE)})
    assert c.wait() == BUILD_FAILURE, c.report()
    assert f"HTTP {status}" in c.stderr and "leases.coordination.k8s.io" in c.stderr, c.report()
    assert klab.namespace in c.stderr and str(user) in c.stderr, c.report()
    assert klab.api._token(auth) not in c.stderr  # pylint: disable=protected-access
    assert not marker.exists()


def test_refused_admin_credentials_are_a_system_failure(klab, tmp_path):
    admin = tmp_path / "nobody.kubeconfig"
    admin.write_text(klab.api.kubeconfig(auth="nobody"))
    klab.settings.write(lock_kubeconfig=str(admin))
    c = klab.start("rbac/admin", ["true"], job=1402,
                   env={"BUILD_FAILURE_EXIT_CODE": str(BUILD_FAILURE)})
    assert c.wait() == SYSTEM_FAILURE, c.report()
    assert "HTTP 403" in c.stderr, c.report()


# -- a holder that dies -----------------------------------------------------------------------

def test_killed_berth_takes_its_command_along_and_the_lease_passes(klab):
    key = "killed/berth"
    a = klab.start(key, ticker(klab, "A"), job=1501)
    klab.wait_entered("A")
    b = klab.start(key, enter_leave(klab.log, "B", body="true"), job=1502)
    klab.wait_queued(b)

    os.kill(a.pid, signal.SIGKILL)  # berth alone: its command must not run on unprotected
    killed = time.time_ns()
    entered = klab.wait_entered("B", timeout=TAKEOVER + 5)
    assert (entered - killed) / 1e9 < TAKEOVER, (
        f"B got in {(entered - killed) / 1e9:.1f}s after the holder died (lease {LEASE}s)")
    assert (entered - killed) / 1e9 >= LEASE - 1, (
        f"B got in {(entered - killed) / 1e9:.1f}s after the holder died: before its lease ran out")
    assert last_tick(klab, "A") < entered, "A's command still ran when B got in"
    assert not [p for p in a.processes() if p != a.pid], "A's command outlived berth"
    assert b.wait() == 0, b.report()


# -- faults from the proxy --------------------------------------------------------------------

def through_proxy(lab, proxy):
    config = lab.root / "proxy.kubeconfig"
    config.write_text(proxy.kubeconfig())
    lab.settings.write(lock_kubeconfig=str(config), kube_timeout=2)


def test_api_that_hangs_is_a_system_failure_in_bounded_time(klab, kube_proxy):
    through_proxy(klab, kube_proxy)
    kube_proxy.rule = lambda method, path: "hang"
    marker = klab.root / "ran"
    c = klab.start("fault/hang", ["touch", str(marker)], job=1601)
    code = c.wait(40)
    took = time.monotonic() - c.started
    assert code == SYSTEM_FAILURE, c.report()
    assert "cannot reach the Kubernetes API" in c.stderr and kube_proxy.url in c.stderr, c.report()
    assert took < 20, f"berth gave up after {took:.1f}s"
    assert not marker.exists()


def test_api_answering_503_is_a_system_failure_after_retries(klab, kube_proxy):
    through_proxy(klab, kube_proxy)
    kube_proxy.rule = lambda method, path: 503
    c = klab.start("fault/503", ["true"], job=1602)
    assert c.wait(60) == SYSTEM_FAILURE, c.report()
    assert "HTTP 503" in c.stderr and "injected by the test proxy" in c.stderr, c.report()
    assert len(kube_proxy.seen("GET")) >= 5, "berth did not try again"


def test_brief_503s_are_ridden_out(klab, kube_proxy):
    through_proxy(klab, kube_proxy)
    failures = {"left": 2}

    def flaky(method, path):
        if failures["left"] > 0:
            failures["left"] -= 1
            return 503
        return None

    kube_proxy.rule = flaky
    c = klab.start("fault/flaky", ["sh", "-c", "echo ran"], job=1603)
    assert c.wait(60) == 0, c.report()
    assert "ran" in c.stdout


@pytest.mark.parametrize("failure", ["hang", 503])
def test_holder_that_cannot_renew_kills_its_command_before_a_takeover(klab, kube_proxy,
                                                                      failure):
    key = "fault/renewals"
    proxy_config = klab.root / "proxy.kubeconfig"
    proxy_config.write_text(kube_proxy.kubeconfig())
    # A holds through the proxy; B talks to the API server directly.
    a_settings = klab.settings.write_copy(klab.root / "a.yaml", kube_timeout=2,
                                          lock_kubeconfig=str(proxy_config))
    a = klab.start(key, ticker(klab, "A"), job=1701, env={"BERTH_CONFIG": str(a_settings)})
    klab.wait_entered("A", timeout=60)
    b = klab.start(key, enter_leave(klab.log, "B", body="true"), job=1702)
    klab.wait_queued(b)

    renewals = lease_renewals(lease_name(key))
    cut = time.time_ns()
    kube_proxy.rule = lambda method, path: failure if renewals(method, path) else None
    code = a.wait(LEASE + 5)
    assert code == SYSTEM_FAILURE, a.report()
    assert "lost lock" in a.stderr and "killed the command" in a.stderr, a.report()
    entered = klab.wait_entered("B", timeout=TAKEOVER + 5)
    last = last_tick(klab, "A")
    assert last < entered, (f"A's command ticked {(last - entered) / 1e6:.0f} ms after B got in:"
                            f" two holders at once (renewals cut {(entered - cut) / 1e9:.2f}s "
                            f"before B got in)\n{a.report()}\n{b.report()}\n"
                            f"{kube_proxy.seen('PUT')}")
    assert (last - cut) / 1e9 < LEASE, "A's command ran on past its lease"
    assert b.wait() == 0, b.report()


# -- the run stage with the job's own kubeconfig ----------------------------------------------

def test_run_stage_takes_the_deploy_lock_with_the_jobs_kubeconfig(runner, settings, kube_api,
                                                                  tmp_path, scratch):
    namespace = use_kubernetes(settings, kube_api, tmp_path)
    settings.write(lock_kubeconfig=None)
    kubeconfig = base64.b64encode(kube_api.kubeconfig().encode()).decode()
    # The script holds the lock until the test, having seen the Lease, opens the gate.
    inside, gate = shlex.quote(str(scratch / "in")), shlex.quote(str(scratch / "gate"))
    job = runner.job(9301, variables={"CI_ENVIRONMENT_SLUG": "production",
                                      "WERF_KUBECONFIG_BASE64": kubeconfig},
                     masked={"WERF_KUBECONFIG_BASE64"},
                     scripts={"build_script": [f"touch {inside}",
                                               f"while [ ! -e {gate} ]; do sleep 0.01; done"]})
    try:
        assert job.config_and_prepare(), job.results
        expect(job.run("get_sources"), rn.OK)
        stage = job.start("build_script")
        assert rn.wait_for(lambda: (scratch / "in").exists(), 60)
        lease = get_lease(kube_api, namespace, lease_name("deploy/1000/production"))
        assert lease and lease["spec"].get("holderIdentity", "").endswith("/9301"), lease
        (scratch / "gate").touch()
        expect(stage.wait(), rn.OK)
        lease = get_lease(kube_api, namespace, lease_name("deploy/1000/production"))
        assert not lease["spec"].get("holderIdentity"), lease["spec"]
    finally:
        job.cleanup()
        job.remove_tmp()


def test_run_stage_without_a_kubeconfig_says_what_to_set(runner, settings, kube_api, tmp_path):
    use_kubernetes(settings, kube_api, tmp_path)
    settings.write(lock_kubeconfig=None)
    job = runner.job(9302, variables={"CI_ENVIRONMENT_SLUG": "production"})
    try:
        assert job.config_and_prepare(), job.results
        expect(job.run("get_sources"), rn.OK)
        result = job.run("build_script")
        expect(result, rn.BUILD_FAILURE)
        assert "WERF_KUBECONFIG_BASE64" in result.stderr + result.stdout, result.report()
    finally:
        job.cleanup()
        job.remove_tmp()
