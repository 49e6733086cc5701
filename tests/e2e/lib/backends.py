"""The executor backends every test runs against, and whether this machine can run bwrap's."""

import functools
import shutil
import subprocess

# A new backend is one more name here. (In a backend with its own PID namespace, bwrap's, the
# PIDs scripts write ($!, $BASHPID) are not the host's: scripts record them with rn.pid_record
# and rn.read_pids maps them through NSpid in /proc/PID/status. The /proc scan for
# BERTH_JOB_DIR and the finalizer work across namespaces.)
BACKENDS = ["shell", "bwrap"]


@functools.lru_cache(maxsize=None)
def bwrap_problem():
    """Why the bwrap backend cannot run on this machine (berth prepare's own probe), or None."""
    if not shutil.which("bwrap"):
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    probe = subprocess.run(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                            "true"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=30)
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces here: {probe.stderr.strip()}"
    return None
