"""Credentials end to end: the job's registry logins and kubeconfig (docs/credentials.md).

Real servers from PEERS.md: docker-registry with htpasswd, TLS with a private CA and token
auth; nginx answering 429 with Retry-After; skopeo as the reference client; a real
kube-apiserver. Every test asserts exit codes, messages, files and what the servers saw.
"""

import base64
import gzip
import json
import os
import secrets
import stat
import threading

import pytest

from lib import runner as rn
from lib.registry import push_image, skopeo_list_tags
from test_protocol import ODD_CODES, assert_no_secret_printed, expect, files_under, mode

REPO = "group/app"


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def registry_settings(settings, reg, **extra):
    """Declare REG's TLS options in berth's settings (plain HTTP, or its private CA)."""
    entry = {"host": reg.host}
    if reg.tls:
        entry["ca_file"] = str(reg.ca_file)
    else:
        entry["plain_http"] = True
    entry.update(extra)
    settings.write(registries=[entry])


def canary_user(settings, reg, user="carol"):
    """USER with a canary password on REG, declared in the settings, no cluster check:
    (password, a canary kube token)."""
    password = "canary-pw-" + secrets.token_hex(12)
    reg.add_user(user, password)
    registry_settings(settings, reg)
    settings.write(kube_preflight=False)
    return password, "canary-kube-" + secrets.token_hex(12)


def werf_job(runner, job_id, reg, user="alice", password=None, **kw):
    variables = {"WERF_REPO": f"{reg.host}/{REPO}", "WERF_USERNAME": user,
                 "WERF_PASSWORD": reg.users[user] if password is None else password}
    variables.update(kw.pop("variables", {}))
    return runner.job(job_id, variables=variables, **kw)


def docker_auths(job):
    path = job.workspace / "docker" / "config.json"
    return json.loads(path.read_text())["auths"]


def stage_text(result):
    return result.stdout + result.stderr


# -- registry logins --------------------------------------------------------------------------

def test_login_basic_auth_and_skopeo_uses_the_config(runner, settings, registry_basic):
    reg = registry_basic
    push_image(reg, REPO, "v1", "alice", reg.users["alice"])
    registry_settings(settings, reg)
    job = werf_job(runner, 801, reg, scripts={"build_script": [
        'test "$DOCKER_CONFIG" = "$BERTH_JOB_DIR/docker"',
        'test "$WERF_DOCKER_CONFIG" = "$DOCKER_CONFIG"',
        'test -f "$DOCKER_CONFIG/config.json"']})
    assert job.config_and_prepare(), job.results
    prepare = job.stage("prepare")
    assert f"logged in to registry {reg.host} as alice" in prepare.stderr

    docker_dir = job.workspace / "docker"
    assert mode(docker_dir) == 0o700
    assert mode(docker_dir / "config.json") == 0o600
    assert docker_auths(job) == {reg.host: {"auth": b64(f"alice:{reg.users['alice']}")}}
    assert skopeo_list_tags(reg, REPO, docker_dir) == (0, ["v1"])

    assert job.run_stages(), job.results
    expect(job.cleanup(), rn.OK)
    assert not job.workspace.exists()
    assert_no_secret_printed(job)


def test_wrong_password_is_a_build_failure_without_the_password(runner, settings,
                                                                registry_basic):
    reg = registry_basic
    registry_settings(settings, reg)
    wrong = "wrong-" + secrets.token_hex(8)
    job = werf_job(runner, 802, reg, password=wrong, masked=("WERF_PASSWORD",), **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert f"registry {reg.host} rejected the credentials for alice" in prepare.stderr
    assert "check WERF_USERNAME and WERF_PASSWORD" in prepare.stderr
    for result in job.results:
        assert wrong not in stage_text(result)
    assert all(r.ok for r in job.stages("cleanup"))


def test_registry_down_is_a_system_failure(runner, settings, registry_basic):
    reg = registry_basic
    registry_settings(settings, reg)
    reg.stop()
    job = werf_job(runner, 803, reg, **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.SYSTEM_FAILURE, 78)
    assert f"cannot reach registry {reg.host}" in prepare.stderr
    # The runner retried config+prepare three times, with a cleanup after each.
    assert len(job.stages("prepare")) == 3
    assert all(r.ok for r in job.stages("cleanup"))


def test_tls_registry_with_private_ca(runner, settings, registry_tls):
    reg = registry_tls
    push_image(reg, REPO, "v2", "alice", reg.users["alice"])
    registry_settings(settings, reg)
    job = werf_job(runner, 804, reg)
    assert job.config_and_prepare(), job.results
    assert skopeo_list_tags(reg, REPO, job.workspace / "docker") == (0, ["v2"])
    expect(job.cleanup(), rn.OK)


def test_tls_registry_without_its_ca_is_a_system_failure(runner, settings, registry_tls):
    # The CA for a registry is the admin's setting: a mismatch is the runner's to fix.
    reg = registry_tls
    settings.write(registries=[{"host": reg.host}])
    job = werf_job(runner, 805, reg, **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.SYSTEM_FAILURE, 78)
    assert f"registry {reg.host}: TLS failed" in prepare.stderr
    assert "ca_file" in prepare.stderr


@pytest.mark.parametrize("fields", [("token", "access_token"), ("access_token",), ("token",)])
def test_token_auth(runner, settings, registry_token, fields):
    reg = registry_token
    reg.token_server.token_fields = fields
    push_image(reg, REPO, "v3", "alice", reg.users["alice"])
    registry_settings(settings, reg)
    before = len(reg.token_requests)
    job = werf_job(runner, 806, reg)
    assert job.config_and_prepare(), job.results
    asked = reg.token_requests[before:]
    assert asked and asked[-1]["account"] == "alice" and asked[-1]["user"] == "alice"
    assert asked[-1]["status"] == 200
    assert skopeo_list_tags(reg, REPO, job.workspace / "docker") == (0, ["v3"])
    expect(job.cleanup(), rn.OK)


def test_token_auth_wrong_password(runner, settings, registry_token):
    reg = registry_token
    registry_settings(settings, reg)
    job = werf_job(runner, 807, reg, password="nope-" + secrets.token_hex(4), **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert "rejected the credentials for alice" in prepare.stderr
    assert reg.token_requests[-1]["status"] == 401


def test_429_with_retry_after_then_success(runner, settings, registry_limited):
    lim = registry_limited
    registry_settings(settings, lim)
    lim.arm(1, path="/v2/")
    job = werf_job(runner, 808, lim)
    assert job.config_and_prepare(), job.results
    prepare = job.stage("prepare")
    assert "answered HTTP 429: waiting 1s" in prepare.stderr
    assert prepare.duration >= 1.0
    assert lim.refused == 1
    assert docker_auths(job)[lim.host]["auth"] == b64(f"alice:{lim.users['alice']}")
    expect(job.cleanup(), rn.OK)


def test_429_beyond_the_wait_budget_is_a_system_failure(runner, settings, registry_limited):
    lim = registry_limited
    registry_settings(settings, lim)
    settings.write(registry_max_wait=2)
    lim.arm(100, path="/v2/")
    job = werf_job(runner, 809, lim, **ODD_CODES)
    result = job.config()
    expect(result, rn.OK)
    result = job.prepare()
    expect(result, rn.SYSTEM_FAILURE, 78)
    assert "still busy (HTTP 429)" in result.stderr
    assert 2 <= lim.refused <= 4
    expect(job.cleanup(), rn.OK)


def test_logout_and_login_inside_the_job(runner, settings, registry_basic):
    reg = registry_basic
    registry_settings(settings, reg)
    # The test's registry listens on 127.0.0.1, which bwrap's private network keeps out.
    settings.write(bwrap_network="host")
    berth = runner.berth
    job = werf_job(runner, 810, reg, scripts={
        "build_script": [f'"{berth}" logout {reg.host}',
                         f'"{berth}" login',
                         'grep -c \'"auth"\' "$DOCKER_CONFIG/config.json"']})
    assert job.config_and_prepare(), job.results
    expect(job.run("get_sources"), rn.OK)
    result = job.run("build_script")
    expect(result, rn.OK)
    assert f"logged out of {reg.host}" in result.stderr
    assert f"logged in to registry {reg.host} as alice" in result.stderr
    assert docker_auths(job) == {reg.host: {"auth": b64(f"alice:{reg.users['alice']}")}}
    # After logout the entry is gone from the job's own config, as later scripts see it.
    job.run("after_script", commands=[f'"{berth}" logout'])
    assert docker_auths(job) == {}
    expect(job.cleanup(), rn.OK)


def test_two_concurrent_jobs_keep_their_own_credentials(runner, settings, registry_basic):
    reg = registry_basic
    push_image(reg, REPO, "v1", "alice", reg.users["alice"])
    registry_settings(settings, reg)
    jobs = [werf_job(runner, 811, reg, user="alice", concurrent_id=0),
            werf_job(runner, 812, reg, user="bob", concurrent_id=1, concurrent_project_id=1)]
    threads = [threading.Thread(target=j.config_and_prepare) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for job, user in zip(jobs, ("alice", "bob")):
        assert job.stage("prepare").ok, job.results
        assert docker_auths(job) == {reg.host: {"auth": b64(f"{user}:{reg.users[user]}")}}
        assert skopeo_list_tags(reg, REPO, job.workspace / "docker") == (0, ["v1"])
    expect(jobs[0].cleanup(), rn.OK)
    assert docker_auths(jobs[1])[reg.host]["auth"] == b64(f"bob:{reg.users['bob']}")
    expect(jobs[1].cleanup(), rn.OK)


def test_ci_registry_credentials_are_used(runner, settings, registry_basic):
    reg = registry_basic
    registry_settings(settings, reg)
    job = runner.job(813, variables={"CI_REGISTRY": reg.host, "CI_REGISTRY_USER": "bob",
                                     "CI_REGISTRY_PASSWORD": reg.users["bob"]})
    assert job.config_and_prepare(), job.results
    assert docker_auths(job) == {reg.host: {"auth": b64(f"bob:{reg.users['bob']}")}}
    expect(job.cleanup(), rn.OK)


def test_declared_registry_variables(runner, settings, registry_basic):
    reg = registry_basic
    registry_settings(settings, reg, username_variable="INTERNAL_USER",
                      password_variable="INTERNAL_PASS")
    job = runner.job(814, variables={"INTERNAL_USER": "alice",
                                     "INTERNAL_PASS": reg.users["alice"]})
    assert job.config_and_prepare(), job.results
    assert list(docker_auths(job)) == [reg.host]
    expect(job.cleanup(), rn.OK)


@pytest.mark.parametrize("repo, fragment", [
    ("cr.selcloud.ru/myreg", "puts images at the root of CRaaS registry 'myreg'"),
    ("Registry.Example.com/App", "path components must be lowercase"),
    ("app", "must start with the registry host"),
    ("registry.example.com/group/app:v1", "names an image, not a repository"),
])
def test_bad_werf_repo_is_a_build_failure(runner, repo, fragment):
    job = runner.job(815, variables={"WERF_REPO": repo, "WERF_USERNAME": "token",
                                     "WERF_PASSWORD": "x"}, **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert fragment in prepare.stderr


def test_werf_repo_without_credentials_says_what_to_set(runner):
    job = runner.job(816, variables={"WERF_REPO": "cr.selcloud.ru/myreg/group/app"},
                     **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert "set WERF_USERNAME and WERF_PASSWORD" in prepare.stderr


def test_runner_docker_config_is_not_used(runner, settings, registry_basic, tmp_path):
    # The runner user's ~/.docker has a credsStore: a job must never inherit it.
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text('{"credsStore": "desktop"}')
    reg = registry_basic
    registry_settings(settings, reg)
    job = werf_job(runner, 817, reg, env_overrides={"HOME": str(home)})
    assert job.config_and_prepare(), job.results
    config = json.loads((job.workspace / "docker" / "config.json").read_text())
    assert "credsStore" not in config
    expect(job.cleanup(), rn.OK)


# -- the kubeconfig ---------------------------------------------------------------------------

def kube_job(runner, job_id, text, variable="WERF_KUBECONFIG_BASE64", **kw):
    variables = {variable: b64(text)}
    variables.update(kw.pop("variables", {}))
    return runner.job(job_id, variables=variables, **kw)


def test_kubeconfig_with_token_reaches_the_cluster(runner, settings, kube_api):
    # The test's cluster listens on 127.0.0.1, which bwrap's private network keeps out.
    settings.write(bwrap_network="host")
    job = kube_job(runner, 901, kube_api.kubeconfig(auth="token"), scripts={"build_script": [
        'test "$KUBECONFIG" = "$BERTH_JOB_DIR/kube/config"',
        'test "$WERF_KUBE_CONFIG" = "$KUBECONFIG"',
        'kubectl get --raw /version > version.json']})
    assert job.config_and_prepare(), job.results
    prepare = job.stage("prepare")
    assert f"cluster 'test' at {kube_api.url} (reachable)" in prepare.stderr
    kubeconfig = job.workspace / "kube" / "config"
    assert mode(kubeconfig) == 0o600 and mode(kubeconfig.parent) == 0o700
    view = rn.subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "config", "view",
                              "-o", "json"], capture_output=True, text=True, timeout=30)
    assert view.returncode == 0, view.stderr
    assert json.loads(view.stdout)["current-context"] == "test"
    assert job.run_stages(), job.results
    version = json.loads((job.build_dir / "version.json").read_text())
    assert version["gitVersion"] == "v1.20.2"
    expect(job.cleanup(), rn.OK)
    assert not kubeconfig.exists()
    assert_no_secret_printed(job)


def test_kubeconfig_with_client_certificate(runner, kube_api):
    job = kube_job(runner, 902, kube_api.kubeconfig(auth="cert"))
    assert job.config_and_prepare(), job.results
    assert "(reachable)" in job.stage("prepare").stderr
    expect(job.cleanup(), rn.OK)


def test_gzipped_kubeconfig_and_werf_kube_context(runner, kube_api):
    text = kube_api.kubeconfig(auth="bad-token", context="broken",
                               extra_contexts=[{"name": "good", "auth": "token"}])
    job = runner.job(903, variables={"WERF_KUBECONFIG_BASE64": b64(gzip.compress(text.encode())),
                                     "WERF_KUBE_CONTEXT": "good"})
    assert job.config_and_prepare(), job.results
    assert "context 'good'" in job.stage("prepare").stderr
    # What is written is the inflated file, as kubectl and werf read it.
    assert (job.workspace / "kube" / "config").read_text() == text
    expect(job.cleanup(), rn.OK)


def test_rejected_token_is_a_build_failure(runner, kube_api):
    job = kube_job(runner, 904, kube_api.kubeconfig(auth="bad-token"), **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert f"cluster 'test' at {kube_api.url} rejected the kubeconfig's credentials (HTTP 401)" \
        in prepare.stderr
    assert kube_api.kubeconfig(auth="bad-token").split("token: ")[1].split()[0] \
        not in prepare.stderr


def test_unreachable_cluster_is_a_system_failure(runner, kube_api):
    from lib.kubeapi import closed_port_url
    text = kube_api.kubeconfig(context="gone", extra_contexts=[
        {"name": "other", "server": kube_api.url}])
    text = text.replace(kube_api.url, closed_port_url(), 1)
    job = kube_job(runner, 905, text, **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.SYSTEM_FAILURE, 78)
    assert "cannot reach cluster 'gone'" in prepare.stderr


# The kubeconfig's certificates are the job's input: when TLS fails on them, the job must fix
# them, and retrying the job cannot help.
def test_untrusted_server_certificate_is_a_build_failure(runner, kube_api):
    job = kube_job(runner, 906, kube_api.kubeconfig(ca=False), **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert "TLS failed with the kubeconfig's own certificates" in prepare.stderr
    assert len(job.stages("prepare")) == 1  # a build failure is not retried


def test_unusable_client_key_is_a_build_failure(runner, kube_api):
    text = kube_api.kubeconfig(auth="cert")
    key = b64(kube_api.client_key_pem)
    assert key in text
    job = kube_job(runner, 907, text.replace(key, b64("not a key")), **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert "client-key-data" in prepare.stderr


def test_key_file_on_the_runner_is_not_checked_online(runner, settings):
    settings.write(kube_preflight=True)
    text = GOOD.replace("    token: TOKEN", "    client-key: /etc/berth/job.key")
    job = kube_job(runner, 908, text)
    assert job.config_and_prepare(), job.results
    assert "it refers to files on the runner host" in job.stage("prepare").stderr
    expect(job.cleanup(), rn.OK)


GOOD = """apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:1
users:
- name: u1
  user:
    token: TOKEN
contexts:
- name: ctx
  context: {cluster: c1, user: u1}
current-context: ctx
"""


# A kubeconfig whose base64 needs padding: its length is not a multiple of 3.
PADDED = GOOD if len(GOOD) % 3 else GOOD + "#\n"


def _bomb():
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


BAD_KUBECONFIGS = [
    ("bad-base64", "!!not base64!!", "is not valid base64"),
    ("missing-padding", b64(PADDED).rstrip("="), "missing '=' padding"),
    ("truncated-gzip", gzip.compress(GOOD.encode())[:40], "truncated or corrupt gzip"),
    ("not-yaml", "apiVersion: v1\nkind: [Config\n", "invalid YAML"),
    ("alias-bomb", _bomb(), "anchors and aliases are not allowed"),
    ("missing-context", GOOD.replace("current-context: ctx", "current-context: nope"),
     "current-context names no context"),
    ("dangling-user", GOOD.replace("user: u1}", "user: nobody}"),
     "contexts[0].context.user names no user"),
    ("dangling-cluster", GOOD.replace("{cluster: c1,", "{cluster: c9,"),
     "contexts[0].context.cluster names no cluster"),
    ("wrong-kind", GOOD.replace("kind: Config", "kind: Pod"), "kind must be Config"),
    ("ftp-server", GOOD.replace("https://127.0.0.1:1", "ftp://x"), "must start with https://"),
    ("bad-data", GOOD.replace("    token: TOKEN", "    token: TOKEN\n    client-key-data: '%%'"),
     "client-key-data is not valid base64"),
    ("over-the-cap", GOOD + "#" + "x" * 2000 + "\n", "larger than kubeconfig_max_bytes (1024)"),
]


@pytest.mark.parametrize("name, payload, message", BAD_KUBECONFIGS,
                         ids=[c[0] for c in BAD_KUBECONFIGS])
def test_bad_kubeconfig_is_a_build_failure(runner, settings, name, payload, message):
    settings.write(kubeconfig_max_bytes=1024, kube_preflight=False)
    canary = "canary-" + secrets.token_hex(8)
    if isinstance(payload, str):
        payload = payload.replace("TOKEN", canary)
        encoded = payload if name == "bad-base64" or name == "missing-padding" else b64(payload)
    else:
        encoded = b64(payload)
    job = runner.job(907, variables={"WERF_KUBECONFIG_BASE64": encoded}, **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert "WERF_KUBECONFIG_BASE64" in prepare.stderr
    if message:
        assert message in prepare.stderr, prepare.report()
    assert canary not in stage_text(prepare)
    assert all(r.ok for r in job.stages("cleanup"))


def test_no_kubeconfig_is_fine_unless_required(runner, settings):
    # No kubeconfig: KUBECONFIG still names the workspace's (absent) file, so kubectl cannot
    # fall back to the runner's ~/.kube/config.
    job = runner.job(908, scripts={"build_script": [
        'test "$KUBECONFIG" = "$BERTH_JOB_DIR/kube/config"', 'test ! -e "$KUBECONFIG"']},
        env_overrides={"KUBECONFIG": "/root/.kube/the-runners-own"})
    assert job.run_job(), job.results
    settings.write(kubeconfig_required=True)
    job = runner.job(909, **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert "requires a kubeconfig" in prepare.stderr


def test_werf_kube_config_base64_wins(runner, settings):
    settings.write(kube_preflight=False)
    job = runner.job(910, variables={
        "WERF_KUBE_CONFIG_BASE64": b64(GOOD),
        "WERF_KUBECONFIG_BASE64": "!!garbage!!",
        "KUBECONFIG_BASE64": "!!garbage!!"})
    assert job.config_and_prepare(), job.results
    assert "kubeconfig from WERF_KUBE_CONFIG_BASE64" in job.stage("prepare").stderr
    expect(job.cleanup(), rn.OK)


# -- secrets never leak -----------------------------------------------------------------------

class ArgvSampler:
    """Reads every process's argv while a job runs, to show no secret ever reaches one."""

    def __init__(self):
        self.seen = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        with open(f"/proc/{entry}/cmdline", "rb") as f:
                            self.seen.add(f.read())
                    except OSError:
                        pass
            self._stop.wait(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def file_contents_under(*roots, skip=()):
    for root in roots:
        for path in files_under(root):
            if any(str(path).startswith(str(s)) for s in skip) or os.path.islink(path):
                continue
            try:
                yield path, open(path, "rb").read()
            except OSError:
                pass


@pytest.mark.parametrize("variant", ["passes", "fails", "canceled"])
def test_canaries_never_leak(runner, settings, registry_basic, scratch, variant):
    reg = registry_basic
    password, kube_token = canary_user(settings, reg)
    main = {"passes": ['echo building'],
            "fails": ['echo building', 'exit 3'],
            "canceled": ['sleep 1000 &', 'sleep 1000']}[variant]
    job = runner.job(920, variables={
        "WERF_REPO": f"{reg.host}/{REPO}", "WERF_USERNAME": "carol", "WERF_PASSWORD": password,
        "WERF_KUBECONFIG_BASE64": b64(GOOD.replace("TOKEN", kube_token))},
        masked=("WERF_PASSWORD", "WERF_KUBECONFIG_BASE64"), scripts={"build_script": main})
    canaries = [password.encode(), kube_token.encode(), job.token.encode(),
                b64(f"carol:{password}").encode()]
    with ArgvSampler() as argv:
        assert job.config_and_prepare(), job.results
        # The login really happened: the canary is on disk while the job runs.
        assert docker_auths(job)[reg.host]["auth"] == b64(f"carol:{password}")
        if variant == "canceled":
            expect(job.run("get_sources"), rn.OK)
            stage = job.start("build_script")
            rn.wait_for(lambda: len(runner.leftovers()) >= 2, 60)
            stage.cancel(grace=5)
            job.run("after_script")
        else:
            job.run_stages()
        workspace = job.workspace
        expect(job.cleanup(), rn.OK)
    assert not workspace.exists()
    for result in job.results:
        for canary in canaries:
            assert canary.decode() not in stage_text(result), result.report()
    for cmdline in argv.seen:
        for canary in canaries:
            assert canary not in cmdline, cmdline
    runner_files = [job.response_file, job.build_exit_code_file] + \
        [p for p in job.tmp.glob("script*")]
    for path, data in file_contents_under(settings.state_dir, settings.builds_dir, job.tmp,
                                          skip=runner_files):
        for canary in canaries:
            assert canary not in data, f"{canary!r} left in {path}"


def test_half_set_predefined_ci_registry_means_no_login(runner):
    # GitLab sets CI_REGISTRY_* only when its registry is on; one missing is not the user's doing.
    job = runner.job(930, variables={"CI_REGISTRY": "registry.example.com",
                                     "CI_REGISTRY_USER": "gitlab-ci-token",
                                     "CI_REGISTRY_PASSWORD": ""})
    assert job.config_and_prepare(), job.results
    assert docker_auths(job) == {}
    expect(job.cleanup(), rn.OK)


def test_half_set_werf_credentials_are_a_build_failure(runner):
    job = runner.job(931, variables={"WERF_REPO": "registry.example.com/group/app",
                                     "WERF_USERNAME": "token"}, **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert "CI/CD variable WERF_USERNAME is set but WERF_PASSWORD is not" in prepare.stderr
    assert "CUSTOM_ENV" not in prepare.stderr, "messages name what the user set"


@pytest.mark.parametrize("refusals, max_wait, ok", [(2, 5, True), (100, 2, False)])
def test_retry_after_zero_waits_a_second_each_time(runner, settings, registry_factory,
                                                    tmp_path_factory, refusals, max_wait, ok):
    # "Retry-After: 0" must neither spin nor escape the wait budget.
    from lib.registry import RateLimiter
    lim = RateLimiter(registry_factory(auth="htpasswd"), tmp_path_factory.mktemp("nginx"),
                      retry_after=0).start()
    try:
        registry_settings(settings, lim)
        settings.write(registry_max_wait=max_wait)
        lim.arm(refusals, path="/v2/")
        job = werf_job(runner, 932, lim, **ODD_CODES)
        expect(job.config(), rn.OK)
        prepare = job.prepare()
        if ok:
            expect(prepare, rn.OK)
            assert lim.refused == 2 and prepare.duration >= 2.0
        else:
            expect(prepare, rn.SYSTEM_FAILURE, 78)
            assert "still busy" in prepare.stderr
            assert lim.refused <= max_wait + 1, "a busy loop, not one wait per refusal"
        expect(job.cleanup(), rn.OK)
    finally:
        lim.stop()


def test_a_host_that_is_no_registry_is_a_build_failure(runner, settings, registry_token):
    # The token server answers 404 to GET /v2/: the name points at something else.
    host = registry_token.token_server.realm.split("/")[2]
    settings.write(registries=[{"host": host, "plain_http": True}])
    job = runner.job(933, variables={"WERF_REPO": f"{host}/group/app", "WERF_USERNAME": "alice",
                                     "WERF_PASSWORD": "x"}, **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert f"registry {host} (from WERF_REPO) answered HTTP 404" in prepare.stderr
    assert "not a container registry" in prepare.stderr
