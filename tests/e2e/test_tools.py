"""`berth tools install BUNDLE --sha256 HEX` and `berth tools list` (docs/tools.md), end to end.

Bundles are made here with Python's tarfile: a good one (gzip, xz, and zstd when the zstd tool
is installed), and hostile ones that must be refused without writing anything outside the
tools directory: absolute paths, `..`, links that lead out, writes through a link, hard links,
device files, FIFOs, an entry claiming more than 1 GiB. Then a job: with `tools_bundle` set,
prepare refuses a bundle that is not installed, and stage scripts find the bundle's werf first.
"""

import hashlib
import io
import os
import shutil
import subprocess
import tarfile

import pytest

from lib import runner as rn

SYSTEM_FAILURE = 78


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_file(tar, name, data=b"", mode=0o755):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def add_special(tar, name, kind, target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


WERF = b"#!/bin/sh\necho bundled-werf \"$@\"\n"


def make_bundle(path, entries, compression="gz"):
    """ENTRIES: callables taking the open TarFile."""
    with tarfile.open(path, f"w:{compression}") as tar:
        for add in entries:
            add(tar)
    return path


def good_entries():
    return [lambda t: add_special(t, "bin", tarfile.DIRTYPE),
            lambda t: add_file(t, "bin/werf", WERF),
            lambda t: add_file(t, "bin/kubectl", b"#!/bin/sh\necho kubectl\n"),
            lambda t: add_special(t, "bin/k", tarfile.SYMTYPE, "kubectl"),
            lambda t: add_file(t, "share/doc/README", b"docs", 0o644)]


def berth(berth_bin, settings, *args):
    env = dict(os.environ, BERTH_CONFIG=str(settings.path),
               SYSTEM_FAILURE_EXIT_CODE=str(SYSTEM_FAILURE))
    return subprocess.run([str(berth_bin), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def tools_dir(settings):
    return settings.state_dir / "tools"


def everything_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("compression", ["gz", "xz"])
def test_install_list_and_install_again(berth_bin, settings, tmp_path, compression):
    bundle = make_bundle(tmp_path / f"werf.tar.{compression}", good_entries(), compression)
    digest = sha256(bundle)
    res = berth(berth_bin, settings, "tools", "install", str(bundle), "--sha256", digest)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("installed"), res.stdout
    root = tools_dir(settings) / digest
    werf = root / "bin" / "werf"
    assert werf.read_bytes() == WERF
    assert os.access(werf, os.X_OK), "the executable bit was lost"
    assert os.readlink(root / "bin" / "k") == "kubectl"
    assert (root / "share" / "doc" / "README").read_text() == "docs"
    assert subprocess.run([str(werf), "version"], capture_output=True,
                          text=True).stdout.strip() == "bundled-werf version"
    assert [p.name for p in tools_dir(settings).iterdir()] == [digest], "leftovers"

    mtime = root.stat().st_mtime_ns
    again = berth(berth_bin, settings, "tools", "install", str(bundle), "--sha256", digest)
    assert again.returncode == 0 and again.stdout.startswith("already installed"), again
    assert root.stat().st_mtime_ns == mtime, "installing twice changed the installed bundle"

    listing = berth(berth_bin, settings, "tools", "list")
    assert listing.returncode == 0, listing.stderr
    assert digest in listing.stdout
    for tool in ("werf", "kubectl", "k"):
        assert tool in listing.stdout, listing.stdout


def test_zstd_bundle(berth_bin, settings, tmp_path):
    if not shutil.which("zstd"):
        pytest.skip("zstd not installed: apt-get install zstd")
    plain = make_bundle(tmp_path / "werf.tar", good_entries(), "")
    subprocess.run(["zstd", "-q", str(plain), "-o", str(tmp_path / "werf.tar.zst")], check=True)
    bundle = tmp_path / "werf.tar.zst"
    res = berth(berth_bin, settings, "tools", "install", str(bundle), "--sha256", sha256(bundle))
    assert res.returncode == 0, res.stderr
    assert (tools_dir(settings) / sha256(bundle) / "bin" / "werf").read_bytes() == WERF


def test_wrong_sha256_installs_nothing(berth_bin, settings, tmp_path):
    bundle = make_bundle(tmp_path / "werf.tgz", good_entries())
    wrong = "0" * 64
    res = berth(berth_bin, settings, "tools", "install", str(bundle), "--sha256", wrong)
    assert res.returncode == SYSTEM_FAILURE, res
    assert sha256(bundle) in res.stderr and wrong in res.stderr, res.stderr
    assert everything_under(tools_dir(settings)) == [], everything_under(tools_dir(settings))


@pytest.mark.parametrize("value", ["", "abc", "A" * 64, "g" * 64, "0" * 63])
def test_bad_sha256_argument(berth_bin, settings, tmp_path, value):
    bundle = make_bundle(tmp_path / "werf.tgz", good_entries())
    res = berth(berth_bin, settings, "tools", "install", str(bundle), "--sha256", value)
    assert res.returncode == SYSTEM_FAILURE, res
    assert "64 lowercase hex" in res.stderr, res.stderr


HOSTILE = {
    "absolute-path": [lambda t: add_file(t, "/tmp/berth-evil-abs", b"x")],
    "dot-dot": [lambda t: add_file(t, "bin/../../berth-evil-dotdot", b"x")],
    "link-absolute": [lambda t: add_special(t, "bin/evil", tarfile.SYMTYPE, "/etc/passwd")],
    "link-escapes": [lambda t: add_special(t, "bin/evil", tarfile.SYMTYPE, "../../outside")],
    "write-through-link": [lambda t: add_special(t, "lnk", tarfile.SYMTYPE, "bin"),
                           lambda t: add_special(t, "bin", tarfile.DIRTYPE),
                           lambda t: add_file(t, "lnk/werf", b"x")],
    "hard-link": [lambda t: add_special(t, "bin/again", tarfile.LNKTYPE, "bin/werf")],
    "same-name-twice": [lambda t: add_file(t, "bin/werf", b"a second werf")],
    "char-device": [lambda t: add_special(t, "bin/null", tarfile.CHRTYPE)],
    "fifo": [lambda t: add_special(t, "bin/pipe", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bundle_is_refused(berth_bin, settings, tmp_path, case):
    bundle = make_bundle(tmp_path / "evil.tgz", good_entries()[:2] + HOSTILE[case])
    before = set(os.listdir(tmp_path)), set(os.listdir("/tmp"))
    res = berth(berth_bin, settings, "tools", "install", str(bundle), "--sha256", sha256(bundle))
    assert res.returncode == SYSTEM_FAILURE, (case, res)
    assert "refusing bundle" in res.stderr, res.stderr
    assert everything_under(tools_dir(settings)) == [], (
        f"{case}: left {everything_under(tools_dir(settings))}")
    assert (set(os.listdir(tmp_path)), set(os.listdir("/tmp"))) == before or not any(
        "berth-evil" in name for name in os.listdir("/tmp")), "something was written outside"
    assert not os.path.lexists("/tmp/berth-evil-abs")


def test_oversized_entry_is_refused_from_its_header(berth_bin, settings, tmp_path):
    # A header that claims 2 GiB, and no data: refused before any byte is written.
    info = tarfile.TarInfo("bin/huge")
    info.size = 2 << 30
    raw = info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024
    bundle = tmp_path / "huge.tar"
    bundle.write_bytes(raw)
    res = berth(berth_bin, settings, "tools", "install", str(bundle), "--sha256", sha256(bundle))
    assert res.returncode == SYSTEM_FAILURE, res
    assert "larger than 1 GiB" in res.stderr, res.stderr
    assert everything_under(tools_dir(settings)) == []


def test_not_an_archive(berth_bin, settings, tmp_path):
    bundle = tmp_path / "werf.tgz"
    bundle.write_bytes(b"this is not a tarball\n" * 20)
    res = berth(berth_bin, settings, "tools", "install", str(bundle), "--sha256", sha256(bundle))
    assert res.returncode == SYSTEM_FAILURE, res
    assert "cannot read bundle" in res.stderr, res.stderr
    assert everything_under(tools_dir(settings)) == []


def test_jobs_get_the_bundle_first_on_path(berth_bin, settings, runner, tmp_path):
    bundle = make_bundle(tmp_path / "werf.tgz", good_entries())
    digest = sha256(bundle)
    settings.write(tools_bundle=digest)

    # Not installed yet: prepare refuses, saying how to fix it.
    missing = runner.job(9501)
    try:
        assert not missing.config_and_prepare(), missing.results
        prepares = [r for r in missing.results if r.stage == "prepare"]
        assert prepares and all(r.cls == rn.SYSTEM_FAILURE for r in prepares), missing.results
        assert "berth tools install" in prepares[0].stderr, prepares[0].report()
    finally:
        missing.cleanup()
        missing.remove_tmp()

    res = berth(berth_bin, settings, "tools", "install", str(bundle), "--sha256", digest)
    assert res.returncode == 0, res.stderr
    # `werf` is berth's wrapper (docs/werf.md); the werf it runs is the first other one on PATH.
    job = runner.job(9502, scripts={"build_script": ["werf version", "type -ap werf"]})
    try:
        assert job.config_and_prepare(), job.results
        assert job.run("get_sources").cls == rn.OK, job.results  # makes the build dir
        result = job.run("build_script")
        assert result.cls == rn.OK, result.report()
        assert "bundled-werf version" in result.stdout, result.report()
        on_path = [line for line in result.stdout.splitlines() if line.startswith("/")]
        assert on_path[:2] == [str(job.workspace / "bin" / "werf"),
                               str(tools_dir(settings) / digest / "bin" / "werf")], on_path
    finally:
        job.cleanup()
        job.remove_tmp()
