#!/usr/bin/env python3
"""berth's lock benchmark: how long each backend takes to hand a lock to the next in line.

Each round queues N contenders (`berth lock KEY -- CMD`, default 20) on one key: the first holds
the lock at a gate until the other N-1 are all waiting (seen in `berth locks --json`), then the
gate opens and the queue drains. Every CMD is one exec of a tiny helper compiled here (falling
back to `sh -c 'date ...'` without a C compiler) that appends "ID START END" to a shared file:
START when it begins (after the gate, for the first), END just before it exits. The hand-off
latency is the next command's START minus the previous command's END: the command exiting,
berth seeing it, the lock's release, the next berth waking and forking the next command. Prints
median, p90, p99 and max over all rounds, beside the floor, one exec of /bin/true, measured once
per contender after every round (tests/bench/floors.py): the hand-off is at heart one such
exec, of the next command. The target, for the file backend, is a median hand-off of at most
3 execs of /bin/true (docs/performance.md). The kubernetes backend runs against the real API server of tests/e2e/lib/kubeapi.py (etcd
and kube-apiserver on this machine, so the network costs nothing here); it is skipped with a
note when that server is not built. A benchmark, not a test: it exits 0 whatever the figures
are, non-zero only when something broke (a contender failed, two commands overlapped, berth has
no `lock`).

Usage: python3 tests/bench/bench_locks.py [--rounds N] [--contenders N] [--backend B]
The berth binary is $BERTH_BIN, default build/berth (the optimized build); it builds nothing of
berth's.
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
KEY = "bench/handoff"
TARGET_PER_TRUE = 3.0

HELPER_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static long long now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* stamp ID FILE [GATE]: waits for GATE to exist, then appends "ID START END" to FILE. */
int main(int argc, char **argv)
{
	char buf[128];
	long long start;
	int fd, n;

	if (argc < 3)
		return 2;
	while (argc > 3 && access(argv[3], F_OK) != 0)
		usleep(500);
	start = now();
	n = snprintf(buf, sizeof(buf), "%s %lld %lld\n", argv[1], start, now());
	fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		return 3;
	return 0;
}
"""


class Broke(Exception):
    pass


def build_helper(tmp):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None
    src, exe = os.path.join(tmp, "stamp.c"), os.path.join(tmp, "stamp")
    with open(src, "w") as f:
        f.write(HELPER_C)
    res = subprocess.run([cc, "-O2", "-o", exe, src], capture_output=True, text=True)
    return exe if res.returncode == 0 else None


def command(helper, ident, log, gate=None):
    if helper:
        return [helper, str(ident), log] + ([gate] if gate else [])
    # Without a compiler: two execs of date, CLOCK_REALTIME (differences are what count).
    wait = 'while [ ! -e "$3" ]; do sleep 0.001; done; ' if gate else ""
    return ["sh", "-c", wait + 'echo "$1 $(date +%s%N) $(date +%s%N)" >> "$2"', "sh",
            str(ident), log] + ([gate] if gate else [])


class Bench:
    def __init__(self, berth, tmp, helper, extra_settings=""):
        self.berth = berth
        self.tmp = tmp
        self.helper = helper
        self.settings = os.path.join(tmp, "berth.yaml")
        with open(self.settings, "w") as f:
            f.write('state_dir: "%s"\nkill_grace: 2\n%s' % (os.path.join(tmp, "state"),
                                                           extra_settings))
        self.env = dict(os.environ, BERTH_CONFIG=self.settings)
        self.procs = []

    def start(self, job, argv):
        env = dict(self.env, CI_JOB_ID=str(job), CI_PROJECT_PATH="bench/p%d" % job,
                   CI_PIPELINE_URL="https://gitlab.example.com/bench/-/pipelines/%d" % job)
        out = open(os.path.join(self.tmp, "c%d.err" % job), "wb")
        try:
            proc = subprocess.Popen([self.berth, "lock", KEY, "--"] + argv, env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    start_new_session=True)
        finally:
            out.close()
        proc.job = job
        self.procs.append(proc)
        return proc

    def queue(self):
        res = subprocess.run([self.berth, "locks", "--json"], env=self.env, capture_output=True,
                             text=True, timeout=30)
        if res.returncode != 0:
            raise Broke("berth locks --json: exit %d: %s" % (res.returncode, res.stderr.strip()))
        try:
            entries = json.loads(res.stdout)
        except ValueError:
            raise Broke("berth locks --json printed no JSON: %r" % res.stdout[:200])
        for e in entries:
            if e.get("key") == KEY:
                holder = e.get("holder")
                return ([str(holder["job"]) if holder else None] +
                        [str(w["job"]) for w in e.get("waiters", [])])
        return [None]

    def wait_until(self, what, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while not predicate():
            for p in self.procs:
                if p.poll() is not None:
                    raise Broke("contender %d exited %d while queueing%s" % (
                        p.job, p.returncode, self.err(p)))
            if time.monotonic() > deadline:
                raise Broke("timed out waiting for %s; queue: %s" % (what, self.queue()))
            time.sleep(0.005)

    def err(self, proc):
        try:
            with open(os.path.join(self.tmp, "c%d.err" % proc.job)) as f:
                text = f.read().strip()
        except OSError:
            return ""
        return ": " + text if text else ""

    def round(self, n, number):
        log = os.path.join(self.tmp, "round%d.log" % number)
        gate = os.path.join(self.tmp, "gate%d" % number)
        base = number * 1000
        self.procs = []
        self.start(base, command(self.helper, 0, log, gate))
        self.wait_until("the first contender to hold the lock",
                        lambda: self.queue()[0] == str(base))
        for i in range(1, n):
            self.start(base + i, command(self.helper, i, log))
        self.wait_until("%d waiters" % (n - 1), lambda: len(self.queue()) == n)
        open(gate, "w").close()
        for p in self.procs:
            try:
                code = p.wait(60)
            except subprocess.TimeoutExpired:
                raise Broke("contender %d still running after 60 s" % p.job)
            if code != 0:
                raise Broke("contender %d exited %d%s" % (p.job, code, self.err(p)))
        with open(log) as f:
            rows = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
        if sorted(r[0] for r in rows) != list(range(n)):
            raise Broke("round %d: commands that ran: %s" % (number, sorted(r[0] for r in rows)))
        rows.sort(key=lambda r: r[1])
        gaps = []
        for prev, cur in zip(rows, rows[1:]):
            if cur[1] < prev[2]:
                raise Broke("round %d: command %d started %.3f ms before command %d ended: two "
                            "holders at once" % (number, cur[0], (prev[2] - cur[1]) / 1e6,
                                                 prev[0]))
            gaps.append((cur[1] - prev[2]) / 1e6)
        return gaps

    def uncontended(self, runs):
        """`berth lock KEY -- stamp` against the stamp alone, wall time from here."""
        log = os.path.join(self.tmp, "uncontended.log")
        argv = command(self.helper, 0, log)
        times = {"alone": [], "berth lock": []}
        for _ in range(runs):
            for name, full in (("alone", argv), ("berth lock", [self.berth, "lock", KEY, "--"]
                                                 + argv)):
                t = time.perf_counter_ns()
                res = subprocess.run(full, env=self.env, stdin=subprocess.DEVNULL,
                                     capture_output=True)
                times[name].append((time.perf_counter_ns() - t) / 1e6)
                if res.returncode != 0:
                    raise Broke("%s exited %d: %s" % (name, res.returncode, res.stderr.strip()))
        return {name: statistics.median(v) for name, v in times.items()}

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, 9)
                except OSError:
                    pass
                p.wait()


def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def kube_settings(tmp):
    """Settings for the kubernetes backend on a fresh API server, and the server (or None)."""
    sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
    from lib import kubeapi  # pylint: disable=import-outside-toplevel

    binary = kubeapi.find_binary()
    if binary is None or not shutil.which("etcd"):
        return None, None
    api = kubeapi.KubeAPI(binary).start()
    config = os.path.join(tmp, "lock-kubeconfig")
    with open(config, "w") as f:
        f.write(api.kubeconfig())
    return ('lock_backend: kubernetes\nlock_namespace: berth-bench\nlock_kubeconfig: "%s"\n'
            % config), api


def measure(berth, helper, backend, args):
    """(gaps, uncontended medians) for BACKEND, or None when it cannot run here."""
    tmp = tempfile.mkdtemp(prefix="berth-bench-locks-")
    bench = api = None
    try:
        extra = ""
        if backend == "kubernetes":
            extra, api = kube_settings(tmp)
            if api is None:
                print("bench_locks: kubernetes backend skipped: kube-apiserver not built "
                      "(scripts/kube-apiserver.sh) or etcd missing")
                return None
        bench = Bench(berth, tmp, helper, extra)
        bench.round(2, 999)  # warm-up, and proof that lock and locks work
        gaps, true = [], []
        for r in range(args.rounds):
            gaps += bench.round(args.contenders, r)
            true += [floors.exec_true() / 1e6 for _ in range(args.contenders)]
        return gaps, true, bench.uncontended(20)
    finally:
        if bench:
            bench.kill_all()
        if api:
            api.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def report(backend, args, helper, gaps, true, base):
    med = statistics.median(gaps)
    floor = statistics.median(true)
    print("berth lock hand-off bench: %d rounds x %d contenders on one key, %s backend, %s"
          % (args.rounds, args.contenders, backend,
             "C stamp helper (CLOCK_MONOTONIC)" if helper else "sh + date (no C compiler)"))
    print("  hand-off (ms), %d samples:  median %.3f  p90 %.3f  p99 %.3f  max %.3f"
          % (len(gaps), med, pct(gaps, 90), pct(gaps, 99), max(gaps)))
    print("  exec of /bin/true (ms), %d samples between the rounds: median %.3f"
          % (len(true), floor))
    print("  uncontended, wall from a fork here (ms): command alone %.2f, under berth lock %.2f"
          % (base["alone"], base["berth lock"]))
    if backend == "file":
        floors.verdict("lock hand-off, file backend", med, "one exec of /bin/true", floor,
                       at_most=TARGET_PER_TRUE)
    else:
        print("  (hand-off %.1fx an exec of /bin/true: reported, not judged; the API server's "
              "speed is not berth's)" % (med / floor))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--contenders", type=int, default=20)
    ap.add_argument("--backend", choices=["file", "kubernetes", "both"], default="both")
    args = ap.parse_args()
    if args.contenders < 2 or args.rounds < 1:
        ap.error("needs at least 2 contenders and 1 round")
    berth = os.path.abspath(os.environ.get("BERTH_BIN") or os.path.join(REPO, "build", "berth"))
    if not os.access(berth, os.X_OK):
        print("bench_locks: berth binary not found at %s (make, or set BERTH_BIN)" % berth,
              file=sys.stderr)
        return 2
    helper_dir = tempfile.mkdtemp(prefix="berth-bench-stamp-")
    try:
        helper = build_helper(helper_dir)
        for backend in (["file", "kubernetes"] if args.backend == "both" else [args.backend]):
            got = measure(berth, helper, backend, args)
            if got:
                report(backend, args, helper, *got)
    except Broke as e:
        print("bench_locks: %s" % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(helper_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
