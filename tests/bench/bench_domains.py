#!/usr/bin/env python3
"""What trust domains cost: how often a job finds its clone warm, before and after.

A seeded mix of jobs (6 projects; each job on a protected ref with probability 0.3, else on an
unprotected branch) arrives at a runner with 4 job users and runs up to 4 at a time, finishing
in random order. Each job runs through the real berth (config, prepare, get_sources,
build_script, cleanup, as GitLab Runner drives it); its script reports whether its project's
clone was already in its build dir (a marker an earlier job of its user left) and leaves the
marker. That is "after": berth gives a job a user of its own trust domain when one is free, and
parks the clones of a user that changes domain where no job reaches them, until a job of
their domain gets that user again (parked_clones, 4 by default).

"Before" is the same schedule under the previous rule (the first free user, never reset),
replayed in Python; the Python model of the current rule is replayed too and must agree with
what berth did job for job, which checks the model. Prints the warm rates of both, and of
domains without parking (parked_clones: 0), the floor parking is judged against
(tests/bench/floors.py): berth's warm rate is at least 2x that one. A benchmark, not a test: it
exits non-zero only when something broke (a job failed, the model disagrees).

Usage: python3 tests/bench/bench_domains.py [--jobs N] [--seed S]; needs root and creates the
job users berth-job-1..4 when missing (scripts/job-users.sh).
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import floors  # noqa: E402
from lib import runner as rn  # noqa: E402

USERS = [f"berth-job-{i}" for i in range(1, 5)]
PARKED_CLONES = 4  # the setting's default
PROJECTS = 6
CONCURRENT = 4
TARGET_PER_NO_PARKING = 2.0


def schedule(n, seed):
    """[("start", job) | ("finish", job)]: jobs (id, project, protected) in arrival order."""
    rng = random.Random(seed)
    events, running, started = [], [], 0
    while started < n or running:
        if started < n and len(running) < CONCURRENT and (not running or rng.random() < 0.6):
            job = (started + 1, rng.randrange(PROJECTS) + 1, rng.random() < 0.3)
            events.append(("start", job))
            running.append(job)
            started += 1
        else:
            job = running.pop(rng.randrange(len(running)))
            events.append(("finish", job))
    return events


def replay(events, domain_aware, parked_clones=PARKED_CLONES):
    """The claim rule in Python: {job id: warm?}."""
    last = {}      # user -> (project, protected) of its last job
    clones = {u: set() for u in USERS}  # projects whose clone the user's builds dir holds
    parked = {u: {} for u in USERS}     # user -> {domain: clones}, oldest parked first
    holder, warm = {}, {}
    for kind, (job_id, project, protected) in events:
        if kind == "finish":
            del holder[job_id]
            continue
        domain = (project, protected)
        free = [u for u in USERS if u not in holder.values()]
        user = free[0]
        if domain_aware:
            same = [u for u in free if last.get(u) == domain]
            kept = [u for u in free if domain in parked[u]]
            fresh = [u for u in free if u not in last]
            user = (same or kept or fresh or free)[0]
            if not same:
                if user in last and parked_clones > 0:
                    parked[user][last[user]] = clones[user]
                    while len(parked[user]) > parked_clones:
                        parked[user].pop(next(iter(parked[user])))
                clones[user] = parked[user].pop(domain, set())
        warm[job_id] = project in clones[user]
        clones[user].add(project)
        last[user] = domain
        holder[job_id] = user
    return warm


def run_berth(events, berth):
    warm = {}
    with tempfile.TemporaryDirectory(prefix="berth-bench-domains-") as root:
        os.chmod(root, 0o711)
        settings = Path(root) / "berth.yaml"
        settings.write_text(f'state_dir: "{root}/state"\njob_users: {USERS}\n'.replace("'", '"'))
        runner = rn.Runner(berth, root, settings=settings)
        jobs = {}
        try:
            for kind, (job_id, project, protected) in events:
                if kind == "start":
                    job = runner.job(job_id, project_id=project,
                                     project_path=f"bench/p{project}", protected=protected,
                                     scripts={"build_script": [
                                         "[ -e .warm ] && echo WARM || echo COLD",
                                         "touch .warm"]})
                    if not job.config_and_prepare():
                        raise SystemExit("\n".join(r.report() for r in job.results))
                    for stage in ("get_sources", "build_script"):
                        res = job.run(stage)
                        if not res.ok:
                            raise SystemExit(res.report())
                    warm[job_id] = "WARM" in res.stdout.splitlines()
                    jobs[job_id] = job
                else:
                    res = jobs.pop(job_id).cleanup()
                    if not res.ok:
                        raise SystemExit(res.report())
        finally:
            runner.close()
    return warm


def rate(warm):
    return sum(warm.values()) / len(warm)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_domains: needs root (job users)")
        return 0
    subprocess.run([str(REPO / "scripts" / "job-users.sh"), str(len(USERS))], check=True)
    berth = Path(os.environ.get("BERTH_BIN", REPO / "build" / "berth"))
    events = schedule(args.jobs, args.seed)
    before, model, after = replay(events, False), replay(events, True), run_berth(events, berth)
    reset_only = replay(events, True, parked_clones=0)
    print(f"trust domains: {args.jobs} jobs, {PROJECTS} projects, 30% protected, "
          f"{len(USERS)} job users, up to {CONCURRENT} at once (seed {args.seed})")
    print(f"  warm clone, previous rule (first free user, never reset): {rate(before):6.1%}")
    print(f"  warm clone, domains without parking (parked_clones: 0):   {rate(reset_only):6.1%}")
    print(f"  warm clone, berth now (parked_clones: {PARKED_CLONES}):              "
          f"{rate(after):6.1%}")
    floors.verdict("warm clones with parking", rate(after) * 100,
                   "warm clones with domains, no parking", rate(reset_only) * 100,
                   at_least=TARGET_PER_NO_PARKING, unit="%")
    if model != after:
        diff = sorted(j for j in after if after[j] != model[j])
        print(f"bench_domains: berth and the model disagree on jobs {diff[:10]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
