"""`make deb` (scripts/deb.sh) and `make install`: the package builds, passes lintian, installs
into a throwaway root with dpkg (maintainer scripts run chrootless there) and purges cleanly, and
the installed berth runs. The conffiles, the man page, the gc units, the drop-in delegating GitLab
Runner's cgroup, the logrotate rule and the copyright and changelog files are where Debian
expects them; the gc unit's sandbox still lets `berth gc` do its work."""

import io
import os
import re
import shutil
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

import delegation

REPO = Path(__file__).resolve().parents[2]
VERSION = re.search(r"^VERSION\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.M).group(1)
SCRIPTS = ("postinst", "prerm", "postrm")
DROPIN = "lib/systemd/system/gitlab-runner.service.d/berth-cgroup.conf"


def berth_binary():
    path = Path(os.environ.get("BERTH_BIN") or REPO / "build" / "berth")
    if not path.is_file():
        pytest.skip(f"no berth binary at {path}: run make")
    return path


def need(tool):
    if not shutil.which(tool):
        pytest.skip(f"{tool} not installed (Debian package: see the test)")


def run(*argv, **kw):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False,
                          **kw)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    need("dpkg-deb")
    out = tmp_path_factory.mktemp("deb")
    res = run(REPO / "scripts" / "deb.sh", berth_binary(), VERSION, out, cwd=REPO)
    assert res.returncode == 0, res.stderr
    path = Path(res.stdout.strip())
    assert path.is_file() and path.parent == out, res.stdout
    return path


@pytest.fixture(scope="module")
def unpacked(deb, tmp_path_factory):
    """The package's files, extracted (dpkg-deb -x) with its control files under DEBIAN/."""
    root = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["dpkg-deb", "-R", str(deb), str(root)], check=True)
    return root


def control(deb):
    return run("dpkg-deb", "--field", deb).stdout


def depends(deb):
    """Depends as {package: version constraint or ''}."""
    field = run("dpkg-deb", "--field", deb, "Depends").stdout.strip()
    out = {}
    for item in field.split(","):
        m = re.fullmatch(r"\s*([a-z0-9.+-]+)(?::any)?\s*(?:\((.*)\))?\s*", item)
        assert m, f"cannot read Depends item {item!r} in {field!r}"
        out[m.group(1)] = m.group(2) or ""
    return out


def packages_of(soname):
    """The Debian packages that ship a file named SONAME on this machine (libfoo1:amd64 ->
    libfoo1)."""
    res = run("dpkg", "-S", f"*/{soname}")
    assert res.returncode == 0, f"no package ships {soname}: {res.stderr}"
    return {line.split(":")[0] for line in res.stdout.splitlines()}


def test_lintian_reports_nothing(deb):
    """No error, warning or even info tag; each override carries its reason in the file."""
    need("lintian")
    res = run("lintian", "--info", "--display-info", deb)
    # stderr only says lintian would rather not run as root
    assert res.returncode == 0 and res.stdout.strip() == "", res.stdout + res.stderr


def test_control_fields(deb):
    fields = control(deb)
    assert "Package: berth" in fields and f"Version: {VERSION}" in fields
    assert re.search(r"^Installed-Size: [1-9][0-9]*$", fields, re.M), fields
    assert re.search(r"^Section: devel$", fields, re.M) and "Priority: optional" in fields
    description = fields[fields.index("Description:"):].splitlines()
    assert len(description) > 1 and all(len(line) <= 80 for line in description), description


def test_depends_has_the_linked_and_the_dlopened_libraries(deb, unpacked):
    deps = depends(deb)
    # what the ELF file links (what dpkg-shlibdeps reads)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]",
                        run("readelf", "-d", unpacked / "usr/bin/berth").stdout)
    assert "libjansson.so.4" in needed, needed
    for soname in needed:
        pkgs = packages_of(soname)
        assert pkgs & set(deps), f"berth links {soname} ({pkgs}), which Depends lacks: {deps}"
    # what the source dlopen()s: every "<lib>.so.N" it names
    sources = [p for d in ("runner", "executors") for p in (REPO / d).rglob("*.c")]
    loaded = {m for p in sources
              for m in re.findall(r'"(lib[\w+-]+\.so\.[\d.]+)"', p.read_text())}
    assert {"libcurl.so.4", "libgit2.so.1.5", "libpcre2-8.so.0"} <= loaded, loaded
    for soname in loaded:
        pkgs = packages_of(soname)
        assert pkgs & set(deps), f"berth dlopen()s {soname} ({pkgs}), which Depends lacks: {deps}"


def test_binary_is_stripped_and_keeps_its_hardening(unpacked):
    berth = unpacked / "usr/bin/berth"
    sections = run("readelf", "-S", "-W", berth).stdout
    assert ".symtab" not in sections and ".debug_" not in sections, sections
    dynamic = run("readelf", "-d", berth).stdout
    assert "BIND_NOW" in dynamic and "PIE" in dynamic, dynamic  # full RELRO, PIE
    assert "GNU_RELRO" in run("readelf", "-l", "-W", berth).stdout
    symbols = run("readelf", "--dyn-syms", "-W", berth).stdout
    assert "__stack_chk_fail" in symbols, "no stack protector"
    assert re.search(r"__\w+_chk\b", symbols.replace("__stack_chk_fail", "")), "no fortify"
    version = run(berth, "--version")
    assert version.returncode == 0 and VERSION in version.stdout, version


def test_copyright_changelog_and_files(unpacked):
    doc = unpacked / "usr/share/doc/berth"
    copyright_text = (doc / "copyright").read_text()
    assert copyright_text.startswith("Format: https://www.debian.org/doc/packaging-manuals/"
                                     "copyright-format/1.0/\n"), copyright_text[:200]
    assert "Copyright: 2026 berth contributors" in copyright_text
    assert "License: Expat\n Permission is hereby granted" in copyright_text
    changelog = run("sh", "-c", f"zcat {doc / 'changelog.gz'}").stdout
    assert changelog.startswith(f"berth ({VERSION}) unstable; urgency=medium\n"), changelog
    assert "\n -- berth maintainers <berth@example.com>  " in changelog
    for path in ("usr/share/man/man1/berth.1.gz", "lib/systemd/system/berth-gc.service",
                 "lib/systemd/system/berth-gc.timer", DROPIN, "etc/logrotate.d/berth",
                 "usr/share/bash-completion/completions/berth",
                 "usr/share/lintian/overrides/berth"):
        assert (unpacked / path).is_file(), path


def test_deb_refuses_a_version_the_changelog_lacks(tmp_path):
    res = run(REPO / "scripts/deb.sh", berth_binary(), "9.9.9", tmp_path, cwd=REPO)
    assert res.returncode != 0 and not list(tmp_path.iterdir())
    assert "CHANGELOG.md's newest entry is" in res.stderr and "## 9.9.9" in res.stderr, res.stderr


def test_conffiles_and_the_settings_mode(deb, unpacked):
    assert (unpacked / "DEBIAN/conffiles").read_text().split() == [
        "/etc/berth/berth.yaml", "/etc/logrotate.d/berth"]
    tree = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tree)) as tar:
        settings = tar.getmember("./etc/berth/berth.yaml")
    # berth refuses settings others may write; job users must not read them either
    assert stat.S_IMODE(settings.mode) == 0o640 and (settings.uname, settings.gname) == (
        "root", "root"), (oct(settings.mode), settings.uname, settings.gname)


def test_maintainer_scripts_pass_sh_n_and_shellcheck(unpacked):
    for name in SCRIPTS:
        script = unpacked / "DEBIAN" / name
        assert os.access(script, os.X_OK), name
        res = run("sh", "-n", script)
        assert res.returncode == 0, f"{name}: {res.stderr}"
    need("shellcheck")
    res = run("shellcheck", *(unpacked / "DEBIAN" / name for name in SCRIPTS))
    assert res.returncode == 0, res.stdout


def units_for_verify(unpacked, tmp_path):
    """The units as shipped, but starting the unpacked binary: verify checks that it exists."""
    for name in ("berth-gc.service", "berth-gc.timer"):
        text = (unpacked / "lib/systemd/system" / name).read_text()
        assert name.endswith(".timer") or "\nExecStart=/usr/bin/berth gc\n" in text, text
        (tmp_path / name).write_text(text.replace("ExecStart=/usr/bin/berth",
                                                  f"ExecStart={unpacked}/usr/bin/berth"))
    return tmp_path / "berth-gc.service", tmp_path / "berth-gc.timer"


def test_units_pass_systemd_analyze(unpacked, tmp_path):
    need("systemd-analyze")
    service, timer = units_for_verify(unpacked, tmp_path)
    res = run("systemd-analyze", "verify", "--man=no", service, timer)
    assert res.returncode == 0 and not (res.stdout + res.stderr).strip(), res.stdout + res.stderr
    res = run("systemd-analyze", "security", "--offline=yes", "--no-pager", service)
    level = re.search(r"Overall exposure level for berth-gc.service: ([\d.]+)", res.stdout)
    assert level, res.stdout + res.stderr
    # 10 is an unsandboxed root service; the options the unit leaves out are those gc needs
    assert float(level.group(1)) <= 2.5, res.stdout


def test_runner_dropin_delegates_the_cgroup(unpacked, tmp_path):
    """The drop-in the package ships for gitlab-runner.service hands the runner's cgroup
    subtree to it (and so to berth), on this machine's systemd."""
    dropin = unpacked / DROPIN
    assert dropin.read_text() == (REPO / "packaging/berth-cgroup.conf").read_text()
    delegation.check_dropin(dropin.read_text(), tmp_path)


def unit_capabilities():
    text = (REPO / "packaging/berth-gc.service").read_text()
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M).group(1).split()
    return ",".join("+" + c.removeprefix("CAP_").lower() for c in caps)


def test_gc_works_within_the_units_capabilities(tmp_path):
    """berth gc, started with no capability but those of the unit's CapabilityBoundingSet (and
    no new privileges), removes a stale workspace holding a tree another user made unreadable,
    and keeps one that a process of another user still works in (it must read that process's
    environment)."""
    if os.geteuid() != 0:
        pytest.skip("gc as root only")
    need("setpriv")
    state = tmp_path / "state"
    (state / "jobs").mkdir(parents=True)
    state.chmod(0o700)
    settings = tmp_path / "berth.yaml"
    settings.write_text(f"state_dir: {state}\nbuilds_dir: {tmp_path}/builds\n"
                        f"cache_dir: {tmp_path}/cache\ngc_age: 1h\n")
    day_ago = time.time() - 86400
    stale, busy = state / "jobs/4242", state / "jobs/4243"
    for ws, project in ((stale, 7), (busy, 8)):
        ws.mkdir()
        (ws / "state").write_text(f"project_id {project}\n")
    deep = stale / "tmp/a/b"
    deep.mkdir(parents=True)
    (deep / "f").write_text("x")
    for path in (stale / "tmp", stale / "tmp/a", deep, deep / "f"):
        os.chown(path, 65534, 65534)
    for path in (deep, stale / "tmp/a"):
        path.chmod(0)
    for ws in (stale, busy):
        os.utime(ws / "state", (day_ago, day_ago))
        os.utime(ws, (day_ago, day_ago))
    sleeper = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                "env", f"BERTH_JOB_DIR={busy}", "sleep", "60"])
    try:
        cmdline = Path(f"/proc/{sleeper.pid}/cmdline")
        deadline = time.monotonic() + 10
        while not cmdline.read_bytes().startswith(b"sleep\0"):  # exec'd, marker in place
            assert time.monotonic() < deadline and sleeper.poll() is None, "sleep never ran"
            time.sleep(0.01)
        res = run("setpriv", f"--bounding-set=-all,{unit_capabilities()}", "--no-new-privs",
                  berth_binary(), "--config", settings, "gc")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "removed" in res.stdout and "4242" in res.stdout, res.stdout
    assert not stale.exists() and busy.is_dir(), sorted(os.listdir(state / "jobs"))


def test_logrotate_rule_renames_without_copying(unpacked, tmp_path):
    """berth reopens the log for each line, so the rule renames it (same inode, no copy and
    truncate) and creates nothing: berth's next line makes the new file."""
    need("logrotate")
    rule = (unpacked / "etc/logrotate.d/berth").read_text()
    assert "\n/var/lib/berth/stages.log {\n" in rule, rule
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    log = state / "stages.log"
    log.write_text('{"job":"1"}\n')
    inode = log.stat().st_ino
    conf = tmp_path / "berth.logrotate"
    conf.write_text(rule.replace("/var/lib/berth/stages.log", str(log)))
    res = run("logrotate", "--state", tmp_path / "logrotate.status", "--force", conf)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not log.exists(), "nocreate: berth creates the next log itself"
    rotated = state / "stages.log.1"
    assert rotated.stat().st_ino == inode and rotated.read_text() == '{"job":"1"}\n'


def run_postinst():
    """The package's postinst, as dpkg runs it on a real install (as root, no DPKG_ROOT).
    Its deb-systemd-helper calls do nothing outside dpkg (no DPKG_MAINTSCRIPT_PACKAGE): this
    host's systemd state is left alone."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DPKG_ROOT", "DPKG_MAINTSCRIPT_PACKAGE")}
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


def dpkg_in(root, *args):
    """dpkg on the throwaway ROOT; maintainer scripts run from here with DPKG_ROOT=ROOT."""
    return run("dpkg", f"--root={root}", "--force-depends", "--force-not-root",
               "--force-script-chrootless", *args)


def test_installs_into_a_throwaway_root_runs_and_purges(deb, tmp_path):
    root = tmp_path / "root"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
        (root / d).mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("")
    res = dpkg_in(root, "-i", deb)
    assert res.returncode == 0, res.stdout + res.stderr
    status = run("dpkg", f"--root={root}", "-s", "berth").stdout
    assert "Status: install ok installed" in status, status
    assert "/etc/berth/berth.yaml" in status, f"not registered as a conffile:\n{status}"

    berth = root / "usr/bin/berth"
    assert os.access(berth, os.X_OK)
    version = run(berth, "--version")
    assert version.returncode == 0 and VERSION in version.stdout, version
    assert (root / "usr/share/man/man1/berth.1.gz").is_file()
    # the postinst enabled the timer (deb-systemd-helper, honouring DPKG_ROOT)
    wants = root / "etc/systemd/system/timers.target.wants/berth-gc.timer"
    assert os.readlink(wants) == "/lib/systemd/system/berth-gc.timer"
    assert (root / "lib/systemd/system/berth-gc.timer").is_file()
    assert (root / DROPIN).is_file()
    settings = root / "etc/berth/berth.yaml"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o640
    assert settings.read_text() == (REPO / "examples/berth.yaml").read_text()
    # metrics are on: the settings' metrics_dir is node_exporter's textfile directory, shipped
    assert "\nmetrics_dir: /var/lib/prometheus/node-exporter\n" in settings.read_text()
    assert (root / "var/lib/prometheus/node-exporter").is_dir()
    # dpkg ran the postinst chrootless (DPKG_ROOT set), where it creates no users: on this
    # host, the users the settings list come from a real run of it.
    if os.geteuid() == 0:
        assert run_postinst().returncode == 0
    shown = run(berth, "--config", settings, "config", "--show-settings")
    assert shown.returncode == 0, f"the packaged settings do not load:\n{shown.stderr}"

    # purge: the timer's enablement and berth's state go, the settings too
    (root / "var/lib/berth/jobs").mkdir(parents=True)
    (root / "var/lib/berth/stages.log").write_text("{}\n")
    res = dpkg_in(root, "--purge", "berth")
    assert res.returncode == 0, res.stdout + res.stderr
    gone = [p for p in (wants, root / "var/lib/berth", settings, berth, root / DROPIN)
            if os.path.lexists(p)]
    assert not gone, gone
    assert not list((root / "var/lib/systemd/deb-systemd-helper-enabled").rglob("berth*"))


def test_make_install_puts_everything_in_place_and_keeps_the_admins_files(tmp_path):
    need("make")
    dest = tmp_path / "dest"

    def install():
        # this binary, never rebuilt (-o): BERTH_BIN may be a build of another O=
        res = run("make", "--no-print-directory", "-o", berth_binary(), "install",
                  f"BIN={berth_binary()}", f"DESTDIR={dest}", "PREFIX=/usr/local", cwd=REPO)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout

    install()
    modes = {
        "usr/local/bin/berth": 0o755,
        "usr/local/share/man/man1/berth.1": 0o644,
        "usr/local/share/doc/berth/LICENSE": 0o644,
        "usr/local/share/bash-completion/completions/berth": 0o644,
        "usr/local/lib/systemd/system/berth-gc.service": 0o644,
        "usr/local/lib/systemd/system/berth-gc.timer": 0o644,
        "usr/local/lib/systemd/system/gitlab-runner.service.d/berth-cgroup.conf": 0o644,
        "etc/berth/berth.yaml": 0o640,
        "etc/logrotate.d/berth": 0o644,
        "var/lib/prometheus/node-exporter": 0o755,  # the settings' metrics_dir
    }
    for path, mode in modes.items():
        assert stat.S_IMODE((dest / path).stat().st_mode) == mode, path
    service = (dest / "usr/local/lib/systemd/system/berth-gc.service").read_text()
    assert "\nExecStart=/usr/local/bin/berth gc\n" in service, service
    # an admin's settings and logrotate rule survive a second install
    (dest / "etc/berth/berth.yaml").write_text("kill_grace: 3s\n")
    (dest / "etc/logrotate.d/berth").write_text("# mine\n")
    out = install()
    assert "keeping" in out and (dest / "etc/berth/berth.yaml").read_text() == "kill_grace: 3s\n"
    assert (dest / "etc/logrotate.d/berth").read_text() == "# mine\n"


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
