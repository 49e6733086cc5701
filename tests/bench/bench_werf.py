"""What berth's `werf` wrapper adds to every werf call in a job (docs/werf.md).

In a job, `werf` is <workspace>/bin/werf, a link to berth: berth loads the job's settings,
builds werf's environment, finds the real werf on PATH and runs it as its child. Here the real
werf is /bin/true, so the figure is the wrapper alone: one call of `werf version` through it,
against its floor, one exec of /bin/true measured in the same rounds, interleaved
(tests/bench/floors.py). A real werf (a Go binary that starts in tens of milliseconds and then
talks to a registry) takes far longer than either.

  BERTH_BIN=build/berth python3 tests/bench/bench_werf.py [--rounds N]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import floors

# One wrapped werf call may cost this many execs of /bin/true: berth's own start (settings,
# environment) and its exec of werf, which the floor pays once.
TARGET_WRAPPER_PER_EXEC = 6.0


def workspace(root, berth):
    """A job's workspace as prepare leaves it (docker config, no kubeconfig), and settings."""
    ws = root / "jobs" / "1"
    for d in ("docker", "kube", "tmp", "bin"):
        (ws / d).mkdir(parents=True)
    (ws / "docker" / "config.json").write_text(json.dumps({"auths": {}}))
    os.symlink(berth, ws / "bin" / "werf")
    settings = root / "berth.yaml"
    settings.write_text(f'state_dir: "{root}"\nwerf_path: "{floors.TRUE}"\n')
    os.chmod(settings, 0o600)
    return ws, settings


def wrapped_call(argv, env):
    start = time.perf_counter_ns()
    res = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    took = time.perf_counter_ns() - start
    if res.returncode != 0:
        sys.exit(f"bench_werf: {' '.join(argv)} failed ({res.returncode}): {res.stderr!r}")
    return took


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    berth = Path(os.environ.get("BERTH_BIN", "build/berth")).resolve()
    with tempfile.TemporaryDirectory(prefix="berth-bench-werf-") as tmp:
        ws, settings = workspace(Path(tmp), berth)
        env = {"PATH": f"{ws / 'bin'}:/usr/bin:/bin", "BERTH_JOB_DIR": str(ws),
               "BERTH_CONFIG": str(settings), "TMPDIR": str(ws / "tmp"), "HOME": tmp,
               "CI_PROJECT_ID": "1", "CI_JOB_ID": "1"}
        argv = [str(ws / "bin" / "werf"), "version"]
        wrapped_call(argv, env)  # warm the page cache
        wrapper, floor = [], []
        for _ in range(args.rounds):
            floor.append(floors.exec_true())
            wrapper.append(wrapped_call(argv, env))
    ok = floors.verdict("werf wrapper per werf call", floors.median(wrapper) / 1e6,
                        "one exec of /bin/true", floors.median(floor) / 1e6,
                        at_most=TARGET_WRAPPER_PER_EXEC)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
