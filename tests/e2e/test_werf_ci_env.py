"""berth's werf environment against `werf ci-env gitlab`'s, variable by variable (docs/werf.md,
"The environment" and "Where berth differs from `werf ci-env gitlab`").

CI_ENV_GO is werf's mapping as a table of (variable, value template, condition, overwrite),
read from werf's cmd/werf/ci_env/ci_env.go (generateGitlabEnvs and writeEnv) on werf's 1.2
branch, commit fdeed2f1797b04ff4d9762a596f959916f3e68ff (the file as of 3018b9c20): werf 1.2 is
what the seed pipeline's `trdl use werf 1.2` runs. writeEnv's rule: a variable written with
overwrite=False keeps a non-empty value already set; a row whose condition fails writes a
comment, changing nothing. werf 2 (main, commit 73d8d4ac99352a6b05189cfcfa598ad6e0868197, the
file as of 5161412b0) changed three things: WERF_DOCKER_CONFIG beside DOCKER_CONFIG, and the
pipeline and job URLs from CI_PIPELINE_URL and CI_JOB_URL (bb86d5efd, "fix annotation with
pipeline url"). berth follows werf 2 there: DIFFERENCES lists those names with berth's rule,
and the docs section names each of them.

Each case is a job with its CI/CD variables (and what its script exports before werf, as
`. $(trdl use werf 1.2 ea)` exports TRDL_USE_WERF_GROUP_CHANNEL="1.2 ea"), run through the
runner harness: `werf` on the script's PATH (berth's wrapper) and `berth werf` run the fake
werf (tests/e2e/bin/werf), which records the environment it got. No real werf runs here: the
table is werf's side.
"""

import re
import shlex
from pathlib import Path

import pytest

from lib import runner as rn
from test_protocol import expect
from test_werf import berth_cmd, fake, jobs, started_job  # noqa: F401 (fixtures)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "werf.md"
DIFFERENCES_SECTION = "## Where berth differs from `werf ci-env gitlab`"


def has(*names):
    return lambda e: all(e.get(n) for n in names)


def always(_):
    return True


# Masterminds/semver v1 (werf 1.2's go.mod), the versions it parses and how they compare.
SEMVER = re.compile(r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
                    r"(-([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?(\+([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?")


def semver(text):
    m = SEMVER.fullmatch(text)
    if not m:
        return None
    core = tuple(int((g or ".0")[1:] if i else g) for i, g in enumerate(m.group(1, 2, 3)))
    return core, m.group(5) or ""


def semver_cmp(a, b):
    """-1, 0, 1 for versions whose prereleases are compared only against none."""
    if a[0] != b[0]:
        return -1 if a[0] < b[0] else 1
    return (not a[1]) - (not b[1])


def garbled_colors(e):
    """GitLab after 12.1.3 and before 12.2.0: werf turns its colours off."""
    v = semver(e.get("CI_SERVER_VERSION", ""))
    return bool(v) and semver_cmp(v, semver("12.1.3")) > 0 and semver_cmp(v, semver("12.2.0")) < 0


def gitlab_repo(e):
    repo = e.get("WERF_REPO", "")
    return bool(e.get("CI_REGISTRY_IMAGE")) and (not repo or
                                                 repo.startswith(e.get("CI_REGISTRY", "")))


# werf 1.2's generateGitlabEnvs, in its order: (variable, value template, condition, overwrite).
# Rows of one name are tried in order; the first whose condition holds gives the value.
CI_ENV_GO = [
    ("DOCKER_CONFIG", "{WERF_SESSION_DOCKER_CONFIG}", always, True),
    ("WERF_REPO", "{CI_REGISTRY_IMAGE}", has("CI_REGISTRY_IMAGE"), False),
    ("WERF_REPO_CONTAINER_REGISTRY", "gitlab", gitlab_repo, False),
    ("WERF_ENV", "{CI_ENVIRONMENT_SLUG}", has("CI_ENVIRONMENT_SLUG"), False),
    ("WERF_ADD_ANNOTATION_WERF_RELEASE_CHANNEL",
     "werf.io/release-channel={TRDL_USE_WERF_GROUP_CHANNEL}",
     has("TRDL_USE_WERF_GROUP_CHANNEL"), True),
    ("WERF_ADD_ANNOTATION_PROJECT_GIT", "project.werf.io/git={CI_PROJECT_URL}",
     has("CI_PROJECT_URL"), True),
    ("WERF_ADD_ANNOTATION_CI_COMMIT", "ci.werf.io/commit={CI_COMMIT_SHA}",
     has("CI_COMMIT_SHA"), True),
    ("WERF_ADD_ANNOTATION_CI_GIT_TAG", "ci.werf.io/tag={CI_COMMIT_TAG}",
     has("CI_COMMIT_TAG"), True),
    ("WERF_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL",
     "gitlab.ci.werf.io/pipeline-url={CI_PROJECT_URL}/pipelines/{CI_PIPELINE_ID}",
     has("CI_PROJECT_URL", "CI_PIPELINE_ID"), True),
    ("WERF_ADD_ANNOTATION_GITLAB_CI_JOB_URL",
     "gitlab.ci.werf.io/job-url={CI_PROJECT_URL}/-/jobs/{CI_JOB_ID}",
     has("CI_PROJECT_URL", "CI_JOB_ID"), True),
    ("WERF_LOG_COLOR_MODE", "off", garbled_colors, False),
    ("WERF_LOG_COLOR_MODE", "on", always, False),
    ("WERF_LOG_PROJECT_DIR", "1", always, False),
    ("WERF_ENABLE_PROCESS_EXTERMINATOR", "1", always, False),
    ("WERF_LOG_TERMINAL_WIDTH", "130", always, False),
]

# Where berth deliberately differs (docs/werf.md, DIFFERENCES_SECTION): berth's rows instead.
DIFFERENCES = {
    # The job's docker config, which prepare logged in to, not werf's temporary copy of
    # ~/.docker; and WERF_DOCKER_CONFIG too, as werf 2 sets it.
    "DOCKER_CONFIG": [("DOCKER_CONFIG", "{WORKSPACE}/docker", always, True)],
    "WERF_DOCKER_CONFIG": [("WERF_DOCKER_CONFIG", "{WORKSPACE}/docker", always, True)],
    # werf 2's URLs: GitLab's own, where werf 1.2 built the pipeline's without `/-/`.
    "WERF_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL": [
        ("WERF_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL",
         "gitlab.ci.werf.io/pipeline-url={CI_PIPELINE_URL}", has("CI_PIPELINE_URL"), True)],
    "WERF_ADD_ANNOTATION_GITLAB_CI_JOB_URL": [
        ("WERF_ADD_ANNOTATION_GITLAB_CI_JOB_URL",
         "gitlab.ci.werf.io/job-url={CI_JOB_URL}", has("CI_JOB_URL"), True)],
}

# What berth sets that `werf ci-env` does not, each in docs/werf.md's tables and lists.
ADDITIONS = {"WERF_SYNCHRONIZATION", "WERF_PARALLEL", "WERF_TELEMETRY", "WERF_TMP_DIR",
             "WERF_HOME", "KUBECONFIG", "WERF_KUBE_CONFIG"}


def mapping(rows, inputs):
    """{variable: value} werf's writeEnv leaves for `rows` given the environment `inputs`."""
    out = {}
    for name in dict.fromkeys(r[0] for r in rows):
        own = inputs.get(name) or None
        out[name] = own
        for _, template, cond, overwrite in (r for r in rows if r[0] == name):
            if cond(inputs):
                if overwrite or not own:
                    out[name] = template.format_map(inputs)
                break
    return out


def expected(inputs):
    rows = [r for r in CI_ENV_GO if r[0] not in DIFFERENCES]
    rows += [r for diff in DIFFERENCES.values() for r in diff]
    return mapping(rows, inputs)


GITLAB = "registry.gitlab.example.com"
URLS = {
    "CI_PROJECT_URL": "https://gitlab.example.com/group/app",
    "CI_PIPELINE_URL": "https://gitlab.example.com/group/app/-/pipelines/5000",
    "CI_JOB_URL": "https://gitlab.example.com/group/app/-/jobs/1",
}
# No login to GitLab's registry here (there is none): berth's login is its own (docs/werf.md).
NO_LOGIN = {"CI_REGISTRY_USER": "", "CI_REGISTRY_PASSWORD": ""}

# (name, the job's CI/CD variables, what its script exports before werf)
CASES = [
    ("gitlab-registry-tag-environment-channel",
     {"CI_REGISTRY": GITLAB, "CI_REGISTRY_IMAGE": f"{GITLAB}/group/app", **URLS,
      "CI_COMMIT_TAG": "v1.2.3", "CI_ENVIRONMENT_SLUG": "review-42",
      "CI_SERVER_VERSION": "17.5.1-ee"},
     {"TRDL_USE_WERF_GROUP_CHANNEL": "1.2 ea"}),
    ("another-registry-no-tag-no-environment-gitlab-12.1",
     {"CI_REGISTRY": GITLAB, "CI_REGISTRY_IMAGE": f"{GITLAB}/group/app", **URLS,
      "CI_SERVER_VERSION": "12.1.6-ee"},
     {"WERF_REPO": "cr.selcloud.ru/reg/app"}),
    ("a-repo-on-gitlabs-registry-set-by-the-script",
     {"CI_REGISTRY": GITLAB, "CI_REGISTRY_IMAGE": f"{GITLAB}/group/app",
      "CI_SERVER_VERSION": "12.1.3"},
     {"WERF_REPO": f"{GITLAB}/group/other"}),
    ("the-jobs-own-values",
     {"CI_REGISTRY": GITLAB, "CI_REGISTRY_IMAGE": f"{GITLAB}/group/app", **URLS,
      "CI_ENVIRONMENT_SLUG": "production", "WERF_ENV": "custom",
      "WERF_LOG_COLOR_MODE": "off", "WERF_LOG_TERMINAL_WIDTH": "200",
      "WERF_REPO_CONTAINER_REGISTRY": "default",
      "WERF_ADD_ANNOTATION_CI_COMMIT": "ci.werf.io/commit=mine",
      "WERF_ADD_ANNOTATION_CI_GIT_TAG": "ci.werf.io/tag=mine",
      "WERF_ADD_ANNOTATION_PROJECT_GIT": "project.werf.io/git=mine"},
     {"TRDL_USE_WERF_GROUP_CHANNEL": "2 stable",
      "WERF_ADD_ANNOTATION_WERF_RELEASE_CHANNEL": "werf.io/release-channel=mine"}),
    ("no-registry-image-gitlab-12.2-rc",
     {"CI_SERVER_VERSION": "12.2.0-rc1"}, {}),
]


def test_the_table_is_werfs_rule_for_colors():
    """The semver window werf 1.2 uses, as Masterminds/semver orders versions."""
    off = [v for v in ("12.1.3", "12.1.3+ee", "12.1.4", "12.1.6-ee", "v12.1.9", "12.2.0-rc1",
                       "12.2.0", "12.2", "12.1", "17.5.1-ee", "bogus", "12.1.5.1")
           if garbled_colors({"CI_SERVER_VERSION": v})]
    assert off == ["12.1.4", "12.1.6-ee", "v12.1.9", "12.2.0-rc1"], off


def test_every_difference_is_documented():
    text = DOCS.read_text()
    assert DIFFERENCES_SECTION in text, f"{DOCS} has no section {DIFFERENCES_SECTION!r}"
    section = text.split(DIFFERENCES_SECTION, 1)[1].split("\n## ", 1)[0]
    missing = [name for name in DIFFERENCES if f"`{name}`" not in section]
    assert not missing, f"{DOCS}, {DIFFERENCES_SECTION!r} does not name {missing}"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_berths_werf_environment_is_werf_ci_envs(runner, settings, fake, jobs, berth_cmd, case):
    name, variables, exports = case
    settings.write(kube_preflight=False)
    job = started_job(jobs(1, variables={**NO_LOGIN, **variables}))
    commands = [f"export {k}={shlex.quote(v)}" for k, v in exports.items()]
    commands += ["werf build --case=wrapper", f"{berth_cmd} werf build --case=berth"]
    expect(job.run("build_script", commands=commands), rn.OK)

    inputs = {**job.variables(), **exports, "WORKSPACE": str(job.workspace)}
    want = expected(inputs)
    seen = {r["argv"][-1]: r["env"] for r in fake.records()}
    assert set(seen) == {"--case=wrapper", "--case=berth"}, seen.keys()
    for how, env in seen.items():
        wrong = {k: (v, env.get(k)) for k, v in want.items() if env.get(k) != v}
        assert not wrong, f"{name}, {how}: {{variable: (werf ci-env's, berth's)}}: {wrong}"
        # Nothing else of werf's that neither the job nor the table nor the docs set.
        werfs = {k for k in env if k.startswith("WERF_") or k in ("DOCKER_CONFIG", "KUBECONFIG")}
        extra = werfs - set(want) - ADDITIONS - set(inputs)
        assert not extra, f"{name}, {how}: berth set {sorted(extra)}, which no table lists"
    expect(job.cleanup(), rn.OK)
