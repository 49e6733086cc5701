"""`berth pipeline`, end to end: which jobs GitLab would put in a pipeline, from a real git repo.

The corpus is tests/e2e/pipelines/<case>/: a `.gitlab-ci.yml` (plus included or other files) and
a `case.json` whose expectations come from GitLab's documented semantics, not from berth's
sources. Each case is one test; for it, build_repo() makes a real git repository in tmp_path:

- the case's files (all but case.json) are the first commit, on `main`;
- with `repo.branch` other than main, that branch is created on top of the first commit, so
  `compare_to: main` sees the branch's own commits and main stays at the first commit;
- with `repo.changed`, a second commit touches exactly those paths (appends a line, creating
  the file if needed): on a push pipeline they are HEAD's changes for `rules:changes`;
- `origin` is set to `repo.origin` (never fetched); with `repo.origin_head`,
  refs/remotes/origin/<head> points at HEAD and refs/remotes/origin/HEAD is a symbolic ref to it;
- with `repo.tag`, HEAD is tagged and checked out detached at the tag.

Each run of a case calls `berth pipeline -C <repo> --json ARGS` (no --json with --preview) with
BUILD_FAILURE_EXIT_CODE=77 and no CI_* variables in the environment. In ARGS, `{repo}` is the
repository's path and `{sha}` its HEAD commit. A run expects one of:

- "jobs": {name: when} — the complete list of visible jobs and each one's `when`; optional
  "order" (exact listing order), "stages" ({name: stage}), "allow_failure" ({name: bool}; jobs
  not named there that run on_success/always/delayed must have false), "why" ({name: [words]}:
  every `never` job must have a non-empty `why`, these words must appear in it); "waits_for"
  ({name: [jobs] or null}: the jobs in the pipeline it waits for, in any order; null for a job
  without `needs:`, which waits for the earlier stages) and "needs" ({name:
  null or [job names]}: its `needs:` as written, null without the key);
- "workflow": true — workflow:rules prevent the pipeline: `workflow` names workflow, no jobs;
- "preview": {key: value} — `--preview JOB` prints YAML `{JOB: {...}}` with these values
  (`variables`: the named keys, compared as strings); "absent": keys that must be missing or
  empty; "absent_variables": variable names that must not be there;
- "error": {"file", "line" (int or list of acceptable lines), "words"} — exit 77 and stderr
  with `FILE:LINE:` and every word (a nested list means any one of those words).

An error run also expects nothing on stdout. Four more tests cover the human listing (and that
it prints nothing but the error when a job fails to resolve), --preview of a hidden or unknown job, and that a
--vars-file value never reaches --preview's output.

PYTEST_DONT_REWRITE: the assertion messages below already show berth's command and output.
"""

import json
import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest

try:
    import yaml
except ImportError:  # python3-yaml missing: preview runs are skipped, the rest still run
    yaml = None

CASES_DIR = Path(__file__).resolve().parent / "pipelines"
CASES = sorted(p for p in CASES_DIR.iterdir() if (p / "case.json").is_file())

FAILURE_CODE = 77  # BUILD_FAILURE_EXIT_CODE in berth's environment (berth's own default is 2)
TIMEOUT = 60       # seconds per berth run

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Berth Test", "GIT_AUTHOR_EMAIL": "berth@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "Berth Test", "GIT_COMMITTER_EMAIL": "berth@example.com",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
}


# -- environment, git and berth ---------------------------------------------------------------

def clean_env(**extra):
    """The environment for git and berth: ours minus CI_*/GITLAB_*/GIT_* and CI, plus EXTRA.

    No user or system git config either, so nothing (init.defaultBranch, hooks, signing) leaks in.
    """
    env = {k: v for k, v in os.environ.items()
           if not (k == "CI" or k.startswith(("CI_", "GITLAB_", "GIT_")))}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    env.update(extra)
    return env


def git(repo, *args):
    """Run git in REPO; the stdout, stripped. Fails the test with git's stderr on error."""
    proc = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                           "-c", "tag.gpgsign=false", *args],
                          cwd=repo, env=clean_env(**GIT_IDENTITY), capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout.strip()


def case_files(case_dir):
    """{relative path: bytes} of every file in CASE_DIR except its case.json."""
    return {p.relative_to(case_dir).as_posix(): p.read_bytes()
            for p in sorted(case_dir.rglob("*"))
            if p.is_file() and p.relative_to(case_dir) != Path("case.json")}


def build_repo(dest, files, spec):
    """A git repository at DEST with FILES ({path: bytes}) shaped by SPEC (case.json's "repo").

    Returns HEAD's commit SHA. See the module docstring for the shape.
    """
    dest.mkdir(parents=True)
    for rel, data in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "initial")

    branch = spec.get("branch") or "main"
    if branch != "main":
        git(dest, "checkout", "-q", "-b", branch)

    changed = spec.get("changed") or []
    if changed:
        for rel in changed:
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as f:
                f.write("changed by the second commit\n")
        git(dest, "add", "--", *changed)
        git(dest, "commit", "-q", "-m", "change " + " ".join(changed))

    if spec.get("origin"):
        git(dest, "remote", "add", "origin", spec["origin"])
    head = spec.get("origin_head")
    if head:
        git(dest, "update-ref", f"refs/remotes/origin/{head}", "HEAD")
        git(dest, "symbolic-ref", "refs/remotes/origin/HEAD", f"refs/remotes/origin/{head}")

    if spec.get("tag"):
        git(dest, "tag", spec["tag"])
        git(dest, "checkout", "-q", "--detach", spec["tag"])
    return git(dest, "rev-parse", "HEAD")


def run_berth(berth_bin, repo, args, as_json=True, **env):
    """`berth pipeline -C REPO [--json] ARGS` with exit code 77 for build failures."""
    cmd = [str(berth_bin), "pipeline", "-C", str(repo)] + (["--json"] if as_json else []) + list(args)
    return subprocess.run(cmd, env=clean_env(BUILD_FAILURE_EXIT_CODE=str(FAILURE_CODE), **env),
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=repo)


def shown(proc):
    """berth's command line, exit code and output, for assertion messages."""
    return (f"$ {' '.join(proc.args)}\nexit code {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}--- stderr ---\n{proc.stderr}")


def option(args, name, default=None):
    """The value after NAME in ARGS, else DEFAULT."""
    return args[args.index(name) + 1] if name in args else default


# -- checks for one run -----------------------------------------------------------------------

def check_listing(run, spec, proc):
    out = f"\n{shown(proc)}"
    assert proc.returncode == 0, f"berth failed{out}"
    try:
        data = json.loads(proc.stdout)
    except ValueError as e:
        raise AssertionError(f"stdout is not JSON ({e}){out}")
    assert isinstance(data, dict), f"the JSON is not an object{out}"

    source = option(run["args"], "--source", "push")
    assert data.get("source") == source, f"source: want {source!r}, got {data.get('source')!r}{out}"
    tag = bool(spec.get("tag"))
    ref = spec["tag"] if tag else (spec.get("branch") or "main")
    assert data.get("ref") == ref, f"ref: want {ref!r}, got {data.get('ref')!r}{out}"
    assert data.get("tag") is tag, f"tag: want {tag}, got {data.get('tag')!r}{out}"

    jobs = data.get("jobs")
    assert isinstance(jobs, list), f"jobs is not a list{out}"
    if run.get("workflow"):
        why = data.get("workflow")
        assert isinstance(why, str) and "workflow" in why.lower(), \
            f"workflow:rules should prevent this pipeline: want a `workflow` string naming workflow, " \
            f"got {why!r}{out}"
        assert jobs == [], f"no pipeline, so no jobs; got {[j.get('name') for j in jobs]}{out}"
        return
    assert data.get("workflow") is None, f"the pipeline should exist, got workflow={data.get('workflow')!r}{out}"

    names = [j.get("name") for j in jobs]
    assert len(names) == len(set(names)), f"a job is listed twice: {names}{out}"
    want = run["jobs"]
    assert set(names) == set(want), \
        f"jobs: missing {sorted(set(want) - set(names))}, unexpected {sorted(set(names) - set(want))}{out}"
    if "order" in run:
        assert names == run["order"], f"order: want {run['order']}, got {names}{out}"

    by_name = {j["name"]: j for j in jobs}
    wrong = {n: (w, by_name[n].get("when")) for n, w in want.items() if by_name[n].get("when") != w}
    assert not wrong, "when (want, got): " + ", ".join(f"{n}: {w}" for n, w in wrong.items()) + out

    for name, stage in run.get("stages", {}).items():
        assert by_name[name].get("stage") == stage, \
            f"{name}: stage want {stage!r}, got {by_name[name].get('stage')!r}{out}"

    failing = run.get("allow_failure", {})
    for name, job in by_name.items():
        if name in failing:
            assert job.get("allow_failure") is failing[name], \
                f"{name}: allow_failure want {failing[name]}, got {job.get('allow_failure')!r}{out}"
        elif job.get("when") in ("on_success", "always", "delayed"):
            assert job.get("allow_failure") is False, \
                f"{name}: allow_failure should default to false, got {job.get('allow_failure')!r}{out}"

    for name, job in by_name.items():
        if job.get("when") == "never":
            why = job.get("why")
            assert isinstance(why, str) and why.strip(), f"{name} is never: its why must say why, got {why!r}{out}"
            for word in run.get("why", {}).get(name, []):
                assert word.lower() in why.lower(), f"{name}: why {why!r} should mention {word!r}{out}"

    for name, waits in run.get("waits_for", {}).items():
        got = by_name[name].get("waits_for")
        if waits is None:
            assert got is None, f"{name}: waits_for want null (earlier stages), got {got!r}{out}"
        else:
            assert isinstance(got, list) and sorted(got) == sorted(waits), \
                f"{name}: waits_for want {sorted(waits)}, got {got!r}{out}"
    for name, needs in run.get("needs", {}).items():
        got = by_name[name].get("needs")
        got = got if got is None else [n.get("job") for n in got]
        assert got == needs, f"{name}: needs want {needs!r}, got {got!r}{out}"


def check_preview(run, proc):
    job_name = option(run["args"], "--preview")
    out = f"\n{shown(proc)}"
    assert proc.returncode == 0, f"berth --preview failed{out}"
    try:
        doc = yaml.safe_load(proc.stdout)
    except yaml.YAMLError as e:
        raise AssertionError(f"--preview output is not YAML ({e}){out}")
    assert isinstance(doc, dict) and job_name in doc, f"want a top-level mapping with key {job_name!r}{out}"
    job = doc[job_name]
    assert isinstance(job, dict), f"{job_name!r} should map to the job's keywords{out}"

    for key, value in run["preview"].items():
        assert key in job, f"{key}: missing from the resolved job{out}"
        if key == "variables":
            got = job[key] or {}
            assert isinstance(got, dict), f"variables is not a mapping: {got!r}{out}"
            for var, val in value.items():
                assert var in got, f"variables: {var} missing (have {sorted(got)}){out}"
                assert str(got[var]) == str(val), f"variables: {var} want {val!r}, got {got[var]!r}{out}"
        else:
            assert job[key] == value, f"{key}: want {value!r}, got {job[key]!r}{out}"
    for key in run.get("absent", []):
        assert job.get(key) in (None, [], {}, ""), f"{key} should not be in the resolved job: {job.get(key)!r}{out}"
    for var in run.get("absent_variables", []):
        assert var not in (job.get("variables") or {}), f"variables: {var} should not be there{out}"


def check_error(run, proc):
    err = run["error"]
    out = f"\n{shown(proc)}"
    assert proc.returncode == FAILURE_CODE, \
        f"want exit code {FAILURE_CODE} (BUILD_FAILURE_EXIT_CODE), got {proc.returncode}{out}"
    assert proc.stdout == "", f"on an error stdout stays empty: only the error, on stderr{out}"
    fname = err.get("file", ".gitlab-ci.yml")
    lines = err["line"] if isinstance(err["line"], list) else [err["line"]]
    found = [int(m) for m in re.findall(r"(?:^|[\s/'\"(\[])" + re.escape(fname) + r":(\d+):", proc.stderr)]
    assert found, f"stderr should cite {fname}:LINE:{out}"
    assert set(found) & set(lines), f"stderr cites {fname} lines {found}, want one of {lines}{out}"
    text = proc.stderr.lower()
    for word in err.get("words", []):
        alternatives = word if isinstance(word, list) else [word]
        assert any(w.lower() in text for w in alternatives), \
            f"stderr should mention {' or '.join(map(repr, alternatives))}{out}"


# -- the corpus -------------------------------------------------------------------------------

@pytest.mark.parametrize("case_dir", CASES, ids=[p.name for p in CASES])
def test_case(case_dir, berth_bin, tmp_path):
    case = json.loads((case_dir / "case.json").read_text())
    spec = case.get("repo") or {}
    repo = tmp_path / "repo"
    sha = build_repo(repo, case_files(case_dir), spec)

    failures, skipped = [], []
    for i, run in enumerate(case["runs"]):
        args = [a.replace("{repo}", str(repo)).replace("{sha}", sha) for a in run.get("args", [])]
        run = dict(run, args=args)
        preview = "--preview" in args
        if preview and yaml is None:
            skipped.append(f"run {i} {args}")
            continue
        proc = run_berth(berth_bin, repo, args, as_json=not preview)
        try:
            if "error" in run:
                check_error(run, proc)
            elif preview:
                check_preview(run, proc)
            else:
                check_listing(run, spec, proc)
        except AssertionError as e:
            failures.append(f"[run {i}: {' '.join(args) or '(no args)'}] {e}")

    if failures:
        pytest.fail(f"{case_dir.name}: {case['doc']}\n\n" + "\n\n".join(failures), pytrace=False)
    if skipped:
        pytest.skip("python3-yaml is not importable, so --preview runs were skipped: " + "; ".join(skipped))


def test_corpus_is_large_enough():
    """The corpus itself: enough cases, each with a doc and at least one run."""
    assert len(CASES) >= 30, f"only {len(CASES)} cases in {CASES_DIR}"
    for case_dir in CASES:
        case = json.loads((case_dir / "case.json").read_text())
        assert case.get("doc") and case.get("runs"), f"{case_dir.name}: case.json needs doc and runs"
        assert (case_dir / ".gitlab-ci.yml").is_file(), f"{case_dir.name}: no .gitlab-ci.yml"


# -- beyond the corpus ------------------------------------------------------------------------

SIMPLE_CI = """\
stages: [build, deploy]
.template:
  script: [echo template]
compile:
  stage: build
  extends: .template
Deploy to production:
  stage: deploy
  script: [./deploy.sh]
  when: manual
nightly:
  stage: build
  script: [echo]
  only: [schedules]
"""


def simple_repo(tmp_path, text=SIMPLE_CI, **files):
    repo = tmp_path / "repo"
    build_repo(repo, dict({".gitlab-ci.yml": text.encode()}, **{k: v.encode() for k, v in files.items()}),
               {"branch": "main", "origin": "git@gitlab.example.com:group/app.git", "origin_head": "main"})
    return repo


def test_human_listing_names_every_job(berth_bin, tmp_path):
    """Without --json berth prints a listing for people: it succeeds and names every visible job."""
    repo = simple_repo(tmp_path)
    proc = run_berth(berth_bin, repo, [], as_json=False)
    assert proc.returncode == 0, f"berth failed\n{shown(proc)}"
    for name in ("compile", "Deploy to production", "nightly"):
        assert name in proc.stdout, f"{name!r} missing from the listing\n{shown(proc)}"


def test_error_in_a_later_job_prints_nothing_on_stdout(berth_bin, tmp_path):
    """The listing for people fails whole: a bad rules:if in the last job (found only when that
    job is decided) leaves stdout empty, without the pipeline's header or the earlier jobs."""
    repo = simple_repo(tmp_path, SIMPLE_CI + """\
broken:
  stage: deploy
  script: [echo]
  rules:
    - if: $X == "a" &&
""")
    proc = run_berth(berth_bin, repo, [], as_json=False)
    assert proc.returncode == FAILURE_CODE, f"want exit code {FAILURE_CODE}\n{shown(proc)}"
    assert proc.stdout == "", f"stdout should be empty on an error\n{shown(proc)}"
    assert ".gitlab-ci.yml:" in proc.stderr and "&&" in proc.stderr, \
        f"stderr should cite the bad expression\n{shown(proc)}"


@pytest.mark.parametrize("job", [".template", "no-such-job"])
def test_preview_of_hidden_or_unknown_job_fails(berth_bin, tmp_path, job):
    """--preview needs a visible job: a hidden or unknown name is an error naming the job."""
    repo = simple_repo(tmp_path)
    proc = run_berth(berth_bin, repo, ["--preview", job], as_json=False)
    assert proc.returncode != 0, f"--preview {job} should fail\n{shown(proc)}"
    assert job in proc.stderr, f"stderr should name {job!r}\n{shown(proc)}"


def test_vars_file_value_stays_out_of_preview(berth_bin, tmp_path):
    """A --vars-file value copied into job variables is used (the rule sees it) but never printed:
    --preview shows variables as written ($TOKEN), and neither output carries the value."""
    canary = "canary-" + secrets.token_hex(12)
    secrets_file = tmp_path / "secret.env"  # outside the repository
    secrets_file.write_text(f"TOKEN={canary}\n")
    repo = simple_repo(tmp_path, """\
variables:
  T: $TOKEN
deploy:
  variables:
    U: ${TOKEN}
    V: prefix-$T
  script:
    - echo "$T" "$U"
  rules:
    - if: $TOKEN =~ /^canary-/
""")
    listing = run_berth(berth_bin, repo, ["--vars-file", str(secrets_file)])
    assert listing.returncode == 0, f"berth failed\n{shown(listing)}"
    assert canary not in listing.stdout + listing.stderr, f"the --vars-file value leaked\n{shown(listing)}"
    jobs = {j["name"]: j["when"] for j in json.loads(listing.stdout)["jobs"]}
    assert jobs == {"deploy": "on_success"}, f"the rule should see TOKEN from --vars-file\n{shown(listing)}"

    proc = run_berth(berth_bin, repo, ["--vars-file", str(secrets_file), "--preview", "deploy"], as_json=False)
    assert proc.returncode == 0, f"berth --preview failed\n{shown(proc)}"
    assert canary not in proc.stdout + proc.stderr, f"the --vars-file value leaked into --preview\n{shown(proc)}"
    if yaml is None:
        pytest.skip("python3-yaml is not importable: the preview's variables were not checked")
    variables = (yaml.safe_load(proc.stdout) or {}).get("deploy", {}).get("variables") or {}
    assert str(variables.get("U")) == "${TOKEN}", f"variables should be shown as written\n{shown(proc)}"
