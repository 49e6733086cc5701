"""The seed's pipeline, unchanged (../shared/seed/README.md), through the runner's protocol.

Its jobs call plain `werf`, after `. $(trdl use werf 1.2 ea)` put trdl's werf first on PATH.
The werf and trdl here are stand-ins written from their sources (tests/e2e/bin/seed/: each
cites the Go functions it follows); they record what werf saw. What `berth werf` guarantees
must hold for them (docs/werf.md): berth's checked kubeconfig and docker config, werf's tmp dir
and home inside the workspace, a synchronization that asks no server, WERF_PARALLEL=0 for a
rate-limited registry, the deploy lock around converge, one cleanup of a registry at a time
across projects, and no credential anywhere after cleanup.
"""

import base64
import gzip
import json
import os
import shutil
from pathlib import Path

import pytest

from lib import runner as rn
from test_credentials import GOOD, registry_settings
from test_locks import assert_no_overlap
from test_protocol import expect

SEED_BIN = Path(__file__).resolve().parent / "bin" / "seed"

# The seed article's before_script, script and after_script, word for word.
BEFORE = [
    "type trdl && . $(trdl use werf 1.2 ea)",
    "werf version",
    "type werf && source $(werf ci-env gitlab --as-file)",
    "werf cr login ${SEL_REGISTRY_DOMAIN}",
]
AFTER = ["werf cr logout ${SEL_REGISTRY_DOMAIN}"]


class Seed:
    """The stand-ins where a job (also in the bwrap sandbox) can run them, and their records."""

    def __init__(self, settings):
        self.root = settings.cache_dir / "seed"
        self.bin = self.root / "bin"
        self.log = self.root / "log"
        shutil.copytree(SEED_BIN, self.bin)
        self.log.mkdir(parents=True)
        os.chmod(self.root, 0o777)
        os.chmod(self.log, 0o777)
        self.gate = self.root / "gate"

    def env(self, gate=False):
        """What the runner's environment adds: trdl, and the werf it installed (the article's
        runners got werf with trdl), on PATH; where the stand-ins record."""
        path = f"{self.bin}:{self.bin / 'werf-1.2-ea'}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        env = {"PATH": path,
               "SEED_WERF_LOG": str(self.log), "TRDL_HOME_DIR": str(self.root / "trdl")}
        if gate:
            env["SEED_WERF_GATE"] = str(self.gate)
        return env

    def calls(self, job=None):
        path = self.log / "calls.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []
        if job is not None:
            records = [r for r in records if r["env"].get("CI_JOB_ID") == str(job.id)]
        return records

    def call(self, job, *argv):
        found = [r for r in self.calls(job) if r["argv"][:len(argv)] == list(argv)]
        assert len(found) == 1, f"werf {' '.join(argv)} in job {job.id}: {found}"
        return found[0]

    def started(self):
        """The converge/cleanup calls running now (each removes its record when it ends)."""
        found = []
        for p in (self.log / "started").glob("[0-9]*"):
            if p.suffix == ".tmp":
                continue
            try:
                found.append(json.loads(p.read_text()))
            except FileNotFoundError:
                pass  # it ended while we looked
        return found


@pytest.fixture
def seed(settings):
    return Seed(settings)


def seed_job(runner, seed, reg, job_id, project, main, env_name=None, gate=False,
             variables=None, env_overrides=None, **kw):
    """A job of the seed's pipeline for PROJECT: its CI/CD variables as the article sets them."""
    domain, registry = reg.host, "shop"
    kube = base64.b64encode(gzip.compress(kubeconfig(job_id).encode())).decode()
    kube = "\n".join(kube[i:i + 60] for i in range(0, len(kube), 60))  # as pasted in the UI
    v = {"SEL_REGISTRY_DOMAIN": domain, "SEL_REGISTRY": registry,
         "WERF_REPO": f"{domain}/{registry}/{project}", "WERF_USERNAME": "alice",
         "WERF_PASSWORD": reg.users["alice"], "WERF_KUBECONFIG_BASE64": kube}
    if env_name:
        v.update(CI_ENVIRONMENT_NAME=env_name, CI_ENVIRONMENT_SLUG=env_name)
    v.update(variables or {})
    overrides = seed.env(gate)
    overrides.update(env_overrides or {})
    return runner.job(job_id, project_path=project, variables=v, masked=("WERF_PASSWORD",),
                      scripts={"build_script": BEFORE + main, "after_script": AFTER},
                      env_overrides=overrides, **kw)


def kubeconfig(job_id):
    """GOOD with a canary token of the job's own."""
    return GOOD.replace("TOKEN", f"canary-kube-token-{job_id}")


def runners_places(settings, seed):
    """Where a job's werf could leave something, but the stand-ins' records of what it saw."""
    return dict(roots=[settings.state_dir, settings.builds_dir, settings.cache_dir,
                       Path.home() / ".werf", Path.home() / ".docker"], skip=[seed.log])


@pytest.fixture
def seed_settings(settings, registry_basic):
    registry_settings(settings, registry_basic)
    # The registry stands for cr.selcloud.ru; there is no cluster to check the kubeconfig on.
    settings.write(kube_preflight=False, rate_limited_hosts=[registry_basic.host])
    return settings


def secrets_on_disk(roots, values, skip=()):
    """Files under ROOTS (but SKIP) holding one of VALUES (or its base64 in a docker config)."""
    needles = [v.encode() for v in values]
    needles += [base64.b64encode(f"alice:{v}".encode()) for v in values]
    found = []
    for root in roots:
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if Path(dirpath, d) not in skip]
            for name in files:
                path = Path(dirpath, name)
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                if any(n in data for n in needles):
                    found.append(str(path))
    return found


def run_seed_job(job):
    assert job.config_and_prepare(), job.results
    expect(job.run("get_sources"), rn.OK)
    main = job.run("build_script")
    after = job.run("after_script")
    return main, after


def test_seed_deploy_unchanged_gets_berths_werf(runner, seed_settings, registry_basic, seed):
    reg = registry_basic
    job = seed_job(runner, seed, reg, 8101, "shop/frontend", ["werf converge"], env_name="test")
    main, after = run_seed_job(job)
    expect(main, rn.OK)
    expect(after, rn.OK)
    ws = job.workspace

    # Every werf the scripts ran went through berth's wrapper, also after trdl's werf came
    # first on PATH: the real werf's parent is berth, called as <workspace>/bin/werf.
    calls = seed.calls(job)
    assert [c["argv"][0] for c in calls] == ["version", "ci-env", "cr", "converge", "cr"]
    for rec in calls:
        assert rec["parent_argv0"] == str(ws / "bin" / "werf"), rec["argv"]
    conv = seed.call(job, "converge")
    env = conv["env"]
    assert conv["exit"] == 0
    assert conv["sync_request"] is None and env.get("WERF_SYNCHRONIZATION") == ":local", env
    assert env.get("WERF_PARALLEL") == "0", "a deploy to a rate-limited registry ran parallel"
    # trdl's channel, exported by `. $(trdl use werf 1.2 ea)`: the wrapper annotates as ci-env.
    channel = env.get("WERF_ADD_ANNOTATION_WERF_RELEASE_CHANNEL")
    assert channel == "werf.io/release-channel=1.2 ea", channel
    # berth's checked kubeconfig, not the job's base64 (gzip'd: werf could not have read it).
    assert conv["kube"]["source"] == "WERF_KUBE_CONFIG", conv["kube"]
    assert conv["kube"]["path"] == str(ws / "kube" / "config")
    assert conv["kube"]["text"] == kubeconfig(job.id)
    assert conv["docker_config"] == str(ws / "docker")
    assert conv["tmp_dir"] == str(ws / "tmp") and conv["home_dir"].startswith(str(ws) + "/")

    # ci-env's copies (docker config, source script, its link) were made in the workspace.
    made = seed.call(job, "ci-env", "gitlab")["created"]
    assert made and all(p.startswith(str(ws) + "/") for p in made), made
    # after_script's logout also took the login out of ci-env's copy of the docker config.
    copy = Path(made[0]) / "config.json"
    assert reg.host not in json.loads(copy.read_text()).get("auths", {}), copy.read_text()
    assert reg.host not in json.loads((ws / "docker" / "config.json").read_text())["auths"]

    expect(job.cleanup(), rn.OK)
    assert not ws.exists()
    assert not [p for p in made if os.path.lexists(p)]
    left = secrets_on_disk(values=[reg.users["alice"], f"canary-kube-token-{job.id}"],
                           **runners_places(seed_settings, seed))
    assert not left, f"credentials left after cleanup: {left}"


@pytest.mark.parametrize("where", ["job variable", "runner environment"])
def test_werf_tmp_dir_outside_the_workspace_keeps_no_copy(
        runner, seed_settings, registry_basic, seed, tmp_path, where):
    reg = registry_basic
    outside = tmp_path / "werf-tmp"
    outside.mkdir()
    os.chmod(outside, 0o1777)
    kw = {"variables": {"WERF_TMP_DIR": str(outside)}} if where == "job variable" else \
        {"env_overrides": {"WERF_TMP_DIR": str(outside)}}
    job = seed_job(runner, seed, reg, 8111, "shop/frontend", ["werf converge"],
                   env_name="test", **kw)
    main, _ = run_seed_job(job)
    expect(main, rn.OK)
    assert seed.call(job, "ci-env", "gitlab")["tmp_dir"] == str(job.workspace / "tmp")
    expect(job.cleanup(), rn.OK)
    assert list(outside.iterdir()) == [], "werf wrote outside the workspace"
    places = runners_places(seed_settings, seed)
    places["roots"].append(outside)
    assert not secrets_on_disk(values=[reg.users["alice"]], **places)


def test_seed_cleanups_of_one_registry_from_two_projects_never_overlap(
        runner, seed_settings, registry_basic, seed, settings):
    # The seed's cleanup job (WERF_PARALLEL: 0, resource_group: cleanup: one project only) in
    # two projects of one registry. The first holds werf until the test opens the gate, which
    # it does once the second is seen waiting for the registry's cleanup lock.
    reg = registry_basic
    key = f"cleanup/{reg.host}/shop"
    jobs = [seed_job(runner, seed, reg, 8120 + i, f"shop/p{i}", ["werf cleanup"], gate=True,
                     project_id=120 + i, concurrent_id=i, variables={"WERF_PARALLEL": "0"})
            for i in (1, 2)]
    for job in jobs:
        assert job.config_and_prepare(), job.results
        expect(job.run("get_sources"), rn.OK)
    locks_env = {"BERTH_CONFIG": str(settings.path), "PATH": os.environ["PATH"]}
    first = jobs[0].start("build_script")
    assert rn.wait_for(lambda: seed.started() or not first.running(), 60, interval=0.02)
    assert seed.started(), first.wait().report()
    second = jobs[1].start("build_script")
    queued = rn.wait_for(lambda: rn.lock_queue(rn.lock_entry(
        rn.locks_json(runner.berth, locks_env), key)) == ["8121", "8122"], 60, interval=0.02)
    assert queued, rn.locks_json(runner.berth, locks_env)
    seed.gate.touch()
    for stage in (first, second):
        expect(stage.wait(), rn.OK)
    spans = {}
    for job in jobs:
        rec = seed.call(job, "cleanup")
        assert rec["exit"] == 0 and rec["sync_request"] is None, rec
        assert rec["env"]["WERF_PARALLEL"] == "0"
        spans[str(job.id)] = [rec["start"], rec["end"]]
    assert_no_overlap(spans)
    for job in jobs:
        expect(job.cleanup(), rn.OK)
