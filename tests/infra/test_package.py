"""`make deb` (scripts/deb.sh): the package builds, installs into a throwaway root with dpkg,
and the installed berth runs. The conffile, the man page and the gc units are where Debian
expects them."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def berth_binary():
    path = Path(os.environ.get("BERTH_BIN") or REPO / "build" / "berth")
    if not path.is_file():
        pytest.skip(f"no berth binary at {path}: run make")
    return path


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb not installed")
    out = tmp_path_factory.mktemp("deb")
    res = subprocess.run([str(REPO / "scripts" / "deb.sh"), str(berth_binary()), "0.1.0",
                          str(out)], cwd=REPO, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    path = Path(res.stdout.strip())
    assert path.is_file() and path.parent == out, res.stdout
    return path


def test_control_and_conffiles(deb):
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True,
                          check=True).stdout
    assert "Package: berth" in info and "Version: 0.1.0" in info
    for lib in ("libjansson4", "libyaml-0-2", "libcurl4", "libarchive13", "libpcre2-8-0"):
        assert lib in info, f"Depends lacks {lib}:\n{info}"
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True,
                               check=True).stdout
    assert b"conffiles" in conffiles
    assert b"postinst" in conffiles  # creates the job users (test_postinst_... below)


def run_postinst():
    """The package's postinst, as dpkg runs it on a real install (as root, no DPKG_ROOT)."""
    env = {k: v for k, v in os.environ.items() if k != "DPKG_ROOT"}
    return subprocess.run([str(REPO / "packaging/postinst"), "configure"], env=env,
                          capture_output=True, text=True, check=False)


def test_postinst_creates_the_job_users_the_settings_list():
    """Scripts never run as root: the shipped settings list berth-job-1..4, which the postinst
    creates (and keeps when they are there: a second run changes nothing)."""
    if os.geteuid() != 0:
        pytest.skip("the postinst creates users: root only")
    listed = [line for line in (REPO / "examples/berth.yaml").read_text().splitlines()
              if line.startswith("job_users:")]
    assert listed == ["job_users: [berth-job-1, berth-job-2, berth-job-3, berth-job-4]"], listed
    for attempt in (1, 2):
        res = run_postinst()
        assert res.returncode == 0, f"attempt {attempt}: {res.stdout}{res.stderr}"
    for i in range(1, 5):
        entry = subprocess.run(["getent", "passwd", f"berth-job-{i}"], capture_output=True,
                               text=True, check=False).stdout.split(":")
        assert len(entry) == 7 and entry[2] != "0", entry
        assert os.stat(entry[5]).st_uid == int(entry[2]), f"berth-job-{i} has no home of its own"


def test_installs_into_a_throwaway_root_and_runs(deb, tmp_path):
    root = tmp_path / "root"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
        (root / d).mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("")
    res = subprocess.run(["dpkg", f"--root={root}", "--force-depends", "--force-not-root",
                          "--force-script-chrootless", "-i", str(deb)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    status = subprocess.run(["dpkg", f"--root={root}", "-s", "berth"], capture_output=True,
                            text=True, check=True).stdout
    assert "Status: install ok installed" in status, status
    assert "/etc/berth/berth.yaml" in status, f"not registered as a conffile:\n{status}"

    berth = root / "usr/bin/berth"
    assert os.access(berth, os.X_OK)
    version = subprocess.run([str(berth), "--version"], capture_output=True, text=True,
                             check=False)
    assert version.returncode == 0 and "0.1.0" in version.stdout, version
    assert (root / "usr/share/man/man1/berth.1.gz").is_file()
    assert (root / "lib/systemd/system/berth-gc.timer").is_file()
    settings = root / "etc/berth/berth.yaml"
    assert settings.read_text() == (REPO / "examples/berth.yaml").read_text()
    # dpkg ran the postinst chrootless (DPKG_ROOT set), where it creates no users: on this
    # host, the users the settings list come from a real run of it.
    if os.geteuid() == 0:
        assert run_postinst().returncode == 0
    shown = subprocess.run([str(berth), "--config", str(settings), "config",
                            "--show-settings"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0, f"the packaged settings do not load:\n{shown.stderr}"


def test_example_config_toml_has_the_runners_types():
    """GitLab Runner's CustomConfig declares the exec and kill timeouts as integer seconds: a
    quoted "30s" there makes the runner refuse the whole file."""
    import tomllib  # pylint: disable=import-outside-toplevel

    config = tomllib.loads((REPO / "examples/config.toml").read_text())
    custom = config["runners"][0]["custom"]
    for stage in ("config", "prepare", "run", "cleanup"):
        assert custom[f"{stage}_args"] == [stage], custom
        assert custom[f"{stage}_exec"].endswith("/berth"), custom
    for key, value in custom.items():
        if key.endswith("_timeout"):
            assert isinstance(value, int) and not isinstance(value, bool), (key, value)
    assert config["runners"][0]["executor"] == "custom"
