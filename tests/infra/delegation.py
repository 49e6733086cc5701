"""What systemd makes of berth's drop-in for gitlab-runner.service (berth-cgroup.conf), as the
.deb, `make install` and the Ansible role install it: checked offline with this machine's
systemd-analyze against a stand-in for GitLab Runner's unit."""

import re
import shutil
import subprocess

import pytest

# A stand-in for the unit GitLab Runner's package installs (`gitlab-runner install`).
RUNNER_UNIT = """[Unit]
Description=GitLab Runner (stand-in)

[Service]
ExecStart=/bin/true
Restart=always

[Install]
WantedBy=multi-user.target
"""

# The key systemd before 254 does not know; it says so and loads the unit without it.
OLD_SYSTEMD_WARNING = re.compile(r"Unknown key( name)? '?DelegateSubgroup'? in section")


def systemd_version():
    out = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True,
                         check=True).stdout
    return int(re.match(r"systemd (\d+)", out).group(1))


def unit_with(dropin_text, tmp_path):
    """gitlab-runner.service and, when DROPIN_TEXT is not None, its drop-in, under TMP_PATH."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    unit = tmp_path / "gitlab-runner.service"
    unit.write_text(RUNNER_UNIT)
    if dropin_text is not None:
        (tmp_path / "gitlab-runner.service.d").mkdir()
        (tmp_path / "gitlab-runner.service.d" / "berth-cgroup.conf").write_text(dropin_text)
    return unit


def delegates(unit):
    """True when systemd, reading UNIT and its drop-ins, hands the unit's cgroup subtree to it
    (systemd-analyze security lists Delegate= among the settings it weighs)."""
    res = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
                         capture_output=True, text=True, check=False)
    line = [ln for ln in res.stdout.splitlines() if re.search(r"\bDelegate=", ln)]
    assert len(line) == 1, res.stdout + res.stderr
    return "maintains its own delegated control group subtree" in line[0]


def check_dropin(dropin_text, tmp_path):
    """The drop-in loads without a complaint but the one systemd < 254 makes about
    DelegateSubgroup=, and turns delegation on; the unit alone does not have it."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed (Debian package: systemd)")
    assert "\nDelegate=yes\n" in dropin_text and "\nDelegateSubgroup=runner\n" in dropin_text
    bare = unit_with(None, tmp_path / "bare")
    assert not delegates(bare), "the stand-in unit delegates by itself: the check proves nothing"
    unit = unit_with(dropin_text, tmp_path / "with")
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                         capture_output=True, text=True, check=False)
    complaints = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    if systemd_version() < 254:
        # the claim the drop-in's comment makes: a warning, and the unit loads without the key
        assert len(complaints) == 1 and OLD_SYSTEMD_WARNING.search(complaints[0]), complaints
    else:
        assert not complaints, complaints
    assert res.returncode == 0, complaints
    assert delegates(unit)
