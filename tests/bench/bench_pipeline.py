#!/usr/bin/env python3
"""berth's pipeline benchmark: how long `berth pipeline` takes to list a repository's jobs.

Two git repositories are built in a temp dir with the git CLI (fixed author, branch main, an
`origin` remote git@gitlab.example.com:group/app.git): the seed werf pipeline (3 jobs, 2 hidden
templates) and a generated one of 200 visible jobs over 5 stages, deterministic, built from
hidden templates chained 3-4 deep by `extends` (.base -> .lang-N -> .env-M -> .deep-K, list form
for some jobs), each job with its own variables, `rules` (`==`, `=~ /re/`, `&&`, `||`) or
`only`/`except`, some review environments, a `default:` block, YAML anchors and one `!reference`.
Both are checked once before timing: `berth pipeline -C REPO --json` must list exactly the
expected jobs.

Each round then runs, for each repository, `berth pipeline -C REPO --json` twice: once for wall
time (time.perf_counter_ns around subprocess.run from this process, output captured and checked:
fork, exec, parse, print, exit, wait) and once for peak RSS (ru_maxrss from wait4). `true` is run
the same way as the fork/exec floor, and printed. The RSS run goes through a tiny C helper
compiled here that forks, execs and wait4()s the command: on Linux an exec'd child's ru_maxrss
starts at its parent's RSS (the kernel folds the old mm's high-water mark in at exec, vfork or
not), so a direct child of this Python process never reports less than Python's own ~15 MiB;
with the helper the floor is its ~1 MiB (shown by `true`). Without a C compiler the RSS comes
from os.wait4 on a Popen here, and the output says that it is inflated.

If gitlab-ci-local is installed (on PATH, or in DIR/node_modules/.bin with --gcl DIR),
`gitlab-ci-local --list` runs in a copy of each repository (it writes .gitlab-ci-local/ there;
its --cwd wants a relative path, so it runs in the copy) the same two ways, interleaved in the
same loop but only in --gcl-rounds of the rounds, spread evenly: node takes 1-2 s a run, 30
rounds would take minutes. The berth/gcl ratios of the medians are printed, and any difference
between the jobs it lists and the ones berth does not mark `never`. gitlab-ci-local >= 4.74
needs Node >= 22; on older Node it dies at start-up, which is reported and skipped (4.73.0
works on Node 20).

Targets, ratios of medians to floors measured in the same rounds (tests/bench/floors.py,
docs/performance.md): the seed pipeline at most 8 execs of `true`, the 200-job pipeline at most
18 (wall, as measured here, so including the fork/exec floor itself); with gitlab-ci-local
installed, berth at most 0.1x its time on each. A benchmark, not a test: it exits 0 whatever the
figures are, non-zero only when something broke (berth failed or listed the wrong jobs, git
failed, gitlab-ci-local --list failed or printed no job table).

Usage: python3 tests/bench/bench_pipeline.py [--rounds N] [--gcl DIR] [--gcl-rounds N]
The berth binary is $BERTH_BIN, default build/berth; it builds nothing of berth's.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import floors

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ORIGIN = "git@gitlab.example.com:group/app.git"
# Room for a loaded machine: berth's reading is CPU time, which load stretches more than an
# exec of true (docs/performance.md, "Targets").
TARGETS_PER_TRUE = {"seed": 8.0, "200 jobs": 18.0}
TARGET_PER_GCL = 0.1
TIMEOUT = 120  # seconds for any one run

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Berth Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "Berth Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
}

SEED_YAML = """\
variables:
  WERF_REPO: ${SEL_REGISTRY_DOMAIN}/${SEL_REGISTRY}/${CI_PROJECT_PATH}
before_script:
  - type trdl && . $(trdl use werf 1.2 ea)
  - werf version
  - type werf && source $(werf ci-env gitlab --as-file)
  - werf cr login ${SEL_REGISTRY_DOMAIN}
after_script:
  - werf cr logout ${SEL_REGISTRY_DOMAIN}
stages: [deploy, cleanup]
.base_deploy: {stage: deploy, script: [werf converge], except: [schedules], tags: [werf]}
Deploy to test:       {extends: .base_deploy, environment: {name: test}, when: manual}
Deploy to production: {extends: .base_deploy, environment: {name: production}, when: manual}
.base_clean_up:
  stage: cleanup
  variables: {WERF_PARALLEL: 0}
  script: [werf cleanup]
  rules: [{if: '$CI_PIPELINE_SOURCE == "schedule"', when: always}]
  tags: [werf]
  resource_group: cleanup
Clean up: {extends: .base_clean_up}
"""
SEED_JOBS = ["Deploy to test", "Deploy to production", "Clean up"]

# The rusage helper: `rusage OUT CMD ARGS...` runs CMD with stdin, stdout and stderr on
# /dev/null, waits for it with wait4() and writes "EXIT_CODE MAXRSS_KIB EXEC_ERRNO" to OUT
# (EXEC_ERRNO is 0 unless CMD could not be executed). Kept small so that the RSS its child starts
# with (the helper's own, inherited at exec) is ~1 MiB.
HELPER_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rusage ru;
	int st, fd, err = 0, p[2];
	FILE *out;
	pid_t pid;

	if (argc < 3 || pipe2(p, O_CLOEXEC) != 0)
		return 2;
	pid = fork();
	if (pid < 0)
		return 3;
	if (pid == 0) {
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[2], argv + 2);
		err = errno;
		if (write(p[1], &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], &err, sizeof(err)) != (ssize_t)sizeof(err))
		err = 0;
	if (wait4(pid, &st, 0, &ru) != pid)
		return 4;
	out = fopen(argv[1], "w");
	if (!out)
		return 5;
	fprintf(out, "%d %ld %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
		ru.ru_maxrss, err);
	return fclose(out) == 0 ? 0 : 6;
}
"""


class Broke(Exception):
    pass


# -- the generated pipeline -----------------------------------------------------------------------

STAGES = ["build", "test", "scan", "review", "deploy"]
LANGS = ["c", "go", "python", "node", "rust"]
N_ENVS = 8   # .env-M extends .lang-(M % 5)
N_DEEP = 4   # .deep-K extends .env-K
PER_STAGE = 40

RULES = [
    # == and &&, a when: never first
    ["- if: '$CI_PIPELINE_SOURCE == \"schedule\"'", "  when: never",
     "- if: '$CI_COMMIT_BRANCH == \"main\" && $GLOBAL_FLAG == \"on\"'",
     "- when: manual", "  allow_failure: true"],
    # =~ and ||
    ["- if: '$CI_COMMIT_REF_NAME =~ /^release\\/[0-9]+\\.[0-9]+$/ || $CI_COMMIT_TAG'",
     "  when: on_success",
     "- if: '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'", "  when: manual"],
    # && with =~, rule variables
    ["- if: '$CI_PIPELINE_SOURCE == \"merge_request_event\"'",
     "- if: '$COMPONENT =~ /^(go|rust)-/ && $CI_COMMIT_BRANCH'",
     "  variables: {RULE_PICKED: \"yes\"}",
     "- if: '$CI_COMMIT_BRANCH != \"main\" || $GLOBAL_FLAG == \"off\"'", "  when: never"],
    # ||, && and a parenthesised group
    ["- if: '($CI_COMMIT_BRANCH == \"main\" || $CI_COMMIT_BRANCH =~ /^stable-/) && $LANG_NAME'",
     "  when: always",
     "- when: never"],
]

ONLY_EXCEPT = [
    ["only: [main, '/^feature\\/.*$/']", "except: [schedules]"],
    ["only:", "  refs: [branches]", "  variables: ['$GLOBAL_FLAG == \"on\"']"],
    ["except: [tags, '/^wip-.*$/']"],
    ["only: [branches, tags]", "except:", "  variables: ['$SKIP_ALL']"],
]


def generate_pipeline():
    """(YAML text, names of the 200 visible jobs in file order)."""
    out = [
        "# generated by tests/bench/bench_pipeline.py: %d jobs, %d stages"
        % (PER_STAGE * len(STAGES), len(STAGES)),
        "stages: [%s]" % ", ".join(STAGES),
        "",
        "variables:",
        "  GLOBAL_FLAG: \"on\"",
        "  REGISTRY: registry.example.com/group/app",
        "  IMAGE_TAG: ${CI_COMMIT_REF_SLUG}-${CI_COMMIT_SHORT_SHA}",
        "",
        "default:",
        "  image: alpine:3.19",
        "  tags: [bench]",
        "  interruptible: true",
        "  retry: 1",
        "",
        ".common_vars: &common_vars",
        "  COMMON_A: \"a\"",
        "  COMMON_B: \"b-${GLOBAL_FLAG}\"",
        "",
        ".default_scripts: &default_scripts",
        "  - echo step one",
        "  - echo step two",
        "",
        ".review_env: &review_env",
        "  name: review/$CI_COMMIT_REF_SLUG",
        "  url: https://$CI_COMMIT_REF_SLUG.review.example.com",
        "",
        ".scripts:",
        "  setup:",
        "    - echo setup",
        "    - export PATH=$PATH:/opt/bench/bin",
        "",
        ".base:",
        "  before_script: [echo base-before]",
        "  variables:",
        "    <<: *common_vars",
        "    BASE_LEVEL: \"1\"",
        "  artifacts: {expire_in: 1 week, paths: [out/]}",
        "",
        ".notify:",
        "  after_script: [echo notify]",
        "  variables: {NOTIFY: \"1\"}",
        "",
    ]
    for n, lang in enumerate(LANGS):
        out += [".lang-%d:" % n, "  extends: .base", "  image: %s:latest" % lang,
                "  variables: {LANG_NAME: %s, LANG_LEVEL: \"2\"}" % lang, ""]
    for m in range(N_ENVS):
        out += [".env-%d:" % m, "  extends: .lang-%d" % (m % len(LANGS)),
                "  variables: {ENV_NAME: env%d, ENV_LEVEL: \"3\"}" % m, ""]
    for k in range(N_DEEP):
        out += [".deep-%d:" % k, "  extends: .env-%d" % k,
                "  variables: {DEEP_LEVEL: \"4\"}",
                "  cache: {key: deep-%d, paths: [.cache/]}" % k, ""]

    names = []
    for j in range(PER_STAGE * len(STAGES)):
        stage = STAGES[j // PER_STAGE]
        k = j % PER_STAGE
        lang = LANGS[k % len(LANGS)]
        env = k % N_ENVS
        name = "%s-%s-%03d" % (stage, lang, j)
        names.append(name)
        out.append("%s:" % name)
        out.append("  stage: %s" % stage)
        form = j % 4
        if form == 0:
            out.append("  extends: .deep-%d" % (env % N_DEEP))
        elif form == 1:
            out.append("  extends: .env-%d" % env)
        elif form == 2:
            out.append("  extends: [.env-%d, .notify]" % env)
        else:
            out.append("  extends:\n    - .deep-%d\n    - .notify" % (env % N_DEEP))
        out.append("  variables:")
        out.append("    COMPONENT: %s-%d" % (lang, k))
        out.append("    JOB_NUMBER: \"%d\"" % j)
        out.append("    ARTIFACT: out/${COMPONENT}-${JOB_NUMBER}.tar")
        if j == 0:
            out.append("  script:\n    - !reference [.scripts, setup]\n    - make build")
        elif j % 7 == 0:
            out.append("  script: *default_scripts")
        else:
            out.append("  script: [make %s COMPONENT=$COMPONENT]" % stage)
        if j % 2 == 0:
            out.append("  rules:")
            out += ["    " + line for line in RULES[(j // 2) % len(RULES)]]
        else:
            out += ["  " + line for line in ONLY_EXCEPT[(j // 2) % len(ONLY_EXCEPT)]]
        if stage == "review" and k % 2 == 0:
            if k % 4 == 0:
                out.append("  environment: {name: review/$CI_COMMIT_REF_SLUG}")
            else:
                out.append("  environment: *review_env")
        elif stage == "deploy" and k % 5 == 0:
            out.append("  environment: {name: staging/%s}" % lang)
        out.append("")
    return "\n".join(out), names


# -- repositories, runs -----------------------------------------------------------------------

def clean_env(**extra):
    """Our environment minus CI_*/GITLAB_*/GIT_* and CI, no user or system git config."""
    env = {k: v for k, v in os.environ.items()
           if not (k == "CI" or k.startswith(("CI_", "GITLAB_", "GIT_")))}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    env.update(extra)
    return env


def git(repo, *args):
    res = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                          *args], cwd=repo, env=clean_env(**GIT_IDENTITY), capture_output=True,
                         text=True)
    if res.returncode != 0:
        raise Broke("git %s failed (%d): %s" % (" ".join(args), res.returncode,
                                                 res.stderr.strip()))
    return res.stdout.strip()


def make_repo(path, ci_yaml):
    os.makedirs(path)
    with open(os.path.join(path, ".gitlab-ci.yml"), "w") as f:
        f.write(ci_yaml)
    with open(os.path.join(path, "README.md"), "w") as f:
        f.write("bench repository\n")
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    git(path, "remote", "add", "origin", ORIGIN)
    git(path, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(path, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")


def build_helper(tmp):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None
    src, exe = os.path.join(tmp, "rusage.c"), os.path.join(tmp, "rusage")
    with open(src, "w") as f:
        f.write(HELPER_C)
    res = subprocess.run([cc, "-O2", "-o", exe, src], capture_output=True, text=True)
    return exe if res.returncode == 0 else None


class Runner:
    def __init__(self, env, helper, tmp):
        self.env = env
        self.helper = helper
        self.result = os.path.join(tmp, "rusage.out")

    def wall(self, argv, cwd=None):
        """Wall ns of one run, and the completed process (output captured)."""
        start = time.perf_counter_ns()
        res = subprocess.run(argv, capture_output=True, text=True, env=self.env, cwd=cwd,
                             stdin=subprocess.DEVNULL, timeout=TIMEOUT)
        elapsed = time.perf_counter_ns() - start
        if res.returncode != 0:
            raise Broke("%s exited %d: %s" % (" ".join(argv), res.returncode,
                                              (res.stderr or res.stdout).strip()[-2000:]))
        return elapsed, res

    def rss(self, argv, cwd=None):
        """Peak RSS (KiB) of one run of ARGV."""
        if self.helper:
            proc = subprocess.Popen([self.helper, self.result] + argv, env=self.env, cwd=cwd,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            _, status, _ = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise Broke("rusage helper exited %d for %s" % (proc.returncode, argv[0]))
            with open(self.result) as f:
                code, kib, err = (int(x) for x in f.read().split())
            if err:
                raise Broke("could not execute %s: %s (RSS run; was it being rebuilt?)"
                            % (argv[0], os.strerror(err)))
        else:
            proc = subprocess.Popen(argv, env=self.env, cwd=cwd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            kib = usage.ru_maxrss
        if code != 0:
            raise Broke("%s exited %d (RSS run)" % (" ".join(argv), code))
        return kib


def check_berth(res, want, what):
    try:
        data = json.loads(res.stdout)
        names = [j["name"] for j in data["jobs"]]
    except (ValueError, KeyError, TypeError) as e:
        raise Broke("berth pipeline --json on the %s pipeline: unexpected output (%s): %r"
                    % (what, e, res.stdout[:300]))
    if names != want:
        raise Broke("berth pipeline on the %s pipeline listed %d jobs, want %d; missing %s, "
                    "unexpected %s" % (what, len(names), len(want),
                                       sorted(set(want) - set(names))[:5],
                                       sorted(set(names) - set(want))[:5]))
    return data


def find_gcl(gcl_dir):
    if gcl_dir:
        path = os.path.join(os.path.abspath(gcl_dir), "node_modules", ".bin", "gitlab-ci-local")
        if os.access(path, os.X_OK):
            return path
    return shutil.which("gitlab-ci-local")


def gcl_jobs(res, what):
    """The job names in gitlab-ci-local --list's table (name is the column before description)."""
    lines = res.stdout.splitlines()
    head = next((i for i, line in enumerate(lines) if line.startswith("name ")), None)
    if head is None or "description" not in lines[head]:
        raise Broke("gitlab-ci-local --list on the %s pipeline printed no job table:\n%s"
                    % (what, (res.stdout + res.stderr)[-1500:]))
    width = lines[head].index("description")
    names = [line[:width].strip() for line in lines[head + 1:] if line.strip()]
    if not names:
        raise Broke("gitlab-ci-local --list on the %s pipeline listed no jobs" % what)
    return names


def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--gcl", metavar="DIR",
                    help="look for gitlab-ci-local in DIR/node_modules/.bin before PATH")
    ap.add_argument("--gcl-rounds", type=int, default=5, metavar="N",
                    help="run gitlab-ci-local in N of the rounds, spread evenly (default 5; it "
                         "takes ~1-2 s a run)")
    args = ap.parse_args()
    if args.rounds < 1 or args.gcl_rounds < 1:
        ap.error("--rounds and --gcl-rounds must be at least 1")
    berth = os.path.abspath(os.environ.get("BERTH_BIN") or os.path.join(REPO, "build", "berth"))
    if not os.access(berth, os.X_OK):
        print("bench_pipeline: berth binary not found at %s (make, or set BERTH_BIN)" % berth,
              file=sys.stderr)
        return 2
    true = shutil.which("true") or "/bin/true"
    gcl = find_gcl(args.gcl)

    tmp = tempfile.mkdtemp(prefix="berth-bench-pipeline-")
    try:
        return run(args, berth, true, gcl, tmp)
    except Broke as e:
        print("bench_pipeline: %s" % e, file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired as e:
        print("bench_pipeline: %s timed out after %ds" % (e.cmd[0], e.timeout), file=sys.stderr)
        return 1
    except OSError as e:  # e.g. berth vanished while being rebuilt
        print("bench_pipeline: %s" % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, berth, true, gcl, tmp):
    gen_yaml, gen_jobs = generate_pipeline()
    repos = {"seed": (os.path.join(tmp, "seed"), SEED_YAML, SEED_JOBS),
             "200 jobs": (os.path.join(tmp, "gen"), gen_yaml, gen_jobs)}
    for path, text, _ in repos.values():
        make_repo(path, text)
    helper = build_helper(tmp)
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    runner = Runner(clean_env(HOME=home), helper, tmp)

    every_round = set(range(args.rounds))
    # name -> (argv, cwd, output check or None, the rounds it runs in)
    ways = {"true": ([true], None, None, every_round)}
    runnable = {}
    for what, (path, _, want) in repos.items():
        argv = [berth, "pipeline", "-C", path, "--json"]
        _, res = runner.wall(argv)  # warm-up, and proof that the listing is right
        data = check_berth(res, want, what)
        runnable[what] = [j["name"] for j in data["jobs"] if j.get("when") != "never"]
        ways["berth " + what] = (argv, None,
                                 lambda r, want=want, what=what: check_berth(r, want, what),
                                 every_round)

    gcl_version, disagree, gcl_broken = None, {}, False
    if gcl:
        res = subprocess.run([gcl, "--version"], capture_output=True, text=True,
                             env=runner.env, cwd=tmp, timeout=TIMEOUT)
        if res.returncode != 0:
            # Not berth's failure: say so and go on without it. gitlab-ci-local >= 4.74 needs
            # Node >= 22 (Set.prototype.union) and dies at start-up on older ones.
            last = ((res.stderr or res.stdout).strip().splitlines() or ["?"])[-1]
            print("bench_pipeline: %s --version exited %d (%s): no comparison; on Node < 22, "
                  "install gitlab-ci-local@4.73.0" % (gcl, res.returncode, last.strip()))
            gcl, gcl_broken = None, True
    if gcl:
        gcl_version = (res.stdout.strip().splitlines() or ["?"])[-1]
        n = min(args.gcl_rounds, args.rounds)
        gcl_rounds = {i * args.rounds // n for i in range(n)}
        for what, (path, _, _) in repos.items():
            # In a copy: gitlab-ci-local writes its .gitlab-ci-local/ state dir in the work tree
            # (and wants --cwd relative, so it runs there instead).
            copy = path + "-gcl"
            shutil.copytree(path, copy, symlinks=True)
            argv = [gcl, "--list"]
            _, res = runner.wall(argv, cwd=copy)  # warm-up, and proof that it lists the jobs
            listed = gcl_jobs(res, what)
            if set(listed) != set(runnable[what]):
                disagree[what] = (sorted(set(runnable[what]) - set(listed)),
                                  sorted(set(listed) - set(runnable[what])))
            ways["gcl " + what] = (argv, copy, lambda r, what=what: gcl_jobs(r, what), gcl_rounds)

    walls = {name: [] for name in ways}
    rss = {name: [] for name in ways}
    order = list(ways)
    for i in range(args.rounds):
        for name in (order if i % 2 == 0 else order[::-1]):
            argv, cwd, check, rounds = ways[name]
            if i not in rounds:
                continue
            elapsed, res = runner.wall(argv, cwd=cwd)
            if check:
                check(res)
            walls[name].append(elapsed / 1e6)
            rss[name].append(runner.rss(argv, cwd=cwd) / 1024)

    report(args, ways, walls, rss, helper, gcl, gcl_version, gcl_broken, disagree,
           len(gen_jobs))
    return 0


def report(args, ways, walls, rss, helper, gcl, gcl_version, gcl_broken, disagree, n_gen):
    print("berth pipeline bench: %d rounds of `berth pipeline -C REPO --json` on the seed werf "
          "pipeline (3 jobs) and a generated one (%d jobs, extends chains 3-4 deep)"
          % (args.rounds, n_gen))
    if gcl:
        print("beside gitlab-ci-local %s (%s), `gitlab-ci-local --list` in a copy of each repo, "
              "in %d of the rounds" % (gcl_version, gcl, len(walls["gcl seed"])))
    print("  %-16s %5s %9s %9s %13s" % ("", "runs", "wall ms", "p90 ms", "max RSS MiB"))
    for name in ways:
        print("  %-16s %5d %9.2f %9.2f %13.1f" % (name, len(walls[name]),
                                                  statistics.median(walls[name]),
                                                  pct(walls[name], 90),
                                                  statistics.median(rss[name])))
    print("  wall: fork, exec, run, exit and wait from this Python process, output captured; "
          "`true` is that floor (%.2f ms)" % statistics.median(walls["true"]))
    print("  RSS: median ru_maxrss, %s" % (
        "from wait4 in a small C fork/exec helper (its own ~1 MiB is the floor, see `true`)"
        if helper else
        "from os.wait4 here (no C compiler for the helper): a child of this process never "
        "reports less than this process's own RSS, see `true`"))
    if gcl:
        for what in TARGETS_PER_TRUE:
            b, g = (statistics.median(walls["berth " + what]),
                    statistics.median(walls["gcl " + what]))
            rb, rg = statistics.median(rss["berth " + what]), statistics.median(rss["gcl " + what])
            print("  %-9s berth/gcl: wall %.4f (berth %.0fx faster), RSS %.3f (%.0fx less)"
                  % (what, b / g, g / b, rb / rg, rg / rb))
        for what, (only_berth, only_gcl) in disagree.items():
            print("  note: on the %s pipeline the job lists differ: runnable for berth only %s%s, "
                  "listed by gitlab-ci-local only %s%s"
                  % (what, only_berth[:5], "..." if len(only_berth) > 5 else "",
                     only_gcl[:5], "..." if len(only_gcl) > 5 else ""))
    elif not gcl_broken:
        print("gitlab-ci-local not installed (not on PATH%s): no comparison; to add it, "
              "`npm install -g gitlab-ci-local` (or `npm install --prefix DIR gitlab-ci-local` "
              "and --gcl DIR)" % (" nor in %s/node_modules/.bin" % args.gcl if args.gcl else ""))
    true = statistics.median(walls["true"])
    for what, target in TARGETS_PER_TRUE.items():
        floors.verdict("berth pipeline, %s pipeline" % what,
                       statistics.median(walls["berth " + what]), "one exec of true", true,
                       at_most=target)
    if gcl:
        for what in TARGETS_PER_TRUE:
            floors.verdict("berth pipeline, %s pipeline, against gitlab-ci-local" % what,
                           statistics.median(walls["berth " + what]), "gitlab-ci-local --list",
                           statistics.median(walls["gcl " + what]), at_most=TARGET_PER_GCL)


if __name__ == "__main__":
    sys.exit(main())
