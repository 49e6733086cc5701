"""Floors and verdicts shared by the benchmarks in tests/bench (docs/performance.md, "Method").

A millisecond target holds on one machine only: where an exec of /bin/true costs four times as
much, every figure does, and berth's share of it is unchanged. So every target is a ratio: the
figure against a floor measured beside it, in the same run, interleaved with it (one exec of
/bin/true, bare `bash SCRIPT`, bare bwrap, the bash reference driver, skopeo, the registry's own
speed). Each script measures its floors the same way as the figure they judge (bench.py through
its call(), bench_pipeline.py through its runner, the others with exec_true() below) and calls
verdict(), which prints every verdict in one shape:

  TARGET per-stage overhead: 1.94 ms = 1.90x one exec of /bin/true (1.02 ms); target <= 3x: PASS

With $BERTH_BENCH_RESULTS set to a file, each verdict is also appended to it as one JSON line,
and `python3 tests/bench/floors.py FILE` prints them as the Markdown table of
docs/performance.md.
"""

import json
import os
import statistics
import subprocess
import sys
import time

TRUE = "/bin/true"


def exec_true():
    """Nanoseconds of one fork, exec and wait of /bin/true from this Python process: the cost
    of starting any program here, the unit of what berth adds by being one more program."""
    start = time.perf_counter_ns()
    subprocess.run([TRUE], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter_ns() - start


def median(values):
    return statistics.median(values)


def verdict(what, value, floor_name, floor, at_most=None, at_least=None, unit="ms"):
    """Prints the figure, its floor and their ratio, and PASS or FAIL judged on the ratio alone.
    Returns True on PASS. VALUE and FLOOR are in UNIT ("ms", "s", or "" for plain numbers)."""
    if (at_most is None) == (at_least is None):
        raise ValueError("verdict needs exactly one of at_most and at_least")
    ratio = value / floor if floor else float("inf")
    ok = ratio <= at_most if at_most is not None else ratio >= at_least
    target = "<= %gx" % at_most if at_most is not None else ">= %gx" % at_least
    print("TARGET %s: %s = %.2fx %s (%s); target %s: %s"
          % (what, figure(value, unit), ratio, floor_name, figure(floor, unit), target,
             "PASS" if ok else "FAIL"))
    record(what, value, floor_name, floor, ratio, target, ok, unit)
    return ok


def figure(value, unit):
    if unit == "":
        return "%.3g" % value
    return "%.2f %s" % (value, unit) if value < 100 else "%.0f %s" % (value, unit)


def record(what, value, floor_name, floor, ratio, target, ok, unit):
    path = os.environ.get("BERTH_BENCH_RESULTS")
    if not path:
        return
    row = {"what": what, "value": value, "floor_name": floor_name, "floor": floor,
           "ratio": ratio, "target": target, "pass": ok, "unit": unit,
           "script": os.path.basename(sys.argv[0]), "load": os.getloadavg()[0]}
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def table(path):
    """The verdicts of FILE as a Markdown table."""
    print("| target | figure | floor, measured beside it | ratio | target | |")
    print("|---|---|---|---|---|---|")
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            print("| %s | %s | %s: %s | **%.2f×** | %s | %s |"
                  % (r["what"], figure(r["value"], r["unit"]), r["floor_name"],
                     figure(r["floor"], r["unit"]), r["ratio"], r["target"].replace("x", "×").replace("<=", "≤").replace(">=", "≥"),
                     "PASS" if r["pass"] else "FAIL"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 tests/bench/floors.py RESULTS-FILE   (the verdicts as a table)")
    table(sys.argv[1])
