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
