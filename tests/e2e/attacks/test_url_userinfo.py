"""Credentials in the userinfo of a URL: `https://user:password@host` in a kubeconfig's server or
in WERF_REPO.

The attack (on the job's own secrets): prepare's messages name the server and the repository,
and they reach the job log, and cleanup's the runner's own log, unmasked. What must hold: no
stage prints the password; messages still name the scheme and the host, with the userinfo as
`***`.
"""

import base64
import secrets

from lib import runner as rn
from lib.kubeapi import closed_port_url
from test_credentials import GOOD
from test_protocol import ODD_CODES, expect


def canary():
    return "canary-userinfo-" + secrets.token_hex(8)


def printed(job):
    return "".join(r.stdout + r.stderr for r in job.results)


def test_password_in_the_kubeconfig_server_is_masked(runner, settings, record_bad_input):
    settings.write(kube_timeout=2)
    password = canary()
    server = closed_port_url().replace("https://", f"https://kubeuser:{password}@")
    text = GOOD.replace("https://127.0.0.1:1", server)
    job = runner.job(9821, variables={
        "WERF_KUBECONFIG_BASE64": base64.b64encode(text.encode()).decode()}, **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.SYSTEM_FAILURE, 78)
    masked = server.replace(f"kubeuser:{password}@", "***@")
    assert f"cannot reach cluster 'c1' at {masked}" in prepare.stderr, prepare.report()
    record_bad_input("kubeconfig server with a password in its URL, where nothing listens",
                     prepare)
    assert password not in printed(job), printed(job)
    assert all(r.ok for r in job.stages("cleanup"))


def test_password_in_werf_repo_is_masked(runner, settings, record_bad_input):
    password = canary()
    repo = f"https://robot:{password}@registry.example.com/group/app"
    job = runner.job(9822, variables={"WERF_REPO": repo, "WERF_USERNAME": "robot",
                                      "WERF_PASSWORD": "other-" + password}, **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert "WERF_REPO 'https://***@registry.example.com/group/app'" in prepare.stderr, \
        prepare.report()
    record_bad_input("WERF_REPO as a URL with a password in it", prepare)
    assert password not in printed(job), printed(job)
    expect(job.cleanup(), rn.OK)
    assert password not in printed(job), printed(job)
