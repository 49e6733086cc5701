#!/usr/bin/env python3
"""berth's login benchmark: `berth login` against `skopeo login`, same registry, one run.

A local docker-registry with Basic auth (htpasswd, bcrypt cost 4, plain HTTP on 127.0.0.1)
serves both clients. Each round logs in once with each, in alternating order, from this one
process, with the password on stdin, beside one exec of /bin/true; both must leave a working
auth entry behind (checked before timing). Prints medians and the verdict, judged on the ratio
to skopeo measured in the same rounds (tests/bench/floors.py, docs/performance.md): berth's
login takes at most 0.75x skopeo's. A benchmark, not a test: it exits 0 whatever the figures
are, non-zero only when something broke.

Usage: python3 tests/bench/bench_login.py [--rounds N]   (berth: $BERTH_BIN, default build/berth)
"""

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

from lib.registry import Registry  # noqa: E402  (the e2e suite's real registry fixture)

import floors  # noqa: E402

TARGET_PER_SKOPEO = 0.75


def timed(argv, password, env):
    start = time.perf_counter_ns()
    res = subprocess.run(argv, input=password + "\n", capture_output=True, text=True, env=env,
                         timeout=60)
    elapsed = time.perf_counter_ns() - start
    if res.returncode != 0:
        raise SystemExit("bench_login: %s failed (%d): %s" % (argv[0], res.returncode,
                                                              res.stderr.strip()))
    return elapsed


def check_auth(path, host, user, password):
    auth = json.load(open(path))["auths"][host]["auth"]
    if base64.b64decode(auth).decode() != "%s:%s" % (user, password):
        raise SystemExit("bench_login: %s holds the wrong credentials" % path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    berth = os.path.abspath(os.environ.get("BERTH_BIN") or os.path.join(REPO, "build", "berth"))
    if shutil.which("skopeo") is None or shutil.which("docker-registry") is None:
        raise SystemExit("bench_login: needs skopeo and docker-registry (make deps)")
    tmp = tempfile.mkdtemp(prefix="berth-bench-login-")
    try:
        with Registry(os.path.join(tmp, "registry"), auth="htpasswd") as reg:
            user, password = "alice", reg.users["alice"]
            settings = os.path.join(tmp, "berth.yaml")
            with open(settings, "w") as f:
                f.write("registries:\n  - host: %s\n    plain_http: true\n" % reg.host)
            home = os.path.join(tmp, "home")
            os.makedirs(home)
            env = dict(os.environ, BERTH_CONFIG=settings, DOCKER_CONFIG=os.path.join(tmp, "d"),
                       HOME=home, XDG_RUNTIME_DIR=home)
            env.pop("REGISTRY_AUTH_FILE", None)
            authfile = os.path.join(tmp, "skopeo-auth.json")
            ways = {
                "berth": [berth, "login", "--username", user, "--password-stdin", reg.host],
                "skopeo": ["skopeo", "login", "--tls-verify=false", "--authfile", authfile,
                           "--username", user, "--password-stdin", reg.host],
            }
            for argv in ways.values():  # warm-up, and proof that both really log in
                timed(argv, password, env)
            check_auth(os.path.join(tmp, "d", "config.json"), reg.host, user, password)
            check_auth(authfile, reg.host, user, password)
            samples = {name: [] for name in ways}
            samples["/bin/true"] = []
            order = list(ways) + ["/bin/true"]
            for i in range(args.rounds):
                for name in (order if i % 2 == 0 else order[::-1]):
                    samples[name].append(floors.exec_true() if name == "/bin/true" else
                                         timed(ways[name], password, env))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = {name: statistics.median(v) / 1e6 for name, v in samples.items()}
    p90 = {name: sorted(v)[int(len(v) * 0.9) - 1] / 1e6 for name, v in samples.items()}
    print("berth login bench: %d rounds against docker-registry with Basic auth on 127.0.0.1"
          % args.rounds)
    print("  login (ms)        median      p90")
    for name in ways:
        print("  %-15s %8.2f %8.2f" % (name + " login", med[name], p90[name]))
    print("  %-15s %8.2f %8.2f" % ("exec /bin/true", med["/bin/true"], p90["/bin/true"]))
    print("berth login is %.1fx faster than skopeo login (medians)"
          % (med["skopeo"] / med["berth"]))
    floors.verdict("berth login", med["berth"], "skopeo login", med["skopeo"],
                   at_most=TARGET_PER_SKOPEO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
