"""A repository whose local include is a symlink to a file outside it.

The attack: someone runs `berth pipeline` or `berth dry-run` in a repository they did not write
(a merge request's branch, a clone), and `include: local: x.yml` is a symlink to a file of
theirs (~/.ssh/..., /etc/...): berth would read it and print what it holds as jobs or in error
messages. GitLab reads an include from the repository's content only, and a symlink there is
the link's own text. What must hold: an include (or `.gitlab-ci.yml` itself) that is a symlink,
that passes through one, or that leaves the repository is refused as a build failure whose
message names the include, and nothing of the file outside reaches the output.
"""

import json
import os
import subprocess

import pytest

from test_pipeline import FAILURE_CODE, build_repo, clean_env, git, run_berth, shown

CANARY = "canary-outside-9c41e7"


@pytest.fixture
def outside(tmp_path):
    """A directory next to the repository (not in it) with a pipeline file holding the canary."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "jobs.yml").write_text(f"{CANARY}:\n  script: [echo {CANARY}]\n")
    return d


def repo_with(tmp_path, gitlab_ci, links):
    """A committed repository with GITLAB_CI as its .gitlab-ci.yml (None: a link, from LINKS)
    and LINKS ({path: target}) as symlinks."""
    repo = tmp_path / "repo"
    files = {"README": b"x\n"}
    if gitlab_ci is not None:
        files[".gitlab-ci.yml"] = gitlab_ci.encode()
    build_repo(repo, files, {})
    for path, target in links.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, repo / path)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "links")
    return repo


INCLUDE = "include:\n  - local: {}\nbuild:\n  script: [make]\n"

CASES = [
    # (id, .gitlab-ci.yml, {link: target}, what the message names, why)
    ("absolute-link", INCLUDE.format("secret.yml"), {"secret.yml": "{outside}/jobs.yml"},
     "include 'secret.yml'", "symlink"),
    ("relative-link-out", INCLUDE.format("ci/secret.yml"),
     {"ci/secret.yml": "../../outside/jobs.yml"}, "include 'ci/secret.yml'", "symlink"),
    ("linked-directory", INCLUDE.format("ci/jobs.yml"), {"ci": "{outside}"},
     "include 'ci/jobs.yml'", "symlink"),
    ("wildcard-match", "include: 'ci/*.yml'\nbuild:\n  script: [make]\n",
     {"ci/a.yml": "{outside}/jobs.yml"}, "include 'ci/a.yml'", "symlink"),
    ("gitlab-ci-itself", None, {".gitlab-ci.yml": "{outside}/jobs.yml"}, "'.gitlab-ci.yml'",
     "symlink"),
    # Policy, not an escape: GitLab reads a link's text, so a link inside the repository does
    # not work there either; berth says so rather than show a pipeline GitLab would refuse.
    ("link-inside", INCLUDE.format("b.yml"), {"b.yml": "a.yml", "a.yml": "{outside}/jobs.yml"},
     "include 'b.yml'", "symlink"),
]


@pytest.mark.parametrize("gitlab_ci, links, names, why", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_include_through_a_symlink_is_refused(berth_bin, tmp_path, outside, gitlab_ci, links,
                                              names, why):
    repo = repo_with(tmp_path, gitlab_ci,
                     {k: v.format(outside=outside) for k, v in links.items()})
    for args, as_json in (([], True), (["--preview", "build"], False)):
        proc = run_berth(berth_bin, repo, args, as_json=as_json)
        assert proc.returncode == FAILURE_CODE, shown(proc)
        assert names in proc.stderr and why in proc.stderr, shown(proc)
        assert CANARY not in proc.stdout + proc.stderr, shown(proc)


def test_dry_run_refuses_it_too(berth_bin, tmp_path, outside):
    repo = repo_with(tmp_path, INCLUDE.format("secret.yml"),
                     {"secret.yml": f"{outside}/jobs.yml"})
    proc = subprocess.run([str(berth_bin), "dry-run", "build", "-C", str(repo)],
                          env=clean_env(BUILD_FAILURE_EXIT_CODE=str(FAILURE_CODE)),
                          capture_output=True, text=True, timeout=60, cwd=repo)
    assert proc.returncode == FAILURE_CODE, shown(proc)
    assert "include 'secret.yml'" in proc.stderr, shown(proc)
    assert CANARY not in proc.stdout + proc.stderr, shown(proc)


def test_wildcard_walk_does_not_enter_a_linked_directory(berth_bin, tmp_path, outside):
    """`ci/**.yml` walks the work tree: a directory link in it is a file to git (a blob holding
    the name), so GitLab finds nothing under it; berth must not follow it either."""
    repo = repo_with(tmp_path, "include: 'ci/**.yml'\nbuild:\n  script: [make]\n",
                     {"ci/linked": str(outside)})
    (repo / "ci" / "own").mkdir()
    (repo / "ci" / "own" / "jobs.yml").write_text("own:\n  script: [echo own]\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "own jobs")
    proc = run_berth(berth_bin, repo, [])
    assert proc.returncode == 0, shown(proc)
    names = [j["name"] for j in json.loads(proc.stdout)["jobs"]]
    assert sorted(names) == ["build", "own"], shown(proc)
    assert CANARY not in proc.stdout + proc.stderr, shown(proc)


def test_wildcard_below_a_linked_directory_is_refused(berth_bin, tmp_path, outside):
    """`ci/*.yml` with `ci` itself a link: the search would start outside; refused, naming it."""
    repo = repo_with(tmp_path, "include: 'ci/*.yml'\nbuild:\n  script: [make]\n",
                     {"ci": str(outside)})
    proc = run_berth(berth_bin, repo, [])
    assert proc.returncode == FAILURE_CODE, shown(proc)
    assert "include 'ci/*.yml'" in proc.stderr and "symlink" in proc.stderr, shown(proc)
    assert CANARY not in proc.stdout + proc.stderr, shown(proc)
