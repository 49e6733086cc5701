"""YAML nested far deeper than any real file: a job's kubeconfig, a .gitlab-ci.yml, settings.

The attack: 160,000 nested flow sequences (`[[[...]]]`) are 320 kB, a few hundred bytes once
gzipped (berth takes gzipped kubeconfigs), and libyaml's scanner spends time quadratic in the
depth on them: 48 s of root CPU for one prepare, on a fast machine. What must hold: berth stops
reading at its bound and refuses the file at once, naming the input and line: a build failure
for the job's kubeconfig and for a pipeline file, a system failure for the admin's settings. The
time bound below is generous: a bounds check, not a benchmark, on CPU time (berth's and its
children's), which other work on the machine does not lengthen.
"""

import base64
import gzip

from lib import runner as rn
from test_pipeline import FAILURE_CODE, build_repo, run_berth, shown
from test_protocol import ODD_CODES, expect

DEPTH = 160_000
SECONDS = 5.0


def nested(depth):
    return "[" * depth + "]" * depth


def test_deep_gzipped_kubeconfig_is_refused_at_once(runner, settings, record_bad_input):
    settings.write(kube_preflight=False)
    payload = base64.b64encode(gzip.compress(nested(DEPTH).encode() + b"\n")).decode()
    assert len(payload) < 2000, "the attack is a small variable"
    job = runner.job(9811, variables={"WERF_KUBECONFIG_BASE64": payload}, **ODD_CODES)
    cpu = rn.children_cpu()
    assert not job.config_and_prepare()
    cpu = rn.children_cpu() - cpu
    prepare = job.stage("prepare")
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert ("kubeconfig from WERF_KUBECONFIG_BASE64:1: nested deeper than 64 levels"
            in prepare.stderr), prepare.report()
    assert cpu < SECONDS, f"config and prepare took {cpu:.1f} s of CPU\n{prepare.report()}"
    assert len(job.stages("prepare")) == 1, "a build failure is not retried"
    record_bad_input("kubeconfig of 160,000 nested lists (gzipped: a few hundred bytes)", prepare)


def test_deep_pipeline_file_is_refused_at_once(berth_bin, tmp_path):
    repo = tmp_path / "repo"
    build_repo(repo, {".gitlab-ci.yml": f"build:\n  script: {nested(DEPTH)}\n".encode()}, {})
    cpu = rn.children_cpu()
    proc = run_berth(berth_bin, repo, [])
    took = rn.children_cpu() - cpu
    assert proc.returncode == FAILURE_CODE, shown(proc)
    assert ".gitlab-ci.yml:2: nested deeper than 100 levels" in proc.stderr, shown(proc)
    assert took < SECONDS, f"took {took:.1f} s of CPU\n{shown(proc)}"


def test_deep_settings_file_is_refused_at_once(runner, settings, record_bad_input):
    settings.write_text(f"state_dir: {nested(DEPTH)}\n")
    job = runner.job(9812, **ODD_CODES)
    cpu = rn.children_cpu()
    config = job.config()
    cpu = rn.children_cpu() - cpu
    expect(config, rn.SYSTEM_FAILURE, 78)
    assert f"{settings.path}:1: nested deeper than 64 levels" in config.stderr, config.report()
    assert cpu < SECONDS, f"config took {cpu:.1f} s of CPU\n{config.report()}"
    record_bad_input("settings file of 160,000 nested lists", config)
