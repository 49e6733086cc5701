"""The registry fixtures (lib/registry.py) themselves, checked with skopeo as the reference client.

Each test writes the docker config.json a `docker login` would leave
(`{"auths": {HOST: {"auth": base64(user:pass)}}}`) by hand, so that a failure here is the
fixture's and not berth's.
"""

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from lib import registry as reg


def config_dir(tmp_path, registry, user, password, name="docker"):
    d = tmp_path / name
    reg.write_docker_config(d, {registry.host: (user, password)})
    return d


def get(url, headers=None, context=None):
    """(status, headers, body) of a GET, errors included."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:     # a zombie is gone as far as we care
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


# -- Basic auth ---------------------------------------------------------------------------------

def test_basic_right_password_lists_the_pushed_tag(registry_basic, tmp_path):
    r = registry_basic
    assert r.host.startswith("127.0.0.1:") and r.url == f"http://{r.host}"
    assert set(r.users) == {"alice", "bob"}
    reg.push_image(r, "demo/app", "v1", "alice", r.users["alice"])

    assert reg.skopeo_list_tags(r, "demo/app", config_dir(tmp_path, r, "alice",
                                                          r.users["alice"])) == (0, ["v1"])


def test_basic_each_user_with_own_password(registry_basic, tmp_path):
    r = registry_basic
    reg.push_image(r, "demo/app", "v1", "alice", r.users["alice"])
    alice = config_dir(tmp_path, r, "alice", r.users["alice"], "alice")
    bob = config_dir(tmp_path, r, "bob", r.users["bob"], "bob")
    crossed = config_dir(tmp_path, r, "bob", r.users["alice"], "crossed")

    assert reg.skopeo_list_tags(r, "demo/app", alice) == (0, ["v1"])
    assert reg.skopeo_list_tags(r, "demo/app", bob) == (0, ["v1"])
    rc, err = reg.skopeo_list_tags(r, "demo/app", crossed)
    assert rc != 0 and "unauthorized" in err


def test_basic_wrong_or_no_password_fails(registry_basic, tmp_path):
    r = registry_basic
    reg.push_image(r, "demo/app", "v1", "alice", r.users["alice"])

    rc, err = reg.skopeo_list_tags(r, "demo/app",
                                   config_dir(tmp_path, r, "alice", "wrong", "wrong"))
    assert rc != 0 and "unauthorized" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, err = reg.skopeo_list_tags(r, "demo/app", empty)
    assert rc != 0 and "unauthorized" in err


def test_basic_user_added_while_running(registry_basic, tmp_path):
    r = registry_basic
    password = r.add_user("carol")
    reg.push_image(r, "demo/app", "v1", "carol", password)
    assert reg.skopeo_list_tags(r, "demo/app",
                                config_dir(tmp_path, r, "carol", password)) == (0, ["v1"])


def test_each_tag_has_its_own_manifest_and_delete_works(registry_basic, tmp_path):
    r = registry_basic
    user, password = "alice", r.users["alice"]
    digests = {reg.push_image(r, "demo/app", t, user, password) for t in ("a", "b")}
    assert len(digests) == 2
    cfg = config_dir(tmp_path, r, user, password)

    assert reg.skopeo_delete(r, "demo/app", "a", cfg) == (0, "")
    assert reg.skopeo_list_tags(r, "demo/app", cfg) == (0, ["b"])
    assert reg.list_tags(r, "demo/app", user, password) == ["b"]


def test_delete_disabled(registry_factory, tmp_path):
    r = registry_factory(delete=False)
    reg.push_image(r, "demo/app", "v1", "alice", r.users["alice"])
    cfg = config_dir(tmp_path, r, "alice", r.users["alice"])
    rc, err = reg.skopeo_delete(r, "demo/app", "v1", cfg)
    assert rc != 0 and "UNSUPPORTED" in err.upper()
    assert reg.skopeo_list_tags(r, "demo/app", cfg) == (0, ["v1"])


def test_stop_ends_the_process(tmp_path):
    reg.require("docker-registry", "htpasswd", "openssl")
    with reg.Registry(tmp_path / "r") as r:
        pid = r.pid
        assert alive(pid)
        assert r.started_in < 5
    assert not alive(pid)
    with pytest.raises(OSError):
        urllib.request.urlopen(r.url + "/v2/", timeout=2)


# -- token auth ---------------------------------------------------------------------------------

def test_token_registry_works_and_the_realm_saw_the_scope(registry_token, tmp_path):
    r = registry_token
    ts = r.token_server
    assert ts.realm.startswith("http://127.0.0.1:") and ts.realm.endswith("/token")
    status, headers, _ = get(r.url + "/v2/")
    assert status == 401
    assert headers["WWW-Authenticate"] == (f'Bearer realm="{ts.realm}",'
                                           f'service="{reg.SERVICE}"')
    reg.push_image(r, "demo/app", "v1", "alice", r.users["alice"])
    pushed = len(ts.requests)

    cfg = config_dir(tmp_path, r, "bob", r.users["bob"])
    assert reg.skopeo_list_tags(r, "demo/app", cfg) == (0, ["v1"])
    asked = ts.requests[pushed:]
    assert any(q["user"] == "bob" and q["scopes"] == ["repository:demo/app:pull"]
               and q["service"] == reg.SERVICE and q["status"] == 200 for q in asked), asked


def test_token_wrong_password_is_refused_by_the_realm(registry_token, tmp_path):
    r = registry_token
    cfg = config_dir(tmp_path, r, "alice", "wrong")
    rc, err = reg.skopeo_list_tags(r, "demo/app", cfg)
    assert rc != 0 and "unauthorized" in err
    assert r.token_requests[-1]["user"] == "alice"
    assert r.token_requests[-1]["status"] == 401


def test_token_answer_with_access_token_only(registry_token, tmp_path):
    r = registry_token
    r.token_server.token_fields = ("access_token",)
    status, _, body = get(r.token_server.realm + f"?service={reg.SERVICE}",
                          {"Authorization": "Basic " + reg.basic_auth("alice",
                                                                      r.users["alice"])})
    answer = json.loads(body)
    assert status == 200 and "token" not in answer and answer["expires_in"] == 300

    token = answer["access_token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["x5c"]
    status, _, _ = get(r.url + "/v2/", {"Authorization": "Bearer " + token})
    assert status == 200

    reg.push_image(r, "demo/app", "v1", "alice", r.users["alice"])
    cfg = config_dir(tmp_path, r, "alice", r.users["alice"])
    assert reg.skopeo_list_tags(r, "demo/app", cfg) == (0, ["v1"])


def test_token_grants_limit_actions(registry_factory, tmp_path):
    r = registry_factory(auth="token", users=("alice", "reader"), grants={"reader": ("pull",)})
    reg.push_image(r, "demo/app", "v1", "alice", r.users["alice"])
    with pytest.raises(RuntimeError, match="401"):
        reg.push_image(r, "demo/app", "v2", "reader", r.users["reader"])
    cfg = config_dir(tmp_path, r, "reader", r.users["reader"])
    assert reg.skopeo_list_tags(r, "demo/app", cfg) == (0, ["v1"])
    rc, err = reg.skopeo_delete(r, "demo/app", "v1", cfg)
    assert rc != 0


# -- TLS with a private CA ----------------------------------------------------------------------

def test_tls_registry_with_the_ca(registry_tls, tmp_path):
    r = registry_tls
    assert r.url == f"https://{r.host}"
    assert r.ca_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert r.ca_file.read_text() == r.ca_pem
    assert (r.cert_dir / "ca.crt").read_text() == r.ca_pem
    reg.push_image(r, "demo/app", "v1", "alice", r.users["alice"])

    cfg = config_dir(tmp_path, r, "alice", r.users["alice"])
    assert reg.skopeo_list_tags(r, "demo/app", cfg) == (0, ["v1"])


def test_tls_registry_without_the_ca_fails(registry_tls, tmp_path):
    r = registry_tls
    reg.require("skopeo")
    cfg = config_dir(tmp_path, r, "alice", r.users["alice"])
    no_ca = tmp_path / "no-ca"
    no_ca.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    res = subprocess.run(["skopeo", "list-tags", "--cert-dir", str(no_ca),
                          f"docker://{r.host}/demo/app"], capture_output=True, text=True,
                         env=reg.skopeo_env(cfg, home), timeout=60)
    assert res.returncode != 0 and "certificate" in res.stderr


# -- nginx 429 in front of a registry -----------------------------------------------------------

def test_limiter_429_on_armed_requests_then_passes(registry_limited):
    lim = registry_limited
    assert lim.host != lim.registry.host and lim.url == f"http://{lim.host}"
    assert get(lim.url + "/v2/")[0] == 401           # not armed: the registry answers

    lim.arm(2, path="/v2/")
    assert get(lim.url + "/v2/x/tags/list")[0] == 401   # another path: not counted
    for _ in range(2):
        status, headers, body = get(lim.url + "/v2/")
        assert status == 429
        assert headers["Retry-After"] == "1"
        assert json.loads(body)["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert lim.armed == 0
    status, headers, _ = get(lim.url + "/v2/")
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="test"'

    entries = lim.log()
    assert [e["status"] for e in entries] == [401, 401, 429, 429, 401]
    assert [e["upstream_status"] for e in entries] == ["401", "401", "-", "-", "401"]
    assert len(lim.limited()) == 2


def test_limiter_503_and_credentials_pass_through(registry_limited):
    lim = registry_limited
    auth = {"Authorization": "Basic " + reg.basic_auth("alice", lim.users["alice"])}
    lim.arm(1, status=503)
    status, headers, _ = get(lim.url + "/v2/", auth)
    assert status == 503 and headers["Retry-After"] == "1"
    assert get(lim.url + "/v2/", auth)[0] == 200
    assert [(e["status"], e["auth"]) for e in lim.log()] == [(503, "basic"), (200, "basic")]


def test_limiter_skopeo_honours_retry_after(registry_limited, tmp_path):
    lim = registry_limited
    reg.push_image(lim.registry, "demo/app", "v1", "alice", lim.users["alice"])
    cfg = config_dir(tmp_path, lim, "alice", lim.users["alice"])

    lim.arm(1)
    began = time.monotonic()
    assert reg.skopeo_list_tags(lim, "demo/app", cfg) == (0, ["v1"])
    assert time.monotonic() - began >= 1.0
    [refused] = lim.limited()
    later = [e for e in lim.log() if e["time"] > refused["time"] and e["uri"].startswith("/v2/")]
    assert later and later[0]["time"] - refused["time"] >= 0.99
    assert later[-1]["status"] == 200
