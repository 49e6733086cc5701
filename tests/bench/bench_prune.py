#!/usr/bin/env python3
"""berth's prune benchmark: `berth prune` against a serial `skopeo delete` loop, same registry,
same rate limiter, from this one process.

A local docker-registry 2.8 with Basic auth (htpasswd, bcrypt cost 4, plain HTTP on 127.0.0.1)
holds TAGS (1000) distinct tiny images per repository, pushed fast (tests/e2e/lib/registry.py
push_tags). Two setups:

  behind the limiter  nginx `limit_req rate=RATE r/s burst=BURST nodelay` (30 and 5), answering
                      429 + `Retry-After: 1` (tests/e2e/lib/limiter.py). Two runs of berth: a
                      long one (TAGS, about 2,000 requests) and a short one (--short-tags,
                      default 225: about 450 requests, a typical scheduled cleanup), each
                      --runs times, alternating which goes first. berth's wall time is set
                      against the ideal: the N requests nginx passed to the registry, the
                      first BURST + 1 at once and the rest at RATE, (N - BURST - 1) / RATE
                      (berth's own count, which includes the 429s, is printed beside it);
                      or against the registry's own ceiling (below) for N requests where
                      that is longer, as on a loaded machine. Targets: long <= 1.1x, short
                      <= 1.15x, judged on the worst of the runs (every run, the median and
                      the worst are printed).
                      The serial skopeo loop behind the same limiter runs on a sample
                      (--skopeo-limited, default 200 tags) and is extrapolated to TAGS, as
                      the output says.
  direct              no limiter: berth against the serial skopeo loop (--skopeo-direct tags,
                      default all, extrapolated when fewer), target berth <= 0.33x its time;
                      and against the registry's own ceiling: the same HEADs and DELETEs from
                      16 keep-alive Python threads (distribution 2.8 scans every tag of the
                      repository on each manifest DELETE, so deletes cost O(tags) each),
                      target berth <= 1x its time.

Every target is a ratio to a floor measured in the same run (tests/bench/floors.py; why each
floor: docs/performance.md).

Every run deletes every tag but `keep-0` (`--keep-tag ^keep-`), checked afterwards through the
registry API. A benchmark, not a test: it exits 0 whatever the figures are, non-zero only when
something broke (berth failed or left the wrong tags, a server did not start).

Usage: python3 tests/bench/bench_prune.py [--tags N] [--short-tags N] [--rate R] [--burst B]
                                          [--runs K] [--limited-only]
                                          [--skopeo-limited N] [--skopeo-direct N]
--limited-only runs berth behind the limiter only (no skopeo, no direct runs, no ceiling).
berth is $BERTH_BIN, default build/berth; this script builds nothing.
"""

import argparse
import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import floors  # noqa: E402
from lib.limiter import LimitReq, nginx_missing  # noqa: E402  (the e2e suite's fixtures)
from lib.registry import (MANIFEST_ACCEPT, KeepAliveClient, Registry, list_tags,  # noqa: E402
                      push_tags, skopeo_delete, write_docker_config)

TARGET_LONG = 1.1         # behind the limiter, wall / (requests / rate), about 2,000 requests
TARGET_SHORT = 1.15       # the same, about 450 requests
TARGET_PER_SKOPEO = 0.33  # no limiter, berth / the serial skopeo delete loop
TARGET_PER_CEILING = 1.0  # no limiter, berth / 16 keep-alive Python threads

SUMMARY = re.compile(r"prune: (\d+) deleted, (\d+) kept, (\d+) failed in ([0-9.]+) s "
                     r"\((\d+) requests, ([0-9.]+) req/s\)")


class Broke(Exception):
    pass


def tag_names(n):
    return ["keep-0"] + [f"t-{i:05d}" for i in range(n)]


def berth_prune(berth, env, settings, target, report):
    argv = [berth, "--config", settings, "prune", "--no-cluster", "--report", report,
            "--keep-tag", "^keep-", target]
    start = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800,
                         stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    out = res.stdout + res.stderr
    m = None
    for m in SUMMARY.finditer(out):
        pass
    if res.returncode != 0 or m is None:
        raise Broke("berth prune %s failed (exit %d):\n%s" % (target, res.returncode,
                                                              out[-3000:]))
    return {"wall": wall, "deleted": int(m[1]), "kept": int(m[2]), "failed": int(m[3]),
            "seconds": float(m[4]), "requests": int(m[5]), "rps": float(m[6])}


def skopeo_loop(registry, repo, tags, docker_dir):
    """Delete TAGS one by one with skopeo: (seconds, failures, last error)."""
    failed, last_error = 0, ""
    start = time.perf_counter()
    for tag in tags:
        rc, err = skopeo_delete(registry, repo, tag, docker_dir)
        if rc != 0:
            failed += 1
            last_error = err.strip().splitlines()[-1] if err.strip() else "exit %d" % rc
    return time.perf_counter() - start, failed, last_error


def ceiling(reg, repo, digests, user, password, connections=16):
    """The registry's own speed for berth's work without berth: HEAD every tag, then DELETE
    every digest, from CONNECTIONS keep-alive Python threads (berth's default --parallel).
    Returns seconds."""
    items = sorted(digests.items())
    errors = []

    def work(phase, index):
        try:
            with KeepAliveClient(reg, repo, user, password, actions="pull,delete") as c:
                for tag, digest in items[index::connections]:
                    if phase == "head":
                        c.check((200,), "HEAD", "/v2/%s/manifests/%s" % (repo, tag),
                                headers={"Accept": MANIFEST_ACCEPT})
                    else:
                        c.check((202,), "DELETE", "/v2/%s/manifests/%s" % (repo, digest))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    start = time.perf_counter()
    for phase in ("head", "delete"):
        threads = [threading.Thread(target=work, args=(phase, i)) for i in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise Broke("the ceiling client failed: %s" % errors[0])
    return time.perf_counter() - start


def check_left(reg, repo, expected, user, password):
    left = list_tags(reg, repo, user, password)
    if left != sorted(expected):
        raise Broke("%s: %d tags left, expected %s (first: %s)" % (repo, len(left), expected,
                                                                   left[:5]))


def nginx_counts(lim, since=None):
    log = [e for e in lim.log(wait=5) if since is None or e["time"] >= since]
    c = collections.Counter()
    for e in log:
        if e["status"] == 429:
            c["limited"] += 1
        elif e["upstream_status"] != "-":
            c["passed"] += 1
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tags", type=int, default=1000)
    ap.add_argument("--short-tags", type=int, default=225)
    ap.add_argument("--rate", type=int, default=30)
    ap.add_argument("--burst", type=int, default=5)
    ap.add_argument("--runs", type=int, default=1,
                    help="berth's runs behind the limiter, of each length")
    ap.add_argument("--limited-only", action="store_true",
                    help="only berth behind the limiter")
    ap.add_argument("--skopeo-limited", type=int, default=200,
                    help="tags in the skopeo sample behind the limiter (extrapolated)")
    ap.add_argument("--skopeo-direct", type=int, default=None,
                    help="tags in the skopeo sample without the limiter (default: all)")
    args = ap.parse_args()
    berth = os.path.abspath(os.environ.get("BERTH_BIN") or os.path.join(REPO, "build", "berth"))
    for tool in ("skopeo", "docker-registry", "htpasswd"):
        if shutil.which(tool) is None:
            raise SystemExit("bench_prune: needs %s (make deps)" % tool)
    if nginx_missing():
        raise SystemExit("bench_prune: " + nginx_missing())
    n = args.tags
    n_lim = min(args.skopeo_limited, n)
    n_dir = min(args.skopeo_direct or n, n)
    tmp = tempfile.mkdtemp(prefix="berth-bench-prune-")
    try:
        return run(args, berth, tmp, n, n_lim, n_dir)
    except Broke as err:
        print("bench_prune: %s" % err, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def limited_runs(args, berth, env, settings, lim, reg, user, password, tmp):
    """berth behind the limiter, long and short, args.runs times each, alternating which goes
    first: {"long": [result...], "short": [...]}, each result with nginx's counts."""
    results = {"long": [], "short": []}
    for k in range(args.runs):
        order = ("long", "short") if k % 2 == 0 else ("short", "long")
        for kind in order:
            repo = "bench/berth-%s-%d" % (kind, k)
            time.sleep(1)     # an empty bucket for each run
            since = time.time()
            res = berth_prune(berth, env, settings, lim.host + "/" + repo,
                              os.path.join(tmp, "report-%s-%d.json" % (kind, k)))
            res["nginx"] = nginx_counts(lim, since)
            check_left(reg, repo, ["keep-0"], user, password)
            results[kind].append(res)
    return results


def run(args, berth, tmp, n, n_lim, n_dir):
    began = time.perf_counter()
    with Registry(os.path.join(tmp, "registry"), auth="htpasswd") as reg:
        user, password = "alice", reg.users["alice"]
        repos = {}
        for k in range(args.runs):
            repos["berth-long-%d" % k] = n
            repos["berth-short-%d" % k] = args.short_tags
        if not args.limited_only:
            repos.update({"skopeo-limited": n_lim, "berth-direct": n, "skopeo-direct": n_dir,
                          "ceiling": n})
        t = time.perf_counter()
        pushed = {}
        for repo, count in repos.items():
            pushed[repo] = push_tags(reg, "bench/" + repo, tag_names(count), user=user,
                                     password=password)
        pushed_in = time.perf_counter() - t
        with LimitReq(reg, os.path.join(tmp, "nginx"), rate=args.rate,
                      burst=args.burst) as lim:
            settings = os.path.join(tmp, "berth.yaml")
            with open(settings, "w") as f:
                f.write("registries:\n")
                for host in (reg.host, lim.host):
                    f.write("  - {host: \"%s\", plain_http: true}\n" % host)
            docker = os.path.join(tmp, "docker")
            write_docker_config(docker, {reg.host: (user, password),
                                         lim.host: (user, password)})
            home = os.path.join(tmp, "home")
            os.makedirs(home)
            env = {k: v for k, v in os.environ.items()
                   if k not in ("KUBECONFIG", "BERTH_CONFIG", "REGISTRY_AUTH_FILE")}
            env.update(DOCKER_CONFIG=docker, HOME=home, XDG_RUNTIME_DIR=home)

            lim.reset_log()
            b_lim = limited_runs(args, berth, env, settings, lim, reg, user, password, tmp)
            with open(os.path.join(tmp, "report-long-0.json")) as f:
                if len(json.load(f)["repositories"][0]["tags"]) != n + 1:
                    raise Broke("the report of the limited run does not list every tag")
            if args.limited_only:
                report_limited(args, n, pushed_in, b_lim, None)
                print("\nbench_prune took %.0f s" % (time.perf_counter() - began))
                return 0
            # behind the limiter: the skopeo loop on a sample
            time.sleep(1)
            since = time.time()
            s_lim = skopeo_loop(lim, "bench/skopeo-limited", tag_names(n_lim)[1:], docker)
            s_lim_nginx = nginx_counts(lim, since)
            left = list_tags(reg, "bench/skopeo-limited", user, password)
            if len(left) != 1 + s_lim[1]:
                raise Broke("skopeo behind the limiter: %d tags left, %d failures"
                            % (len(left), s_lim[1]))

        # direct
        b_dir = berth_prune(berth, env, settings, reg.host + "/bench/berth-direct",
                            os.path.join(tmp, "report-direct.json"))
        check_left(reg, "bench/berth-direct", ["keep-0"], user, password)
        s_dir = skopeo_loop(reg, "bench/skopeo-direct", tag_names(n_dir)[1:], docker)
        if s_dir[1]:
            raise Broke("skopeo without a limiter failed %d deletes: %s" % (s_dir[1], s_dir[2]))
        ceiling_digests = {t: d for t, d in pushed["ceiling"].items() if t != "keep-0"}
        c_dir = ceiling(reg, "bench/ceiling", ceiling_digests, user, password)
        check_left(reg, "bench/ceiling", ["keep-0"], user, password)

    report_limited(args, n, pushed_in, b_lim, c_dir)
    report(args, n, n_lim, n_dir, b_lim["long"][0], s_lim, s_lim_nginx, b_dir, s_dir, c_dir,
           time.perf_counter() - began)
    return 0


def report_limited(args, n, pushed_in, b_lim, c_dir):
    """Every run behind the limiter, the median and the worst of each length, and the verdicts
    on the worst. The floor is the ideal for the requests the registry served (nginx passed
    them on): the first BURST + 1 at once, the rest at RATE; or the registry's ceiling for as
    many requests (C_DIR: its seconds for 2 * N requests) where that is longer, as on a loaded
    machine. berth's own count of requests is printed beside it: it includes the 429s, so a
    pacer that made more of them would look better against it."""
    rate = args.rate
    print("berth prune bench: %d tags per repository (%d in the short runs), docker-registry "
          "2.8 with Basic auth on 127.0.0.1 (pushed %d repositories in %.1f s)"
          % (n, args.short_tags, 2 * args.runs + (0 if args.limited_only else 4), pushed_in))
    print()
    print("behind nginx limit_req rate=%dr/s burst=%d nodelay (429 + Retry-After: 1):"
          % (rate, args.burst))
    for kind, tags in (("long", n), ("short", args.short_tags)):
        ratios = []
        for res in b_lim[kind]:
            passed = res["nginx"]["passed"]
            ideal = max(passed - args.burst - 1, 1) / rate
            registry_bound = c_dir * passed / (2 * n) if c_dir else 0
            res["floor"] = max(ideal, registry_bound)
            res["registry_bound"] = registry_bound > ideal
            ratios.append(res["wall"] / res["floor"])
            print("  %-5s %4d deleted, %d failed in %6.2f s; %d requests passed to the registry, "
                  "%d answered 429: %.3fx the ideal %.2f s%s (berth's count %d: %.3fx N/rate)"
                  % (kind, res["deleted"], res["failed"], res["wall"], passed,
                     res["nginx"]["limited"], ratios[-1], res["floor"],
                     " (the registry's ceiling)" if res["registry_bound"] else "",
                     res["requests"], res["wall"] / (res["requests"] / rate)))
        print("  %-5s %d tags, %d run(s): median %.3fx, worst %.3fx"
              % (kind, tags, len(ratios), statistics.median(ratios), max(ratios)))
    for kind, target in (("long", TARGET_LONG), ("short", TARGET_SHORT)):
        worst = max(b_lim[kind], key=lambda r: r["wall"] / r["floor"])
        if worst["registry_bound"]:
            floor_name = "the registry's ceiling for as many requests (slower than the limit here)"
        else:
            floor_name = "the ideal (requests served - burst - 1) / rate"
        what = "berth prune behind the limiter, %s run (%d requests)%s" % (
            kind, worst["nginx"]["passed"],
            ", worst of %d" % len(b_lim[kind]) if args.runs > 1 else "")
        floors.verdict(what, worst["wall"], floor_name, worst["floor"], at_most=target, unit="s")
    print()


def report(args, n, n_lim, n_dir, b_lim, s_lim, s_lim_nginx, b_dir, s_dir, c_dir, elapsed):
    print("behind the limiter, the serial skopeo loop:")
    per_tag = s_lim[0] / n_lim
    extrapolated = n_lim < n
    print("  skopeo delete loop %4d tags in %6.1f s (%.0f ms a tag), %d failed%s; nginx: %d "
          "passed, %d answered 429"
          % (n_lim, s_lim[0], per_tag * 1000, s_lim[1],
             (" (last error: %s)" % s_lim[2]) if s_lim[1] else "", s_lim_nginx["passed"],
             s_lim_nginx["limited"]))
    est = per_tag * n
    if extrapolated:
        print("  skopeo for %d tags  ~%6.1f s, ~%d failed (EXTRAPOLATED from the %d-tag sample)"
              % (n, est, round(s_lim[1] * n / n_lim), n_lim))
    print("  berth (long run) is %.1fx faster than the serial skopeo loop behind the limiter"
          % (est / b_lim["wall"]))
    print()
    print("without the limiter:")
    print("  berth prune        %4d deleted, %d failed in %6.2f s wall (%d requests, %.1f req/s)"
          % (b_dir["deleted"], b_dir["failed"], b_dir["wall"], b_dir["requests"], b_dir["rps"]))
    per_tag = s_dir[0] / n_dir
    print("  skopeo delete loop %4d tags in %6.2f s (%.1f ms a tag), %d failed"
          % (n_dir, s_dir[0], per_tag * 1000, s_dir[1]))
    est = per_tag * n
    if n_dir < n:
        print("  skopeo for %d tags  ~%6.1f s (EXTRAPOLATED from the %d-tag sample)"
              % (n, est, n_dir))
    speedup = est / b_dir["wall"]
    print("  berth is %.1fx faster than the serial skopeo loop" % speedup)
    print("  registry ceiling   %4d HEAD + %d DELETE from 16 keep-alive Python threads in %6.2f s"
          % (n, n, c_dir))
    print("                     skopeo loop / ceiling %.1f (the most any client could gain over "
          "the loop here)" % (est / c_dir))
    print()
    print("bench_prune took %.0f s" % elapsed)
    floors.verdict("berth prune, no limiter", b_dir["wall"], "the serial skopeo delete loop%s"
                   % (" (extrapolated)" if n_dir < n else ""), est, at_most=TARGET_PER_SKOPEO,
                   unit="s")
    floors.verdict("berth prune, no limiter", b_dir["wall"],
                   "the registry's ceiling (16 Python threads)", c_dir,
                   at_most=TARGET_PER_CEILING, unit="s")


if __name__ == "__main__":
    sys.exit(main())
