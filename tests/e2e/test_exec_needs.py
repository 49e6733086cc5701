"""`berth exec JOB --with-needs`: the jobs JOB needs run first, transitively, in needs order.

GitLab docs, CI/CD YAML syntax reference, `needs`: a job starts as soon as the jobs it needs
finish; `needs:optional` lets a job need a job that rules may leave out. berth runs each needed
job through the same prepare, run and cleanup as JOB, stops at the first failure with that
job's exit code, and without the flag runs JOB alone (docs/pipeline.md).
"""

import secrets

import pytest

# berth: test_local_jobs' fixture (berth with this test's settings), used here by name
from test_local_jobs import FAILURE_CODE, assert_nothing_left, berth, exec_job, make_repo, shown  # noqa: F401

NEEDS_CI = """\
stages: [build, test, deploy]
variables:
  LJ_MARKER: "{marker}"
compile:
  stage: build
  variables:
    ONLY_COMPILE: set-by-compile
  script:
    - echo compile >> "$SCRATCH/order"
lint:
  stage: build
  script:
    - echo lint >> "$SCRATCH/order"
nightly:
  stage: build
  script:
    - echo nightly >> "$SCRATCH/order"
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
unit:
  stage: test
  needs: [compile]
  script:
    - echo "unit sees ONLY_COMPILE=${{ONLY_COMPILE:-unset}}"
    - echo unit >> "$SCRATCH/order"
smoke:
  stage: test
  needs:
    - job: compile
      artifacts: false
    - job: nightly
      optional: true
    - job: not-in-this-file
      optional: true
  script:
    - echo smoke >> "$SCRATCH/order"
broken:
  stage: test
  needs: []
  script:
    - echo broken >> "$SCRATCH/order"
    - exit 7
deploy:
  stage: deploy
  needs: [unit, smoke]
  script:
    - echo deploy >> "$SCRATCH/order"
deploy-after-broken:
  stage: deploy
  needs: [compile, broken]
  script:
    - echo deploy-after-broken >> "$SCRATCH/order"
deploy-nightly:
  stage: deploy
  needs: [nightly]
  script:
    - echo deploy-nightly >> "$SCRATCH/order"
"""


@pytest.fixture
def executor():
    """exec always runs the shell executor (docs/pipeline.md): one backend is enough."""
    return "shell"


@pytest.fixture
def needs_repo(tmp_path):
    marker = "needs-" + secrets.token_hex(8)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return make_repo(tmp_path / "app", NEEDS_CI.format(marker=marker)), scratch, marker


def ran(scratch):
    """The jobs that ran, in the order they ran."""
    order = scratch / "order"
    return order.read_text().split() if order.exists() else []


def test_with_needs_runs_every_need_first_in_needs_order(berth, needs_repo):
    repo, scratch, marker = needs_repo
    res = exec_job(berth, repo, "deploy", "--with-needs", "--var", f"SCRATCH={scratch}")
    assert res.returncode == 0, shown(res)
    # compile before what needs it; unit before smoke (both ready: file order); lint and
    # broken are needed by nobody on the way; nightly is an optional need rules leave out.
    assert ran(scratch) == ["compile", "unit", "smoke", "deploy"], shown(res)
    assert "skipping job 'nightly'" in res.stderr, shown(res)
    # each job has its own variables: compile's do not reach unit
    assert "unit sees ONLY_COMPILE=unset" in res.stdout, shown(res)
    assert_nothing_left(berth, res, marker)


def test_without_the_flag_only_the_job_runs(berth, needs_repo):
    repo, scratch, marker = needs_repo
    res = exec_job(berth, repo, "deploy", "--var", f"SCRATCH={scratch}")
    assert res.returncode == 0, shown(res)
    assert ran(scratch) == ["deploy"], shown(res)
    assert_nothing_left(berth, res, marker)


def test_a_job_without_needs_runs_alone(berth, needs_repo):
    """--with-needs follows `needs:` only: lint has none, so nothing runs before it."""
    repo, scratch, marker = needs_repo
    res = exec_job(berth, repo, "lint", "--with-needs", "--var", f"SCRATCH={scratch}")
    assert res.returncode == 0, shown(res)
    assert ran(scratch) == ["lint"], shown(res)
    assert_nothing_left(berth, res, marker)


def test_with_needs_stops_at_the_first_failure_with_its_code(berth, needs_repo):
    repo, scratch, marker = needs_repo
    res = exec_job(berth, repo, "deploy-after-broken", "--with-needs",
                   "--var", f"SCRATCH={scratch}")
    assert res.returncode == 7, f"want broken's exit code 7\n{shown(res)}"
    assert ran(scratch) == ["compile", "broken"], shown(res)
    assert "job 'broken' failed" in res.stderr, shown(res)
    assert_nothing_left(berth, res, marker)


def test_a_need_rules_leave_out_is_gitlabs_error(berth, needs_repo):
    """GitLab refuses the pipeline: the need is not optional and rules leave it out."""
    repo, scratch, marker = needs_repo
    res = exec_job(berth, repo, "deploy-nightly", "--with-needs", "--var", f"SCRATCH={scratch}")
    assert res.returncode == FAILURE_CODE, shown(res)
    assert "'deploy-nightly' job needs 'nightly' job, but 'nightly' does not exist in the " \
        "pipeline" in res.stderr, shown(res)
    assert ".gitlab-ci.yml:" in res.stderr, f"the message should cite the file\n{shown(res)}"
    assert ran(scratch) == [], shown(res)
    assert_nothing_left(berth, res, marker)

    res = exec_job(berth, repo, "deploy-nightly", "--with-needs", "--source", "schedule",
                   "--var", f"SCRATCH={scratch}")
    assert res.returncode == 0, f"in a schedule pipeline nightly runs\n{shown(res)}"
    assert ran(scratch) == ["nightly", "deploy-nightly"], shown(res)
    assert_nothing_left(berth, res, marker)
