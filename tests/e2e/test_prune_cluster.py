"""`berth prune --cluster`: never delete an image a Kubernetes cluster references (docs/prune.md,
Policies).

Against the real API server (lib/kubeapi.py, v1.20.2: CronJobs are batch/v1beta1 there) and a real
registry (lib/registry.py): tags referenced by a Pod, a Deployment, a CronJob, a ReplicaSet (by
digest), a StatefulSet's init container and a Pod's status (imageID) are kept with the object
named in the report; a Pod beyond the first page of 500 proves that prune follows `continue`;
an unreferenced tag is deleted. A cluster that refuses or does not answer stops prune before it
deletes anything.

The tests skip while `berth prune` does not exist (runner/cmd/prune.c).
"""

import concurrent.futures
import json
import os
import secrets
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from lib.kubeapi import closed_port_url
from lib.registry import list_tags, push_image, write_docker_config

BUILD_FAILURE = 77
SYSTEM_FAILURE = 78
BULK_PODS = 520  # more than one page: prune lists with limit=500
BULK_IMAGE = "busybox:1.36"
REPO = "group/app"
TAGS = ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"]
UNUSED = "t6"


@pytest.fixture(scope="session")
def prune_bin(berth_bin, tmp_path_factory):
    """berth, when it has the prune command (asked before any server starts)."""
    home = tmp_path_factory.mktemp("probe")
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "BERTH_CONFIG")}
    env.update(DOCKER_CONFIG=str(home), HOME=str(home))
    probe = subprocess.run([str(berth_bin), "prune"], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, env=env, timeout=60, check=False)
    if "unknown command" in probe.stderr:
        pytest.skip("berth has no prune command yet (runner/cmd/prune.c)")
    return berth_bin


class Kube:
    """The API server's REST API with the admin token; records what to delete at the end."""

    def __init__(self, api):
        self.api = api
        self.context = ssl.create_default_context(cafile=str(api.dir / "ca.crt"))
        self.namespaces = []

    def call(self, method, path, obj=None, content_type="application/json"):
        """(status, parsed JSON or text)."""
        data = None if obj is None else json.dumps(obj).encode()
        req = urllib.request.Request(self.api.url + path, data=data, method=method, headers={
            "Authorization": "Bearer " + self.api.admin_token, "Accept": "application/json",
            "Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=60) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def create(self, path, obj):
        status, body = self.call("POST", path, obj)
        assert status == 201, f"POST {path}: HTTP {status}: {body}"
        return body

    def namespace(self, name):
        self.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": name}})
        self.namespaces.append(name)
        return name

    def served(self, group_version, plural):
        status, body = self.call("GET", f"/apis/{group_version}")
        return status == 200 and any(r["name"] == plural for r in body["resources"])

    def cleanup(self):
        """Delete every object made here: with no controllers, a namespace's deletion would
        never remove them (the namespace itself stays Terminating, empty)."""
        lists = ["/api/v1/namespaces/{}/pods", "/apis/apps/v1/namespaces/{}/deployments",
                 "/apis/apps/v1/namespaces/{}/replicasets",
                 "/apis/apps/v1/namespaces/{}/statefulsets",
                 "/apis/batch/v1/namespaces/{}/jobs",
                 "/apis/batch/v1beta1/namespaces/{}/cronjobs",
                 "/apis/batch/v1/namespaces/{}/cronjobs"]
        for ns in self.namespaces:
            for path in lists:
                self.call("DELETE", path.format(ns))
            self.call("DELETE", f"/api/v1/namespaces/{ns}")


@pytest.fixture
def kube(kube_api):
    k = Kube(kube_api)
    yield k
    k.cleanup()


def pod_spec(image, init=None, restart=None):
    spec = {"containers": [{"name": "main", "image": image}]}
    if init:
        spec["initContainers"] = [{"name": "init", "image": init}]
    if restart:
        spec["restartPolicy"] = restart
    return spec


def pod(name, image, init=None):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": pod_spec(image, init)}


def workload(kind, name, image, init=None):
    """A Deployment, ReplicaSet or StatefulSet (apps/v1) running IMAGE."""
    spec = {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": pod_spec(image, init)}}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def cronjob(version, name, image):
    template = {"spec": pod_spec(image, restart="Never")}
    return {"apiVersion": version, "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}}


def create_cronjob(kube, ns, name, image):
    """batch/v1 where the server has it (1.21+), else batch/v1beta1 (this 1.20 server)."""
    version = "batch/v1" if kube.served("batch/v1", "cronjobs") else "batch/v1beta1"
    kube.create(f"/apis/{version}/namespaces/{ns}/cronjobs", cronjob(version, name, image))
    return version


def set_image_id(kube, ns, name, image, image_id):
    """Pod status as a kubelet reports it: the digest the container runs."""
    status = {"status": {"containerStatuses": [{
        "name": "main", "ready": True, "restartCount": 0, "image": image, "imageID": image_id,
        "state": {"running": {"startedAt": "2026-01-02T15:04:05Z"}}}]}}
    code, body = kube.call("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", status,
                           "application/merge-patch+json")
    assert code == 200, f"pod status: HTTP {code}: {body}"


def create_bulk_pods(kube, ns, count):
    """COUNT Pods of an unrelated image, in parallel (one at a time takes ~10 s for 500)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(kube.create, f"/api/v1/namespaces/{ns}/pods",
                               pod(f"bulk-{i:04d}", BULK_IMAGE)) for i in range(count)]
        for f in futures:
            f.result()


def push_tags(registry, tags):
    """Each tag its own manifest (deleting one digest deletes one tag): tag -> digest."""
    user = "alice"
    return {t: push_image(registry, REPO, t, user, registry.users[user]) for t in tags}


class Prune:
    """berth prune for one test: its settings, docker config and the kubeconfig files."""

    def __init__(self, berth, registry, root):
        self.berth, self.registry, self.root = berth, registry, root
        self.config = root / "docker"
        write_docker_config(self.config, {registry.host: ("alice", registry.users["alice"])})
        self.settings = root / "berth.yaml"
        self.settings.write_text(
            f'state_dir: "{root / "state"}"\nbuilds_dir: "{root / "builds"}"\n'
            f'cache_dir: "{root / "cache"}"\n'
            f'registries: [{{"host": "{registry.host}", "plain_http": true}}]\n')
        self.report = root / "report.json"

    def kubeconfig(self, text, name="kubeconfig"):
        path = self.root / name
        path.write_text(text)
        path.chmod(0o600)
        return path

    def run(self, *args, timeout=300):
        env = {k: v for k, v in os.environ.items()
               if k not in ("KUBECONFIG", "BERTH_CONFIG", "CRAAS_TOKEN")}
        env.update(DOCKER_CONFIG=str(self.config), HOME=str(self.root),
                   BUILD_FAILURE_EXIT_CODE=str(BUILD_FAILURE),
                   SYSTEM_FAILURE_EXIT_CODE=str(SYSTEM_FAILURE))
        if self.report.exists():
            self.report.unlink()
        cmd = [str(self.berth), "--config", str(self.settings), "prune", "--report",
               str(self.report), *args, f"{self.registry.host}/{REPO}"]
        return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              env=env, timeout=timeout, check=False)

    def tags(self):
        """The report's tags of REPO: tag -> entry."""
        report = json.loads(self.report.read_text())
        repos = [r for r in report["repositories"]
                 if r["repository"] == f"{self.registry.host}/{REPO}"]
        assert len(repos) == 1, report
        return {t["tag"]: t for t in repos[0]["tags"]}


def show(res):
    return f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"


def cluster_reason(entry):
    return [r for r in entry["reasons"] if "in the cluster: " in r]


def test_tags_the_cluster_references_are_kept(prune_bin, registry_basic, kube, kube_proxy,
                                              tmp_path):
    digests = push_tags(registry_basic, TAGS)
    image = f"{registry_basic.host}/{REPO}"
    p = "prune-" + secrets.token_hex(3)
    # Pods are listed in namespace/name order: BULK_PODS Pods in "-m" put "-z" on page two.
    ns_a, ns_b, ns_c, ns_d, ns_m, ns_z = (kube.namespace(f"{p}-{x}") for x in "abcdmz")

    kube.create(f"/api/v1/namespaces/{ns_a}/pods", pod("web", f"{image}:t1"))
    set_image_id(kube, ns_a, "web", f"{image}:t1",
                 f"docker-pullable://{image}@{digests['t8']}")
    kube.create(f"/apis/apps/v1/namespaces/{ns_b}/deployments",
                workload("Deployment", "api", f"{image}:t2"))
    create_cronjob(kube, ns_c, "nightly", f"{image}:t3")
    kube.create(f"/apis/apps/v1/namespaces/{ns_d}/replicasets",
                workload("ReplicaSet", "pinned", f"{image}@{digests['t4']}"))
    kube.create(f"/apis/apps/v1/namespaces/{ns_d}/statefulsets",
                workload("StatefulSet", "db", BULK_IMAGE, init=f"{image}:t7"))
    create_bulk_pods(kube, ns_m, BULK_PODS)
    kube.create(f"/api/v1/namespaces/{ns_z}/pods", pod("late", f"{image}:t5"))
    expected = {"t1": f"{ns_a}/Pod/web", "t2": f"{ns_b}/Deployment/api",
                "t3": f"{ns_c}/CronJob/nightly", "t4": f"{ns_d}/ReplicaSet/pinned",
                "t5": f"{ns_z}/Pod/late", "t7": f"{ns_d}/StatefulSet/db",
                "t8": f"{ns_a}/Pod/web"}

    # The dry run goes through the proxy, which records the requests; the real run below
    # talks TLS to the server itself.
    prune = Prune(prune_bin, registry_basic, tmp_path)
    res = prune.run("--dry-run", "--cluster", str(prune.kubeconfig(kube_proxy.kubeconfig())),
                    "--keep-tag", "^never$")
    assert res.returncode == 0, show(res)
    pages = kube_proxy.seen("GET", "/api/v1/pods?")
    assert len(pages) >= 2 and "limit=500" in pages[0][1], pages
    assert any("continue=" in path for _, path, _ in pages[1:]), pages
    if not kube.served("batch/v1", "cronjobs"):
        assert kube_proxy.seen("GET", "/apis/batch/v1beta1/cronjobs?"), kube_proxy.requests
    tags = prune.tags()
    assert sorted(tags) == TAGS, tags
    for tag, where in expected.items():
        entry = tags[tag]
        assert entry["decision"] == "keep", (tag, entry, res.stderr)
        assert entry["digest"] == digests[tag], (tag, entry)
        assert any(f"in the cluster: {where}" in r for r in entry["reasons"]), (tag, entry)
    unused = tags[UNUSED]
    assert unused["decision"] == "delete", unused
    assert not cluster_reason(unused), unused
    assert list_tags(registry_basic, REPO, "alice", registry_basic.users["alice"]) == TAGS

    # For real: the one tag nothing references goes, and nothing else.
    admin = prune.kubeconfig(kube.api.kubeconfig(), "admin.kubeconfig")
    res = prune.run("--cluster", str(admin), "--keep-tag", "^never$")
    assert res.returncode == 0, show(res)
    assert prune.tags()[UNUSED]["result"] == "deleted", prune.tags()[UNUSED]
    left = list_tags(registry_basic, REPO, "alice", registry_basic.users["alice"])
    assert left == [t for t in TAGS if t != UNUSED], show(res)


@pytest.mark.parametrize("auth, status", [("nobody", 403), ("bad-token", 401)])
def test_a_cluster_that_refuses_stops_prune(prune_bin, registry_basic, kube, tmp_path, auth,
                                            status):
    push_tags(registry_basic, ["a1", "a2"])
    prune = Prune(prune_bin, registry_basic, tmp_path)
    config = prune.kubeconfig(kube.api.kubeconfig(auth=auth))
    res = prune.run("--cluster", str(config), "--keep-tag", "^never$")
    assert res.returncode == BUILD_FAILURE, show(res)
    assert f"HTTP {status}" in res.stderr, show(res)
    assert "list on pods" in res.stderr and "in all namespaces" in res.stderr, show(res)
    assert list_tags(registry_basic, REPO, "alice", registry_basic.users["alice"]) == \
        ["a1", "a2"]


def test_a_cluster_that_does_not_answer_stops_prune(prune_bin, registry_basic, kube, tmp_path):
    push_tags(registry_basic, ["b1", "b2"])
    prune = Prune(prune_bin, registry_basic, tmp_path)
    config = prune.kubeconfig(kube.api.kubeconfig().replace(kube.api.url, closed_port_url()))
    res = prune.run("--cluster", str(config), "--keep-tag", "^never$")
    assert res.returncode == SYSTEM_FAILURE, show(res)
    assert "no answer from the Kubernetes API" in res.stderr, show(res)
    assert list_tags(registry_basic, REPO, "alice", registry_basic.users["alice"]) == \
        ["b1", "b2"]


def test_a_failing_cluster_stops_prune(prune_bin, registry_basic, kube_proxy, tmp_path):
    push_tags(registry_basic, ["c1", "c2"])
    kube_proxy.rule = lambda method, path: 503 if "/deployments" in path else None
    prune = Prune(prune_bin, registry_basic, tmp_path)
    res = prune.run("--cluster", str(prune.kubeconfig(kube_proxy.kubeconfig())), "--keep-tag",
                    "^never$")
    assert res.returncode == SYSTEM_FAILURE, show(res)
    assert "deployments" in res.stderr and "HTTP 503" in res.stderr, show(res)
    assert len(kube_proxy.seen("GET", "/apis/apps/v1/deployments")) >= 2, "no retry"
    assert list_tags(registry_basic, REPO, "alice", registry_basic.users["alice"]) == \
        ["c1", "c2"]
