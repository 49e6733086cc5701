"""berth run as an unprivileged user (nobody), for the attacks that need one to show."""

import os
import shutil

NOBODY = 65534


def as_user(user):
    """The argv prefix that runs a command as USER (None: as we are, root)."""
    if user is None:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]


def reachable_copy(berth_bin, tmp_path_factory, name):
    """(dir, berth, state): a directory nobody can reach (pytest's own are root's alone) with a
    copy of berth and a state dir of nobody's."""
    root = tmp_path_factory.mktemp(name)
    for p in [root, *root.parents][:3]:
        os.chmod(p, os.stat(p).st_mode | 0o111)
    berth = root / "berth"
    shutil.copy2(berth_bin, berth)
    berth.chmod(0o755)
    state = root / "state"
    state.mkdir()
    os.chown(state, NOBODY, NOBODY)
    return root, berth, state
