"""`berth prune` on CRaaS with a service user's credentials (docs/prune.md, "The CRaaS token"):
berth gets the IAM token from Keystone v3 itself, renews it when it nears its expiry or CRaaS
answers 401, and never shows the password or a token.

A fake Keystone written from OpenStack's Identity API v3 reference (lib/keystone_fake.py), wired
to the CRaaS fake (lib/craas_fake.py) so that CRaaS accepts only the unexpired, unrevoked
tokens Keystone issued. Every test asserts berth's exit status and output, what each fake saw,
and the registry's state afterwards.
"""

import datetime
import os
import re
import secrets
import socket
from pathlib import Path

import pytest

from test_secret_memory import REPO, shim  # noqa: F401
from test_prune import (UTC, Pruner, assert_decisions, assert_ok, craas_expected,  # noqa: F401
                        craas_repo, prune_bin)

ACCOUNT = "123456"
USER = "berth-prune"
TARGET_REPO = "app/web"


@pytest.fixture
def prune(prune_bin, tmp_path):
    return Pruner(prune_bin, tmp_path / "prune")


def service_user(prune, craas, keystone, by="id"):
    """A project holding registry `myreg`, a service user with a role in it, berth's settings
    and the user's variables; (password, project id)."""
    password = "pw-canary-" + secrets.token_hex(12)
    pid = keystone.add_project("cleanup", ACCOUNT)
    keystone.add_user(USER, ACCOUNT, password, [pid])
    keystone.wire(craas)
    prune.write(craas_hosts=[craas.host], craas_api=craas.url, craas_identity_url=keystone.url)
    prune.env_extra.update(CRAAS_USERNAME=USER, CRAAS_ACCOUNT=ACCOUNT, CRAAS_PASSWORD=password)
    if by == "id":
        prune.env_extra["CRAAS_PROJECT_ID"] = pid
    else:
        prune.env_extra["CRAAS_PROJECT_NAME"] = "cleanup"
    return password, pid


def target(craas):
    return f"{craas.host}/myreg/{TARGET_REPO}"


def assert_no_secret(res, *secrets_):
    for s in secrets_:
        assert s not in res.stdout and s not in res.stderr, f"a secret was printed\n{res}"
        assert s not in res.report_text, "a secret is in the report"


def secrets_of(password, keystone):
    return [password] + keystone.issued()


class Traced(Pruner):
    """berth prune under strace: every execve berth or a child of it makes, with its argv."""

    def argv(self, args, report, cluster):
        # LeakSanitizer cannot run under ptrace: the sanitized build's leak check stays off
        self.env_extra["ASAN_OPTIONS"] = "detect_leaks=0"
        self.trace = self.root / f"trace-{self.runs}.txt"
        return ["strace", "-f", "-qq", "-s", "4096", "-e", "trace=execve", "-o",
                str(self.trace)] + super().argv(args, report, cluster)


def test_service_user_prunes_with_a_keystone_token(prune_bin, tmp_path, craas, keystone):
    prune = Traced(prune_bin, tmp_path / "prune")
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    craas.add_registry("myreg")
    images = craas_repo(craas, "myreg", TARGET_REPO, now)
    keep = craas_expected(images, 9, datetime.timedelta(hours=20))
    password, pid = service_user(prune, craas, keystone)
    res = prune.run("--keep-tag", "^release-", "--keep-newest", "9", "--keep-younger", "20h",
                    target(craas))
    assert_ok(res, deleted=len(set(images) - keep), kept=len(keep))
    assert craas.tags("myreg", TARGET_REPO) == keep
    assert_decisions(res, target(craas), keep, set(images) - keep)
    # One authentication, with the body the Identity API reference gives for a password
    # scoped to a project by id, and every CRaaS request with the token it returned.
    assert [a["status"] for a in keystone.auths] == [201], keystone.auths
    auth = keystone.auths[0]
    assert auth["content_type"] == "application/json"
    assert auth["body"] == {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": USER, "domain": {"name": ACCOUNT}, "password": "(removed)"}}},
        "scope": {"project": {"id": pid}}}}, auth["body"]
    token = keystone.issued()[0]
    assert craas.requests and all(r["token"] == token and r["token_ok"]
                                  for r in craas.requests)
    assert_no_secret(res, *secrets_of(password, keystone))
    # berth runs nothing: its own execve is the only one, and carries neither secret.
    execs = [line for line in prune.trace.read_text().splitlines() if "execve(" in line]
    assert len(execs) == 1 and prune.berth in execs[0], execs
    assert password not in execs[0] and token not in execs[0]


def test_project_by_name(prune, craas, keystone):
    craas.add_registry("myreg")
    images = craas_repo(craas, "myreg", TARGET_REPO, datetime.datetime.now(UTC), n=8,
                        multi=False)
    password, _ = service_user(prune, craas, keystone, by="name")
    res = prune.run("--keep-newest", "3", target(craas))
    assert_ok(res, deleted=len(images) - 3, kept=3)
    assert keystone.auths[0]["body"]["auth"]["scope"] == {
        "project": {"name": "cleanup", "domain": {"name": ACCOUNT}}}
    assert_no_secret(res, *secrets_of(password, keystone))


def test_token_near_its_expiry_is_renewed_ahead(prune, craas, keystone):
    """The first token lives 4 s: berth renews it once half of that is left, before CRaaS
    would refuse it, and the second (24 h) lasts the run."""
    craas.add_registry("myreg")
    images = craas_repo(craas, "myreg", TARGET_REPO, datetime.datetime.now(UTC), n=40,
                        multi=False)
    password, _ = service_user(prune, craas, keystone)
    keystone.lifetimes = [4]
    # 5 requests a second: the 41 requests take some 8 s, well past the first token's life.
    res = prune.run("--keep-newest", "5", "--max-rps", "5", target(craas))
    assert_ok(res, deleted=35, kept=5)
    assert res.duration > 5, f"the run ended before the first token expired\n{res}"
    assert [a["status"] for a in keystone.auths] == [201, 201], keystone.auths
    assert not craas.log(status=401), "berth waited for CRaaS to refuse the old token"
    first, second = keystone.issued()
    used = [r["token"] for r in craas.requests]
    assert used[0] == first and used[-1] == second
    # once renewed, the old token is not used again
    assert used == sorted(used, key=lambda t: t == second), used
    assert_no_secret(res, *secrets_of(password, keystone))


def test_expiry_already_past_by_our_clock_is_not_chased(prune, craas, keystone):
    """Keystone's clock is two days behind berth's: the token's expires_at has passed when it
    arrives. berth does not renew it at every request; CRaaS's 401 would tell when."""
    craas.add_registry("myreg")
    craas_repo(craas, "myreg", TARGET_REPO, datetime.datetime.now(UTC), n=20, multi=False)
    password, _ = service_user(prune, craas, keystone)
    keystone.skew = -2 * 86400
    res = prune.run("--keep-newest", "4", target(craas))
    assert_ok(res, deleted=16, kept=4)
    assert len(keystone.auths) == 1, keystone.auths
    assert_no_secret(res, *secrets_of(password, keystone))


def test_token_refused_mid_run_is_renewed_once(prune, craas, keystone):
    """CRaaS refuses the token after 5 deletes (revoked, or expired by its clock): the
    requests answered 401 get a new token and are made again; the run finishes."""
    craas.add_registry("myreg")
    images = craas_repo(craas, "myreg", TARGET_REPO, datetime.datetime.now(UTC), n=30,
                        multi=False)
    password, _ = service_user(prune, craas, keystone)
    craas.after_deletes(5, lambda fake: keystone.revoke_all())
    res = prune.run("--keep-newest", "4", target(craas))
    assert_ok(res, deleted=26, kept=4)
    assert len(craas.tags("myreg", TARGET_REPO)) == 4
    assert [a["status"] for a in keystone.auths] == [201, 201], keystone.auths
    refused = craas.log(status=401)
    assert refused, "CRaaS never refused the first token"
    first, second = keystone.issued()
    assert all(r["token"] == first for r in refused)
    assert len(craas.log(method="DELETE", status=204)) == 26
    assert_no_secret(res, *secrets_of(password, keystone))


def test_new_token_refused_too_is_a_clear_error(prune, craas, keystone):
    """A token Keystone just issued is refused as well (the user has no role on the
    registry's project): one renewal, then berth stops and says whose token it was."""
    craas.add_registry("myreg")
    images = craas_repo(craas, "myreg", TARGET_REPO, datetime.datetime.now(UTC), n=10)
    password, pid = service_user(prune, craas, keystone)
    keystone.refused = True
    res = prune.run("--keep-newest", "2", target(craas))
    assert res.rc == 1, str(res)
    assert f"refused the token Keystone issued to user '{USER}' (project {pid}) (HTTP 401)" \
        in res.stderr, str(res)
    assert "registry myreg" in res.stderr
    assert len(keystone.auths) == 2, keystone.auths
    assert not craas.log(method="DELETE")
    assert craas.tags("myreg", TARGET_REPO) == set(images)
    assert_no_secret(res, *secrets_of(password, keystone))


def test_wrong_password_is_the_users_mistake(prune, craas, keystone):
    craas.add_registry("myreg")
    images = craas_repo(craas, "myreg", TARGET_REPO, datetime.datetime.now(UTC), n=5)
    password, _ = service_user(prune, craas, keystone)
    wrong = "wrong-canary-" + secrets.token_hex(8)
    prune.env_extra["CRAAS_PASSWORD"] = wrong
    res = prune.run("--keep-newest", "1", target(craas))
    assert res.rc == 1, str(res)
    assert f"the identity API {keystone.url} refused user '{USER}' of account {ACCOUNT} " \
           f"(HTTP 401): check the password in CRAAS_PASSWORD" in res.stderr, str(res)
    assert [a["status"] for a in keystone.auths] == [401]
    assert not craas.requests, "berth went on to CRaaS without a token"
    assert craas.tags("myreg", TARGET_REPO) == set(images)
    assert_no_secret(res, wrong, password)


def test_unreachable_identity_url(prune, craas, keystone):
    craas.add_registry("myreg")
    craas_repo(craas, "myreg", TARGET_REPO, datetime.datetime.now(UTC), n=5)
    password, _ = service_user(prune, craas, keystone)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/identity/v3"
    prune.write(craas_identity_url=closed)
    res = prune.run("--keep-newest", "1", target(craas))
    assert res.rc == 2, str(res)
    assert f"cannot reach the identity API {closed} (setting craas_identity_url)" \
        in res.stderr, str(res)
    assert not craas.requests
    assert_no_secret(res, password)


def test_answer_without_subject_token(prune, craas, keystone):
    craas.add_registry("myreg")
    craas_repo(craas, "myreg", TARGET_REPO, datetime.datetime.now(UTC), n=5)
    password, _ = service_user(prune, craas, keystone)
    keystone.no_subject_token = True
    res = prune.run("--keep-newest", "1", target(craas))
    assert res.rc == 2, str(res)
    assert re.search(r"identity API \S+ \(setting craas_identity_url\) gave no token: .*"
                     r"no X-Subject-Token header", res.stderr), str(res)
    assert [a["status"] for a in keystone.auths] == [201]
    assert not craas.requests
    assert_no_secret(res, password, *keystone.issued())


@pytest.mark.parametrize("change, said", [
    ({"CRAAS_TOKEN": "tok-canary-" + "0" * 16},
     "both CRAAS_TOKEN and CRAAS_PASSWORD are set"),
    ({"CRAAS_ACCOUNT": None}, "also needs CRAAS_USERNAME (the user's name), CRAAS_ACCOUNT"),
    ({"CRAAS_PROJECT_NAME": "cleanup"}, "both project variables are set"),
])
def test_incomplete_or_ambiguous_credentials_are_refused(prune, craas, keystone, change, said):
    craas.add_registry("myreg")
    craas_repo(craas, "myreg", TARGET_REPO, datetime.datetime.now(UTC), n=3)
    password, _ = service_user(prune, craas, keystone)
    for k, v in change.items():
        if v is None:
            del prune.env_extra[k]
        else:
            prune.env_extra[k] = v
    res = prune.run("--keep-newest", "1", target(craas))
    assert res.rc == 1, str(res)
    assert said in res.stderr, str(res)
    assert not keystone.auths and not craas.requests
    assert_no_secret(res, password, *[v for v in change.values() if v])


def test_no_secret_in_freed_memory(craas, keystone, shim, tmp_path):  # noqa: F811
    """Under the free() shim of test_secret_memory.py: neither the password nor either token
    (the first one is given up at the renewal) is left in a block berth frees. The release
    build, as there: ASan cannot share free() with a shim."""
    binary = Path(os.environ.get("BERTH_RELEASE_BIN") or REPO / "build" / "berth")
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no release build at {binary}: run `make`")
    prune = Pruner(binary, tmp_path / "prune")
    craas.add_registry("myreg")
    craas_repo(craas, "myreg", TARGET_REPO, datetime.datetime.now(UTC), n=12, multi=False)
    password, _ = service_user(prune, craas, keystone)
    keystone.next_tokens = ["tok-canary-" + secrets.token_hex(16) for _ in range(2)]
    canaries = [password] + keystone.next_tokens
    canary_file, report = tmp_path / "canaries", tmp_path / "canary-report"
    canary_file.write_text("\n".join(canaries) + "\n")
    prune.env_extra.update(LD_PRELOAD=str(shim), CANARY_FILE=str(canary_file),
                           CANARY_REPORT=str(report))
    craas.after_deletes(3, lambda fake: keystone.revoke_all())
    res = prune.run("--keep-newest", "2", target(craas))
    assert_ok(res, deleted=10, kept=2)
    assert keystone.issued() == canaries[1:], "the run did not renew its token"
    assert not report.exists(), report.read_text()
    assert_no_secret(res, *canaries)
