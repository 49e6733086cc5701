"""The RBAC example for the kubernetes lock backend (examples/kubernetes/, docs/locks.md "RBAC").

Against the real API server with RBAC on (lib/kubeapi.py): examples/kubernetes/rbac.yaml is
applied with the real kubectl as the admin, the lock_kubeconfig is made the documented way
(lock-kubeconfig.sh: a token from the TokenRequest API; this server runs no controller-manager,
so the token Secret way cannot be shown here), and berth takes, queues for, releases and lists
locks through it. Then the Role less each of its verbs, in turn: berth must fail naming that
verb. Last, the verbs berth is seen to use (every request, through a recording proxy) must be
the Role's and the docs' exactly, so that the example cannot drift from the code.
"""

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lib import runner as rn
from test_locks import LEASE, SYSTEM_FAILURE, Lab, gate_cmd

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "kubernetes"
ACCOUNT = "berth-runner"
LEASES = "leases.coordination.k8s.io"
SCRIPT_TOOLS = ("kubectl", "sed", "mktemp", "mv", "rm")  # what lock-kubeconfig.sh runs


def role_verbs():
    """The verbs rbac.yaml's Role grants on leases, in its order."""
    docs = list(yaml.safe_load_all((EXAMPLE / "rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "Role")
    (rule,) = role["rules"]
    assert rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"], rule
    return rule["verbs"]


def docs_verbs():
    """The verbs docs/locks.md says the credentials need on leases."""
    text = (REPO / "docs" / "locks.md").read_text()
    found = re.search(r"need\s+((?:`[a-z]+`(?:,\s+|\s+and\s+)?)+)\s+on\s+`leases`", text)
    assert found, "docs/locks.md no longer says which verbs the credentials need on `leases`"
    return re.findall(r"`([a-z]+)`", found.group(1))


def rbac_verb(method, path):
    """The verb the API server checks for METHOD on PATH (Kubernetes' request info rules)."""
    named = re.search(r"/leases/[^/?]+", path) is not None
    if method == "GET":
        return "watch" if re.search(r"[?&]watch=(1|true)", path) else ("get" if named else "list")
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if named else "deletecollection"}[method]


@pytest.fixture
def executor():
    """`berth lock` outside a job runs no stage: one executor is enough."""
    return "shell"


class Cluster:
    """The example applied in a namespace of this test's own, as its README says."""

    def __init__(self, kube_api, root):
        self.api = kube_api
        self.root = root
        self.namespace = f"berth-r-{secrets.token_hex(4)}"
        self.admin = root / "admin.kubeconfig"
        self.admin.write_text(kube_api.kubeconfig())
        self.env = dict(os.environ, KUBECONFIG=str(self.admin))
        self.lock_kubeconfig = root / "lock-kubeconfig"
        self.token = None

    def kubectl(self, *args, stdin=None):
        res = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True,
                             env=self.env, timeout=60, check=False)
        assert res.returncode == 0, f"kubectl {' '.join(args)}: {res.stderr}"
        return res.stdout

    def apply(self, drop_verb=None):
        """kubectl apply rbac.yaml for this namespace, the Role less DROP_VERB; wait for it."""
        text = (EXAMPLE / "rbac.yaml").read_text().replace("berth-locks", self.namespace)
        if drop_verb:
            text = re.sub(rf'"{drop_verb}"(, )?', "", text).replace(", ]", "]")
            assert f'"{drop_verb}"' not in text
        self.kubectl("apply", "-f", "-", stdin=text)
        # The authorizer reads Roles from a cache: wait until it answers as the Role says.
        for verb in role_verbs():
            want = "no" if verb == drop_verb else "yes"
            assert rn.wait_for(lambda v=verb, w=want: self.can_i(v) == w, 30, interval=0.1), (
                f"the API server never answered {want} to {verb} after the Role changed")

    def can_i(self, verb):
        res = subprocess.run(
            ["kubectl", "auth", "can-i", verb, LEASES, "-n", self.namespace,
             f"--as=system:serviceaccount:{self.namespace}:{ACCOUNT}"],
            capture_output=True, text=True, env=self.env, timeout=60, check=False)
        return res.stdout.strip()

    def make_lock_kubeconfig(self):
        """Runs lock-kubeconfig.sh as documented, every command it runs logged with its argv."""
        shims, argv_log = self.root / "shims", self.root / "argv.log"
        shims.mkdir()
        for tool in SCRIPT_TOOLS:  # PATH holds only these: another command would fail it
            real = shutil.which(tool)
            (shims / tool).write_text(f"#!/bin/sh\nprintf '%s\\n' \"$0\" \"$@\" >> {argv_log}\n"
                                      f"exec {real} \"$@\"\n")
            (shims / tool).chmod(0o755)
        res = subprocess.run([str(EXAMPLE / "lock-kubeconfig.sh"), "-n", self.namespace,
                              "-d", "3600", str(self.lock_kubeconfig)],
                             capture_output=True, text=True, env=dict(self.env, PATH=str(shims)),
                             timeout=60, check=False)
        assert res.returncode == 0, res.stderr
        assert f"ServiceAccount {self.namespace}/{ACCOUNT}" in res.stdout, res.stdout
        assert re.search(r"token expires at \d{4}-\d\d-\d\dT", res.stdout), res.stdout
        self.token = yaml.safe_load(self.lock_kubeconfig.read_text())["users"][0]["user"]["token"]
        argv = argv_log.read_text()
        assert "create\n--raw\n" in argv, argv  # the log is real: the token request is in it
        assert self.token not in res.stdout + res.stderr + argv
        assert [p.name for p in self.root.iterdir() if p.name.startswith("lock-kubeconfig.")] == []
        return res


@pytest.fixture
def cluster(kube_api, tmp_path):
    c = Cluster(kube_api, tmp_path)
    c.apply()
    c.make_lock_kubeconfig()
    return c


@pytest.fixture
def rlab(berth_bin, settings, tmp_path, cluster):
    root = tmp_path / "locks"
    root.mkdir()
    lab = Lab(berth_bin, settings, root, "kubernetes")
    lab.namespace = cluster.namespace
    settings.write(lock_backend="kubernetes", lock_namespace=cluster.namespace,
                   lock_lease_seconds=LEASE, lock_kubeconfig=str(cluster.lock_kubeconfig),
                   lock_create_namespace=False, kube_timeout=5)
    yield lab
    lab.close()


def take_wait_release(lab, key, gate, before_gate=lambda: None):
    """A holds KEY until GATE; B queues behind it; `berth locks` shows both; both finish."""
    a = lab.start(key, gate_cmd(lab, "A", gate), job=2101)
    lab.wait_entered("A")
    b = lab.start(key, gate_cmd(lab, "B", gate), job=2102)
    lab.wait_queued(b)
    assert lab.queue(key) == ["2101", "2102"], lab.entry(key)
    before_gate()
    gate.touch()
    assert a.wait() == 0, a.report()
    lab.wait_entered("B")
    assert b.wait() == 0, b.report()
    for c in (a, b):
        assert "error" not in c.stderr and "warning" not in c.stderr, c.report()
    assert lab.entry(key) is None, lab.locks()


def test_lock_kubeconfig_is_the_service_accounts_own(cluster):
    assert os.stat(cluster.lock_kubeconfig).st_mode & 0o777 == 0o600
    config = yaml.safe_load(cluster.lock_kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"] == cluster.api.url
    assert cluster.token not in (cluster.api.admin_token, cluster.api.nobody_token)
    # The token is the ServiceAccount's: it may do what the Role says, and nothing else.
    cluster.env["KUBECONFIG"] = str(cluster.lock_kubeconfig)
    whoami = cluster.kubectl("auth", "can-i", "--list", "-n", cluster.namespace)
    assert re.search(r"^leases\.coordination\.k8s\.io\s.*\[get list watch create update delete\]",
                     whoami, re.M), whoami
    denied = subprocess.run(["kubectl", "get", "pods", "-n", cluster.namespace],
                            capture_output=True, text=True, env=cluster.env, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr, denied.stderr


def test_the_example_rbac_is_enough_for_every_lock_operation(rlab):
    take_wait_release(rlab, "rbac/enough", rlab.root / "gate")


@pytest.mark.parametrize("verb", role_verbs())
def test_a_role_without_a_verb_fails_naming_it(rlab, cluster, verb):
    key = f"rbac/without-{verb}"
    marker = rlab.root / "ran"
    if verb == "watch":  # only a waiter watches: one holds while the Role changes
        holder = rlab.start(key, gate_cmd(rlab, "A", rlab.root / "gate"), job=2201)
        rlab.wait_entered("A")
    cluster.apply(drop_verb=verb)
    c = rlab.start(key, ["touch", str(marker)], job=2202)
    assert c.wait() == SYSTEM_FAILURE, c.report()  # the admin's lock_kubeconfig: not the job's
    assert (f"may not {verb} {LEASES} in namespace '{cluster.namespace}'" in c.stderr
            and f"grant the verb '{verb}' on {LEASES}" in c.stderr
            and "examples/kubernetes/rbac.yaml" in c.stderr), c.report()
    assert str(cluster.lock_kubeconfig) in c.stderr, c.report()
    assert cluster.token not in c.stderr + c.stdout
    # Only a missing update is found after the command ran: on releasing the lock.
    assert marker.exists() == (verb == "update"), c.report()
    if verb == "watch":
        (rlab.root / "gate").touch()
        assert holder.wait() == 0, holder.report()


def test_a_token_no_longer_valid_says_to_renew_it(rlab, cluster):
    cluster.kubectl("delete", "serviceaccount", ACCOUNT, "-n", cluster.namespace)

    def unauthorized():  # the server forgets the token once its ServiceAccount is gone
        res = subprocess.run(["kubectl", "--kubeconfig", str(cluster.lock_kubeconfig), "get",
                              "leases", "-n", cluster.namespace], capture_output=True, text=True,
                             timeout=60, check=False)
        return "Unauthorized" in res.stderr
    assert rn.wait_for(unauthorized, 30, interval=0.1), "the token still works"
    marker = rlab.root / "ran"
    c = rlab.start("rbac/stale-token", ["touch", str(marker)], job=2301)
    assert c.wait() == SYSTEM_FAILURE, c.report()
    assert (f"did not accept the credentials of kubeconfig '{cluster.lock_kubeconfig}' "
            "(HTTP 401" in c.stderr and "wrong or has expired; renew it" in c.stderr), c.report()
    assert cluster.token not in c.stderr + c.stdout
    assert not marker.exists()


def test_the_verbs_berth_uses_are_the_roles_and_the_docs(rlab, cluster, kube_proxy):
    """Every request of a take, a wait, a release and a listing, seen by a recording proxy."""
    config = yaml.safe_load(cluster.lock_kubeconfig.read_text())
    cluster_entry = config["clusters"][0]["cluster"]
    cluster_entry["server"] = kube_proxy.url  # plain HTTP to the proxy, TLS beyond it
    del cluster_entry["certificate-authority-data"]
    proxied = rlab.root / "proxied-kubeconfig"
    proxied.write_text(yaml.safe_dump(config))
    rlab.settings.write(lock_kubeconfig=str(proxied))

    def watched():
        assert rn.wait_for(lambda: kube_proxy.seen("GET", "watch=1"), 30, interval=0.05), (
            "the waiter never watched")
    take_wait_release(rlab, "rbac/verbs", rlab.root / "gate", before_gate=watched)

    requests = kube_proxy.seen()
    prefix = f"/apis/coordination.k8s.io/v1/namespaces/{cluster.namespace}/leases"
    assert all(path.startswith(prefix) for _, path, _ in requests), requests
    used = {rbac_verb(method, path) for method, path, _ in requests}
    assert sorted(used) == sorted(role_verbs()), (used, requests)
    assert sorted(docs_verbs()) == sorted(role_verbs())
