"""ansible/: lint, syntax, variable names, and two real converges of the berth_runner role.

The fresh converge (below "converge into a fresh Debian 12 root") runs ansible/site.yml through
the chroot connection into a Debian 12 root made by mmdebstrap, apt on, twice: the second run
must change nothing.

The fast converge runs ansible/site.yml with `-c local` against localhost into a throwaway root:
every path the role writes is a variable pointed into a temp dir, apt, the systemd timer, the
gitlab-runner service and its installation are off, berth is the prebuilt binary (BERTH_BIN or
build/berth: nothing is compiled), and gitlab-runner is a fake that records its calls. A run,
then a --check --diff run that must change nothing (the fresh converge makes the real second
run). Canary tokens given as variables must appear in config.toml and never in
ansible-playbook's output (-v --diff: no_log must hide them).

The source build (rsync of this checkout, make, make install) compiles berth, so it is opt-in:
BERTH_ANSIBLE_BUILD=1.

Needs: ansible-playbook, yamllint, ansible-lint (Debian: apt-get install ansible ansible-lint
yamllint); tests skip what is not installed. Run as root (the role chowns to root).
"""

import fcntl
import hashlib
import io
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest

import delegation

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "ansible"
ROLE = ANSIBLE / "roles" / "berth_runner"

# Real system accounts on the test machine: names nothing else uses. The converge creates them
# (they are removed first when an earlier run left them) and the fixture removes them again.
JOB_USERS = ["berth-ans-job-1", "berth-ans-job-2"]
MISSING_GROUP = "berth-ans-no-such-group"

CANARY_TOKEN = "glrt-CANARY" + secrets.token_hex(8)
CANARY_REGISTRATION = "CANARYREG" + secrets.token_hex(8)
REGISTERED_TOKEN = "glrt-REGISTERED" + secrets.token_hex(8)
CANARY_S3_SECRET = "CANARYS3" + secrets.token_hex(8)   # a secret in config_extra



def need(tool):
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} is not installed (apt-get install ansible ansible-lint yamllint)")
    return path


def berth_binary():
    path = Path(os.environ.get("BERTH_BIN", REPO / "build" / "berth"))
    return path if path.is_file() and os.access(path, os.X_OK) else None


def root_and_berth(why):
    """The berth binary a converge installs; skips when not root or there is none."""
    if os.geteuid() != 0:
        pytest.skip(f"{why}: run as root")
    berth = berth_binary()
    if not berth:
        pytest.skip("no berth binary: run `make`, or set BERTH_BIN")
    return berth


def ansible_env(tmp):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    })
    return env


def run(cmd, timeout=300, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          **kw)


def recap(out, host="localhost"):
    m = re.search(rf"^{host}\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                  out, re.M)
    assert m, f"no PLAY RECAP for {host} in:\n{out[-3000:]}"
    ok, changed, unreachable, failed = map(int, m.groups())
    return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed}


# --- static checks ---------------------------------------------------------------------------

def test_yamllint_strict():
    yamllint = need("yamllint")
    r = run([yamllint, "-s", "-c", ANSIBLE / ".yamllint", ANSIBLE], cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ansible_lint_offline(tmp_path):
    lint = need("ansible-lint")
    env = ansible_env(tmp_path)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    r = run([lint, "--offline", "--nocolor"], cwd=ANSIBLE, env=env)
    out = r.stdout + r.stderr
    if r.returncode != 0 and re.search(r"galaxy\.ansible\.com|Temporary failure in name "
                                       r"resolution|Network is unreachable", out):
        pytest.skip(f"ansible-lint needs the network despite --offline:\n{out[-1500:]}")
    assert r.returncode == 0, out


def test_syntax_check(tmp_path):
    playbook = need("ansible-playbook")
    r = run([playbook, "--syntax-check", "-i", "ansible/inventory/example.yml",
             "ansible/site.yml"], cwd=REPO, env=ansible_env(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr


def role_variables():
    """Every variable the role defines: defaults, registered results, set_fact and task or
    block vars."""
    names = set()
    for path in ROLE.rglob("*.yml"):
        text = path.read_text()
        if path.parent.name == "defaults":
            names |= set(re.findall(r"^(\w+):", text, re.M))
        names |= set(re.findall(r"^\s+register: (\w+)", text, re.M))
        for indent, block in re.findall(
                r"^( +)(?:ansible\.builtin\.set_fact|vars):\n((?:\1 +.*\n)+)", text, re.M):
            names |= set(re.findall(rf"^{indent}  (\w+):", block, re.M))
    return names


# A few of riemers.gitlab_runner's variables (its defaults/main.yml), the role most teams use
# beside this one: both may be played on one host.
RIEMERS = {"gitlab_runner_concurrent", "gitlab_runner_runners", "gitlab_runner_listen_address",
           "gitlab_runner_config_file", "gitlab_runner_package_name",
           "gitlab_runner_coordinator_url", "gitlab_runner_registration_token"}


def test_every_variable_is_prefixed():
    names = role_variables()
    for name in ("berth_runner_runners", "berth_runner_concurrent",   # defaults
                 "berth_runner__gitlab_bin",                           # register
                 "berth_runner_exec",                                  # set_fact
                 "berth_runner__bad_runners"):                         # task vars
        assert name in names, "role_variables() misses a kind of variable"
    assert sorted(n for n in names if not n.startswith("berth_runner_")) == []
    assert not names & RIEMERS
    # Nor does it read one of riemers' (gitlab_runner_*) or an old name.
    for path in ROLE.rglob("*"):
        if path.suffix in (".yml", ".j2"):
            assert not re.findall(r"\bgitlab_runners?_\w*", path.read_text()), path


def test_toml_rendering_round_trips():
    """berth_runner_to_toml: what tomllib reads back is what was given."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "berth_runner_toml", ROLE / "filter_plugins/berth_runner_toml.py")
    toml = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toml)
    data = {"concurrent": 2, "ratio": 0.5, "on": True, "s": TRICKY, "quote\"d key": "x",
            "dotted.key": ["a", 1, [True]], "inline": [{"a": 1}, "mixed"],
            "session_server": {"listen_address": "[::]:8093", "deep": {"x": [1, 2]}},
            "runners": [{"name": "a", "custom": {"run_args": ["run"]}},
                        {"name": "b", "cache": {"s3": {"BucketName": "c"}}}]}
    text = toml.to_toml(data)
    assert tomllib.loads(text) == data, text
    assert "[[runners]]" in text and "[runners.cache.s3]" in text
    with pytest.raises(Exception, match=r"config\.toml: session_server\.x is null"):
        toml.to_toml({"session_server": {"x": None}})


# --- converge into a throwaway root ----------------------------------------------------------

FAKE_GITLAB_RUNNER = """#!/bin/bash
# A stand-in for gitlab-runner: `register` writes a config with a token, as the real one does
# after asking GitLab. Every call is recorded in $LOG.
set -eu
LOG=%(log)s
config=""
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in --config) config="$2"; shift ;; esac
  shift
done
[ "${args[0]}" = register ] || { echo "fake gitlab-runner: ${args[*]}" >>"$LOG"; exit 0; }
tokenok=no
[ "${REGISTRATION_TOKEN:-}" = %(reg)s ] && tokenok=yes
printf 'register name=%%s url=%%s executor=%%s tags=%%s token_in_env=%%s argv=%%s\\n' \\
  "$RUNNER_NAME" "$CI_SERVER_URL" "$RUNNER_EXECUTOR" "${RUNNER_TAG_LIST:-}" "$tokenok" \\
  "${args[*]}" >>"$LOG"
[ "$tokenok" = yes ] || { echo "wrong registration token" >&2; exit 1; }
cat >"$config" <<EOF
concurrent = 1
[[runners]]
  name = "$RUNNER_NAME"
  url = "$CI_SERVER_URL"
  token = %(registered)s
  executor = "custom"
EOF
echo "Runner registered successfully." >&2
"""

# config.toml settings the role has no variable for (berth_runner_config_extra, config_extra):
# strings TOML must escape, nested tables, arrays, and a value the role sets (overridden).
TRICKY = 'say "hi" \\ C:\\path\nline two\ttab, ünïcødé'
CONFIG_EXTRA = {
    "log_format": "json",
    "sentry_dsn": TRICKY,
    "session_server": {"listen_address": "[::]:8093", "session_timeout": 1800},
}
RUNNER_EXTRA = {
    "feature_flags": {"FF_USE_FASTZIP": True, "FF_SCRIPT_SECTIONS": False},
    "cache": {"Type": "s3", "Shared": True, "Path": "berth",
              "s3": {"ServerAddress": "s3.ru-1.storage.selcloud.ru", "BucketName": "runner-cache",
                     "BucketLocation": "ru-1", "AccessKey": "AK", "SecretKey": CANARY_S3_SECRET}},
    "custom": {"prepare_exec_timeout": 900},
    "pre_get_sources_script": TRICKY,
}
OLD_CONFIG = """concurrent = 1
[[runners]]
  name = "old-runner"
  url = "https://gitlab.example.com"
  token = "glrt-OLD"
  executor = "shell"
"""

WERF = b"#!/bin/sh\necho bundled-werf \"$@\"\n"


def make_bundle(path):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("bin")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        info = tarfile.TarInfo("bin/werf")
        info.size = len(WERF)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(WERF))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remove_job_users(names):
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        r = run(["userdel", name])
        assert r.returncode == 0, r.stderr


def berth_commands(berth):
    r = run([berth, "help"])
    return set(re.findall(r"^\s+([a-z][a-z-]*)\s", r.stdout, re.M))


class Converge:
    """The throwaway root, the variables given to the role, and the runs' outputs."""

    def __init__(self, tmp, berth):
        self.tmp = tmp
        self.root = tmp / "root"
        self.berth_src = berth
        self.bin_dir = self.root / "usr/local/bin"
        self.etc_berth = self.root / "etc/berth"
        self.settings = self.etc_berth / "berth.yaml"
        self.etc_runner = self.root / "etc/gitlab-runner"
        self.config_toml = self.etc_runner / "config.toml"
        self.units = self.root / "etc/systemd/system"
        self.cache = self.root / "var/cache/berth"
        self.state = self.root / "var/lib/berth"
        self.homes = self.root / "home"
        self.metrics = self.root / "var/lib/prometheus/node-exporter"
        # as Debian's prometheus-node-exporter ships it
        self.node_exporter_defaults = self.root / "etc/default/prometheus-node-exporter"
        self.node_exporter_defaults.parent.mkdir(parents=True)
        self.node_exporter_defaults.write_text('# Set the command-line arguments\nARGS=""\n')
        self.fake_runner = self.root / "usr/bin/gitlab-runner"
        self.fake_log = tmp / "gitlab-runner.log"
        self.has_tools = "tools" in berth_commands(berth)
        self.outputs = []
        self.recaps = []

        self.fake_runner.parent.mkdir(parents=True)
        self.fake_runner.write_text(FAKE_GITLAB_RUNNER % {
            "log": json.dumps(str(self.fake_log)), "reg": json.dumps(CANARY_REGISTRATION),
            "registered": json.dumps(REGISTERED_TOKEN)})
        self.fake_runner.chmod(0o755)

        self.vars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_become": False,
            "berth_runner_binary": str(berth),
            "berth_runner_prefix": str(self.root / "usr/local"),
            "berth_runner_etc_dir": str(self.etc_berth),
            "berth_runner_cache_dir": str(self.cache),
            "berth_runner_systemd_unit_dir": str(self.units),
            "berth_runner_gitlab_etc_dir": str(self.etc_runner),
            "berth_runner_gitlab_binary": str(self.fake_runner),
            "berth_runner_install_packages": False,
            "berth_runner_gitlab_install": False,
            "berth_runner_gitlab_manage_service": False,
            "berth_runner_register": True,
            "berth_runner_gc_enable": False,
            "berth_runner_start_services": False,   # systemd is not running here
            "berth_runner_concurrent": 2,
            "berth_runner_job_users": JOB_USERS,
            "berth_runner_job_users_home_dir": str(self.homes),
            "berth_runner_job_groups": [],
            "berth_runner_metrics_dir": str(self.metrics),
            "berth_runner_node_exporter_defaults_file": str(self.node_exporter_defaults),
            "berth_runner_node_exporter_manage_service": False,
            "berth_runner_settings": {
                "state_dir": str(self.state),
                "executor": "shell",
                "kill_grace": "10s",
                "lock_backend": "file",
                "lock_namespace": "berth-locks",
                "werf_path": "werf",
                "craas_hosts": ["cr.selcloud.ru"],
                "registries": [{"host": "registry.internal:5000",
                                "username_variable": "INTERNAL_REG_USER",
                                "password_variable": "INTERNAL_REG_PASS"}],
            },
            "berth_runner_config_extra": CONFIG_EXTRA,
            "berth_runner_runners": [
                {"name": "werf-runner-1", "url": "https://gitlab.example.com",
                 "token": CANARY_TOKEN, "config_extra": RUNNER_EXTRA},
                {"name": "legacy-runner", "url": "https://gitlab.example.com",
                 "registration_token": CANARY_REGISTRATION, "tag_list": ["werf", "deploy"],
                 "limit": 2},
                {"name": "old-runner", "state": "absent"},
            ],
        }
        # A runner configured before (by hand, or another role): state absent unregisters it.
        self.etc_runner.mkdir(parents=True)
        self.config_toml.write_text(OLD_CONFIG)
        if self.has_tools:
            self.bundle = tmp / "werf-bundle.tar.gz"
            self.bundle_sha = make_bundle(self.bundle)
            self.vars["berth_runner_werf_bundle"] = str(self.bundle)
            self.vars["berth_runner_werf_bundle_sha256"] = self.bundle_sha

        self.inventory = tmp / "inventory.yml"
        self.inventory.write_text(json.dumps(
            {"all": {"children": {"berth_runners": {"hosts": {"localhost": self.vars}}}}},
            indent=1))

    def play(self, *extra):
        r = run([shutil.which("ansible-playbook"), "-i", self.inventory, ANSIBLE / "site.yml",
                 "-v", "--diff", *extra], cwd=ANSIBLE, env=ansible_env(self.tmp), timeout=180)
        out = r.stdout + r.stderr
        self.outputs.append(out)
        assert r.returncode == 0, out[-6000:]
        self.recaps.append(recap(r.stdout))
        return self.recaps[-1]


@pytest.fixture(scope="module")
def converge(tmp_path_factory):
    need("ansible-playbook")
    berth = root_and_berth("the converge sets root ownership")
    remove_job_users(JOB_USERS)
    c = Converge(tmp_path_factory.mktemp("converge"), berth)
    try:
        c.play()
        c.play("--check")   # a second real run: the fresh converge
        yield c
    finally:
        remove_job_users(JOB_USERS)


def test_converge_is_idempotent(converge):
    first, check = converge.recaps
    assert first["changed"] > 0 and first["failed"] == 0
    assert check["changed"] == 0, converge.outputs[1][-6000:]


def mode(path):
    return path.stat().st_mode & 0o7777


def test_files_and_modes(converge):
    c = converge
    berth = c.bin_dir / "berth"
    assert mode(berth) == 0o755
    assert berth.read_bytes() == c.berth_src.read_bytes()
    assert mode(c.settings) == 0o640
    assert mode(c.config_toml) == 0o600
    assert mode(c.etc_runner) == 0o700
    registered = c.etc_runner / "berth-registered.yml"
    assert mode(registered) == 0o600
    for unit in ("berth-gc.service", "berth-gc.timer"):
        assert mode(c.units / unit) == 0o644
    # Job users get through the state dir to their own workspaces (docs/job-users.md).
    assert mode(c.state) == 0o711
    for path in (c.settings, c.config_toml, registered, c.state):
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (0, 0), path


def test_job_users_created(converge):
    shadow = dict(line.split(":")[:2] for line in Path("/etc/shadow").read_text().splitlines())
    for name in JOB_USERS:
        pw = pwd.getpwnam(name)           # KeyError: the converge did not create it
        assert pw.pw_uid != 0 and pw.pw_gid != 0, pw
        assert pw.pw_dir == str(converge.homes / name)
        assert pw.pw_shell == "/bin/bash"
        home = Path(pw.pw_dir)
        assert home.is_dir()
        st = home.stat()
        assert st.st_uid == pw.pw_uid and mode(home) == 0o700, (name, oct(mode(home)))
        assert shadow[name].startswith(("!", "*")), f"{name} can log in with a password"
    # System accounts: distinct uids below the login range.
    uids = {pwd.getpwnam(n).pw_uid for n in JOB_USERS}
    assert len(uids) == len(JOB_USERS)


def test_settings_name_the_job_users(converge):
    yaml = pytest.importorskip("yaml")
    c = converge
    settings = yaml.safe_load(c.settings.read_text())
    assert settings["job_users"] == JOB_USERS
    assert "job_groups" not in settings          # berth_runner_job_groups is empty: nothing added
    r = run([berth_binary(), "--config", c.settings, "config", "--show-settings"])
    assert r.returncode == 0, r.stderr
    assert f"job_users: [{', '.join(JOB_USERS)}]\n" in r.stdout
    assert "job_groups: []\n" in r.stdout


def test_metrics_on_and_node_exporter_reads_them(converge):
    """berth writes its textfile where node_exporter's textfile collector looks."""
    yaml = pytest.importorskip("yaml")
    c = converge
    assert yaml.safe_load(c.settings.read_text())["metrics_dir"] == str(c.metrics)
    assert c.metrics.is_dir() and mode(c.metrics) == 0o755
    args = c.node_exporter_defaults.read_text().splitlines()
    assert f'ARGS="--collector.textfile.directory={c.metrics}"' in args, args
    assert tomllib.loads(c.config_toml.read_text())["listen_address"] == "127.0.0.1:9252"


def test_config_toml(converge):
    c = converge
    conf = tomllib.loads(c.config_toml.read_text())
    assert conf["concurrent"] == 2
    assert conf["check_interval"] == 3
    runners = conf["runners"]
    # old-runner (state: absent) is gone; the others keep the order they are listed in.
    assert [r["name"] for r in runners] == ["werf-runner-1", "legacy-runner"]
    assert runners[0]["token"] == CANARY_TOKEN
    assert runners[1]["token"] == REGISTERED_TOKEN      # what `gitlab-runner register` got
    assert runners[1]["limit"] == 2
    # berth_runner_config_extra in the global section, config_extra in werf-runner-1's only.
    assert conf["log_format"] == "json" and conf["sentry_dsn"] == TRICKY
    assert conf["session_server"] == CONFIG_EXTRA["session_server"]
    first, second = runners
    assert first["feature_flags"] == RUNNER_EXTRA["feature_flags"]
    assert first["cache"] == RUNNER_EXTRA["cache"]
    assert first["pre_get_sources_script"] == TRICKY
    assert not {"feature_flags", "cache", "pre_get_sources_script"} & second.keys()
    berth = str(c.bin_dir / "berth")
    # The settings file is not /etc/berth/berth.yaml, so every call names it.
    prefix = ["--config", str(c.settings)]
    for r in runners:
        assert r["executor"] == "custom"
        assert r["url"] == "https://gitlab.example.com"
        assert r["builds_dir"] == str(c.state / "builds")
        assert r["cache_dir"] == str(c.state / "cache")
        custom = r["custom"]
        for stage in ("config", "prepare", "run", "cleanup"):
            assert custom[f"{stage}_exec"] == berth
            assert custom[f"{stage}_args"] == prefix + [stage]
        assert custom["config_exec_timeout"] == 120
        # werf-runner-1's config_extra overrides what the role sets; the other keeps it.
        assert custom["prepare_exec_timeout"] == (900 if r["name"] == "werf-runner-1" else 600)
        assert custom["cleanup_exec_timeout"] == 600
        assert custom["graceful_kill_timeout"] == 30     # integers: GitLab Runner's *int
        assert custom["force_kill_timeout"] == 60


def test_berth_accepts_its_settings(converge):
    c = converge
    berth = berth_binary()
    text = c.settings.read_text()
    assert text.startswith("# Ansible managed")
    r = run([berth, "--config", c.settings, "config", "--show-settings"])
    assert r.returncode == 0, r.stderr
    assert f'state_dir: "{c.state}"' in r.stdout
    assert "registry.internal:5000" in r.stdout
    if c.has_tools:
        assert f"tools_bundle: {c.bundle_sha}" in r.stdout


def test_werf_bundle_installed_once(converge):
    c = converge
    if not c.has_tools:
        pytest.skip("this berth has no `tools` command")
    r = run([berth_binary(), "--config", c.settings, "tools", "list"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(c.bundle_sha) and "werf" in r.stdout
    assert (c.state / "tools" / c.bundle_sha / "bin" / "werf").read_bytes() == WERF
    # Copied for the install, then removed: berth keeps its own unpacked copy.
    assert not (c.cache / c.bundle.name).exists()
    first = converge.outputs[0]
    assert "Install the werf bundle (berth tools install)" in first


def test_legacy_registration_ran_once(converge):
    calls = [c for c in converge.fake_log.read_text().splitlines() if c.startswith("register ")]
    assert len(calls) == 1, calls
    assert calls[0].startswith("register name=legacy-runner url=https://gitlab.example.com "
                               "executor=custom tags=werf,deploy token_in_env=yes ")
    assert CANARY_REGISTRATION not in calls[0]       # not on the command line either


def test_gc_units(converge):
    """A prebuilt binary gets the package's own (sandboxed) units, and the role's paths and
    schedule in drop-ins."""
    c = converge
    for unit in ("berth-gc.service", "berth-gc.timer"):
        assert (c.units / unit).read_text() == (REPO / "packaging" / unit).read_text()
    service = (c.units / "berth-gc.service.d/berth-runner.conf").read_text()
    assert f"\nExecStart=\nExecStart={c.bin_dir}/berth --config {c.settings} gc\n" in service
    timer = (c.units / "berth-gc.timer.d/berth-runner.conf").read_text()
    assert "\nOnCalendar=\nOnCalendar=daily\nRandomizedDelaySec=1h\n" in timer


def test_absent_runner_unregistered_once(converge):
    """old-runner (state: absent) was in config.toml: unregistered by name on the first run
    (its token stays in config.toml's reach, off the command line), not again after."""
    calls = [c for c in converge.fake_log.read_text().splitlines() if "unregister" in c]
    assert calls == [f"fake gitlab-runner: unregister --config {converge.config_toml} "
                     "--name old-runner"], calls
    assert "old-runner" not in converge.config_toml.read_text()


def test_runner_cgroup_delegated(converge, tmp_path):
    """GitLab Runner's unit gets the drop-in the .deb ships, and systemd reads it as
    delegation (tests/infra/delegation.py)."""
    dropin = converge.units / "gitlab-runner.service.d/berth-cgroup.conf"
    assert mode(dropin) == 0o644 and not dropin.is_symlink()
    assert dropin.read_text() == (REPO / "packaging/berth-cgroup.conf").read_text()
    delegation.check_dropin(dropin.read_text(), tmp_path)


def test_delegation_can_be_masked_and_back(tmp_path):
    """berth_runner_cgroup_delegate: false turns the drop-in into a link to /dev/null (masking the
    package's copy too); true makes it the drop-in again. Each change says when it applies."""
    dropin = tmp_path / "units/gitlab-runner.service.d/berth-cgroup.conf"
    # the first two runs change the drop-in and say when that applies; the third changes nothing
    for delegate, changes in ((False, True), (True, True), (True, False)):
        r = play_role_tasks(tmp_path, "delegate", {
            "berth_runner_cgroup_delegate": delegate,
            "berth_runner_systemd_unit_dir": str(tmp_path / "units"),
            "berth_runner_gitlab_manage_service": False})
        assert r.returncode == 0, r.stdout + r.stderr
        if delegate:
            assert not dropin.is_symlink()
            assert dropin.read_text() == (REPO / "packaging/berth-cgroup.conf").read_text()
        else:
            assert os.readlink(dropin) == "/dev/null"
        said = "delegated to berth from the runner's next start" in r.stdout
        assert (recap(r.stdout)["changed"] > 0, said) == (changes, changes), r.stdout[-3000:]


def test_no_secret_in_output(converge):
    for i, out in enumerate(converge.outputs):
        for secret in (CANARY_TOKEN, CANARY_REGISTRATION, REGISTERED_TOKEN, CANARY_S3_SECRET):
            assert secret not in out, f"run {i + 1} printed a secret"
    # ...and they did reach the files that need them.
    assert CANARY_TOKEN in converge.config_toml.read_text()
    assert REGISTERED_TOKEN in (converge.etc_runner / "berth-registered.yml").read_text()


def test_default_paths_render_plain_args(tmp_path):
    """With the default settings file, the runner calls `berth config` etc. with no --config."""
    dest = tmp_path / "config.toml"
    r = play_role_tasks(tmp_path, "config_toml", {
        "berth_runner_exec": "/usr/local/bin/berth",
        "berth_runner_gitlab_config_file": str(dest),
        "berth_runner_gitlab_binary": str(tmp_path / "no-gitlab-runner"),
        "berth_runner_runners": [
            {"name": "r1", "url": "https://gitlab.example.com", "token": "glrt-x",
             "environment": ["A=1"]},
            {"name": "r2", "url": "https://gitlab.example.com",
             "registration_token": "not-registered-yet"}]})
    assert r.returncode == 0, r.stdout + r.stderr
    text = dest.read_text()
    conf = tomllib.loads(text)
    # r2 has no runner token yet (registration off here): left out, with a comment.
    assert [r["name"] for r in conf["runners"]] == ["r1"]
    assert '# Runner "r2" is left out' in text and "not-registered-yet" not in text
    custom = conf["runners"][0]["custom"]
    assert conf["concurrent"] == 4
    assert conf["runners"][0]["environment"] == ["A=1"]
    assert conf["runners"][0]["builds_dir"] == "/var/lib/berth/builds"
    assert custom["config_exec"] == "/usr/local/bin/berth"
    assert custom["config_args"] == ["config"]
    assert custom["prepare_args"] == ["prepare"]
    assert custom["run_args"] == ["run"]
    assert custom["cleanup_args"] == ["cleanup"]
    assert conf["listen_address"] == "127.0.0.1:9252"  # the runner's own metrics


def play_role_tasks(tmp, tasks_from, extra_vars):
    """Runs only the role's tasks/TASKS_FROM.yml (with the role's defaults) on localhost."""
    playbook = need("ansible-playbook")
    play = [{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "tasks": [{"name": tasks_from, "ansible.builtin.include_role": {
            "name": "berth_runner", "tasks_from": tasks_from}}],
    }]
    (tmp / "play.yml").write_text(json.dumps(play))
    (tmp / "vars.json").write_text(json.dumps(
        {"ansible_python_interpreter": "/usr/bin/python3", **extra_vars}))
    return run([playbook, "-i", "localhost,", "-e", "@vars.json", tmp / "play.yml"],
               cwd=tmp, env=ansible_env(tmp))


def test_missing_job_group_fails_naming_it(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("creates users when the check is missing: run as root")
    user = "berth-ans-job-9"
    remove_job_users([user])
    try:
        r = play_role_tasks(tmp_path, "job_users", {
            "berth_runner_job_users": [user], "berth_runner_concurrent": 1,
            "berth_runner_job_users_home_dir": str(tmp_path / "home"),
            "berth_runner_job_groups": ["daemon", MISSING_GROUP]})   # daemon: in every Debian
        out = r.stdout + r.stderr
        assert r.returncode != 0, out
        # Only the missing one is named.
        assert f"berth_runner_job_groups: no group {MISSING_GROUP} on this machine" in out, out
        # The check comes first: no user was created for a run that fails.
        with pytest.raises(KeyError):
            pwd.getpwnam(user)
    finally:
        remove_job_users([user])


def test_default_job_users_follow_concurrent(tmp_path):
    """berth-job-1 ... berth-job-N for berth_runner_concurrent N, nothing created here."""
    playbook = need("ansible-playbook")
    dest = tmp_path / "users.json"
    play = [{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars_files": [str(ROLE / "defaults/main.yml")],
        "tasks": [{"name": "Write the default job users", "ansible.builtin.copy": {
            "content": "{{ {'users': berth_runner_job_users, 'groups': berth_runner_job_groups,"
                       " 'create': berth_runner_job_users_create, 'home': berth_runner_job_users_home_dir,"
                       " 'bwrap': berth_runner_bwrap_package} | to_json }}",
            "dest": str(dest), "mode": "0644"}}],
    }]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    for concurrent, users in ((3, ["berth-job-1", "berth-job-2", "berth-job-3"]), (None, [
            "berth-job-1", "berth-job-2", "berth-job-3", "berth-job-4"])):
        extra = ["-e", f"berth_runner_concurrent={concurrent}"] if concurrent else []
        r = run([playbook, "-i", "localhost,", *extra, tmp_path / "play.yml"],
                cwd=tmp_path, env=ansible_env(tmp_path))
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(dest.read_text()) == {"users": users, "groups": [], "create": True,
                                                "home": "/var/lib", "bwrap": "bubblewrap"}


@pytest.mark.skipif(os.environ.get("BERTH_ANSIBLE_BUILD") != "1",
                    reason="compiles berth: set BERTH_ANSIBLE_BUILD=1")
def test_build_from_source_is_idempotent(tmp_path):
    need("ansible-playbook")
    need("rsync")
    root = tmp_path / "root"
    hostvars = {
        "ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_become": False,
        "berth_runner_source_local_dir": str(REPO),
        "berth_runner_source_dir": str(root / "usr/local/src/berth"),
        "berth_runner_prefix": str(root / "usr/local"),
        "berth_runner_etc_dir": str(root / "etc/berth"),
        "berth_runner_cache_dir": str(root / "var/cache/berth"),
        "berth_runner_systemd_unit_dir": str(root / "etc/systemd/system"),
        "berth_runner_gitlab_etc_dir": str(root / "etc/gitlab-runner"),
        "berth_runner_gitlab_binary": str(root / "usr/bin/gitlab-runner"),
        "berth_runner_install_packages": False, "berth_runner_gitlab_install": False,
        "berth_runner_gitlab_manage_service": False, "berth_runner_gc_enable": False,
        "berth_runner_settings": {"state_dir": str(root / "var/lib/berth")},
        "berth_runner_metrics_dir": str(root / "var/lib/prometheus/node-exporter"),
        "berth_runner_node_exporter": False,
        "berth_runner_runners": [],
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps(
        {"all": {"children": {"berth_runners": {"hosts": {"localhost": hostvars}}}}}))
    recaps = []
    for _ in range(2):
        r = run([shutil.which("ansible-playbook"), "-i", inventory, ANSIBLE / "site.yml"],
                cwd=ANSIBLE, env=ansible_env(tmp_path), timeout=900)
        assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
        recaps.append(recap(r.stdout))
    assert recaps[0]["changed"] > 0 and recaps[1]["changed"] == 0, r.stdout[-4000:]
    berth = root / "usr/local/bin/berth"
    assert run([berth, "--version"]).stdout.startswith("berth ")
    assert (root / "usr/local/share/man/man1/berth.1").is_file()


# --- converge into a fresh Debian 12 root, apt on, through the chroot connection -------------
#
# The root: mmdebstrap's minbase with python3 (Ansible's modules), python3-apt (its apt
# module) and systemd (a Debian server has it; systemctl enables units offline), cached as a
# tarball under $BERTH_CACHE_DIR (default /var/cache/berth) named by a hash of its recipe, from
# the mirrors scripts/fresh-debian.sh uses (BERTH_DEBIAN_MIRROR, BERTH_DEBIAN_SECURITY). Each
# test run unpacks it afresh. The role installs berth from the .deb `make deb` makes, GitLab
# Runner from a package file (Debian 12 has none: fake_runner_deb() below, a stand-in that
# records its calls) and node_exporter from Debian's archive, with apt; the
# packages apt downloads are kept in $BERTH_CACHE_DIR/ansible-apt-archives, bind-mounted into the
# root inside a mount namespace of ansible-playbook's own (gone with it). systemd does not run
# in a chroot: berth_runner_start_services is false, so units are enabled and not started.

CACHE_DIR = Path(os.environ.get("BERTH_CACHE_DIR", "/var/cache/berth"))
MIRROR = os.environ.get("BERTH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY = os.environ.get("BERTH_DEBIAN_SECURITY", "http://deb.debian.org/debian-security")
ROOT_PACKAGES = "python3,python3-apt,systemd"
VERSION = re.search(r"^VERSION\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.M).group(1)

FAKE_RUNNER = """#!/usr/bin/python3
# A stand-in for gitlab-runner (tests/infra/test_ansible.py): records every call in LOG, and
# does to config.toml what `register` and `unregister --name` do after asking GitLab.
import os, re, sys
LOG = "/var/log/fake-gitlab-runner.log"
REGISTERED = %(registered)s
args = sys.argv[1:]
def opt(name):
    return args[args.index(name) + 1] if name in args else None
config = opt("--config") or "/etc/gitlab-runner/config.toml"
env_ok = os.environ.get("REGISTRATION_TOKEN") == %(reg)s
with open(LOG, "a") as log:
    log.write(" ".join(args) + (" token_in_env=%%s" %% env_ok if args[:1] == ["register"] else "")
              + "\\n")
if args[:1] == ["register"]:
    if not env_ok:
        sys.exit("wrong registration token")
    with open(config, "w") as f:
        f.write('[[runners]]\\n  name = "%%s"\\n  token = "%%s"\\n' %% (os.environ["RUNNER_NAME"], REGISTERED))
elif args[:1] == ["unregister"]:
    blocks = re.split(r"(?m)^(?=\\[\\[runners\\]\\])", open(config).read())
    keep = [b for b in blocks if not re.search(r'(?m)^\\s*name = "%%s"$' %% re.escape(opt("--name")), b)]
    if len(keep) == len(blocks):
        sys.exit("ERROR: runner not found")
    open(config, "w").write("".join(keep))
"""

FAKE_RUNNER_UNIT = """[Unit]
Description=GitLab Runner (stand-in)

[Service]
ExecStart=/usr/bin/gitlab-runner run

[Install]
WantedBy=multi-user.target
"""


def fake_runner_deb(tmp):
    """gitlab-runner_17.0.0-fake_all.deb: the stand-in and a unit, built with dpkg-deb."""
    need("dpkg-deb")
    tree = tmp / "gitlab-runner-deb"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        "Package: gitlab-runner\nVersion: 17.0.0-fake\nArchitecture: all\n"
        "Maintainer: berth tests <berth@example.com>\nDepends: python3\n"
        "Description: stand-in for GitLab Runner\n records its calls (tests/infra)\n")
    script = tree / "usr/bin/gitlab-runner"
    script.parent.mkdir(parents=True)
    script.write_text(FAKE_RUNNER % {"reg": json.dumps(CANARY_REGISTRATION),
                                     "registered": json.dumps(REGISTERED_TOKEN)})
    script.chmod(0o755)
    unit = tree / "lib/systemd/system/gitlab-runner.service"
    unit.parent.mkdir(parents=True)
    unit.write_text(FAKE_RUNNER_UNIT)
    deb = tmp / "gitlab-runner_17.0.0-fake_all.deb"
    r = run(["dpkg-deb", "--build", "--root-owner-group", tree, deb])
    assert r.returncode == 0, r.stderr
    return deb


def root_tarball():
    """The cached minbase root (built once per recipe, under a lock for concurrent runs)."""
    key = hashlib.sha256("\n".join(["bookworm", ROOT_PACKAGES, MIRROR, SECURITY, "minbase"])
                         .encode()).hexdigest()[:12]
    tarball = CACHE_DIR / f"ansible-debian-bookworm-{key}.tar"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "ansible-debian.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not tarball.is_file():
            for old in CACHE_DIR.glob("ansible-debian-bookworm-*.tar*"):
                old.unlink()              # an older recipe's root is never used again
            tmp = tarball.with_suffix(".tar.tmp")
            r = run(["mmdebstrap", "--variant=minbase", "--format=tar",
                     f"--include={ROOT_PACKAGES}", "bookworm", tmp,
                     f"deb {MIRROR} bookworm main", f"deb {MIRROR} bookworm-updates main",
                     f"deb {SECURITY} bookworm-security main"], timeout=900)
            assert r.returncode == 0, r.stderr[-3000:]
            tmp.rename(tarball)
    return tarball


class ChrootConverge:
    HOST = "fresh-debian"

    def __init__(self, tmp, deb):
        self.tmp = tmp
        self.root = tmp / "root"
        self.root.mkdir()
        r = run(["tar", "-xf", root_tarball(), "-C", self.root, "--numeric-owner"])
        assert r.returncode == 0, r.stderr
        shutil.copy("/etc/resolv.conf", self.root / "etc/resolv.conf")
        self.archives = CACHE_DIR / "ansible-apt-archives"
        (self.archives / "partial").mkdir(parents=True, exist_ok=True)
        self.config_toml = self.root / "etc/gitlab-runner/config.toml"
        self.config_toml.parent.mkdir(mode=0o700, parents=True)
        self.config_toml.write_text(OLD_CONFIG)
        self.log = self.root / "var/log/fake-gitlab-runner.log"
        self.outputs, self.recaps = [], []
        hostvars = {
            "ansible_connection": "community.general.chroot",
            "ansible_host": str(self.root),
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_become": False,
            "berth_runner_deb": str(deb),
            "berth_runner_gitlab_deb": str(fake_runner_deb(tmp)),
            "berth_runner_start_services": False,      # no systemd in a chroot
            "berth_runner_concurrent": 2,
            "berth_runner_config_extra": CONFIG_EXTRA,
            "berth_runner_runners": [
                {"name": "werf-runner-1", "url": "https://gitlab.example.com",
                 "token": CANARY_TOKEN, "config_extra": RUNNER_EXTRA},
                {"name": "legacy-runner", "url": "https://gitlab.example.com",
                 "registration_token": CANARY_REGISTRATION},
                {"name": "old-runner", "state": "absent"},
            ],
        }
        self.inventory = tmp / "inventory.yml"
        self.inventory.write_text(json.dumps(
            {"all": {"children": {"berth_runners": {"hosts": {self.HOST: hostvars}}}}}))

    def play(self):
        # The mounts live in unshare's mount namespace only: they go when ansible-playbook ends.
        mounts = ('mount --bind "$1" "$2/var/cache/apt/archives" && mount -t proc proc "$2/proc"'
                  ' && shift 2 && exec "$@"')
        r = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", mounts, "sh",
                 self.archives, self.root, shutil.which("ansible-playbook"), "-i",
                 self.inventory, ANSIBLE / "site.yml", "-v", "--diff"],
                cwd=ANSIBLE, env=ansible_env(self.tmp), timeout=600)
        out = r.stdout + r.stderr
        self.outputs.append(out)
        assert r.returncode == 0, out[-8000:]
        self.recaps.append(recap(r.stdout, self.HOST))

    def passwd(self):
        return {line.split(":")[0]: line.split(":")
                for line in (self.root / "etc/passwd").read_text().splitlines()}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    need("ansible-playbook")
    need("mmdebstrap")
    berth = root_and_berth("chroot, mount and mmdebstrap need root")
    tmp = tmp_path_factory.mktemp("fresh")
    r = run([REPO / "scripts/deb.sh", berth, VERSION, tmp], cwd=REPO)
    assert r.returncode == 0, r.stderr
    c = ChrootConverge(tmp, Path(r.stdout.strip()))
    c.play()
    c.play()
    return c


def test_fresh_debian_converges_twice(fresh):
    first, second = fresh.recaps
    assert first["changed"] > 0 and first["failed"] == 0
    assert second["changed"] == 0, fresh.outputs[1][-6000:]
    for i, out in enumerate(fresh.outputs):
        for secret in (CANARY_TOKEN, CANARY_REGISTRATION, REGISTERED_TOKEN, CANARY_S3_SECRET):
            assert secret not in out, f"run {i + 1} printed a secret"


def dpkg_status(root):
    """Installed packages and versions, from the root's dpkg database."""
    status = {}
    for stanza in (root / "var/lib/dpkg/status").read_text().split("\n\n"):
        fields = dict(re.findall(r"^(\S+): (.*)$", stanza, re.M))
        if fields.get("Status") == "install ok installed":
            status[fields["Package"]] = fields["Version"]
    return status


def test_fresh_packages_installed(fresh):
    installed = dpkg_status(fresh.root)
    assert installed.get("berth") == VERSION
    assert installed.get("gitlab-runner") == "17.0.0-fake"
    assert "prometheus-node-exporter" in installed       # from Debian's archive
    args = (fresh.root / "etc/default/prometheus-node-exporter").read_text()
    assert 'ARGS="--collector.textfile.directory=/var/lib/prometheus/node-exporter"' in args


def test_fresh_users_and_settings(fresh):
    yaml = pytest.importorskip("yaml")
    passwd = fresh.passwd()
    for name in ("berth-job-1", "berth-job-2"):
        _, _, uid, _, _, home, shell = passwd[name]
        assert 0 < int(uid) < 1000 and home == f"/var/lib/{name}" and shell == "/bin/bash"
        assert mode(fresh.root / home.lstrip("/")) == 0o700
    # (The .deb's postinst creates berth-job-1 ... 4 itself, homes in /var/lib: the role keeps
    # them as they are, it does not move their home entries.)
    settings = yaml.safe_load((fresh.root / "etc/berth/berth.yaml").read_text())
    assert settings["job_users"] == ["berth-job-1", "berth-job-2"]
    assert mode(fresh.root / "var/lib/berth") == 0o711


def test_fresh_config_toml(fresh):
    text = fresh.config_toml.read_text()
    conf = tomllib.loads(text)
    assert mode(fresh.config_toml) == 0o600
    assert conf["concurrent"] == 2 and conf["sentry_dsn"] == TRICKY
    assert conf["session_server"] == CONFIG_EXTRA["session_server"]
    first, second = conf["runners"]
    assert (first["name"], first["token"]) == ("werf-runner-1", CANARY_TOKEN)
    assert (second["name"], second["token"]) == ("legacy-runner", REGISTERED_TOKEN)
    assert first["cache"] == RUNNER_EXTRA["cache"]
    assert first["feature_flags"] == RUNNER_EXTRA["feature_flags"]
    # The package's berth, with the default settings file: no --config.
    assert first["custom"]["run_exec"] == "/usr/bin/berth"
    assert first["custom"]["run_args"] == ["run"]
    assert first["custom"]["prepare_exec_timeout"] == 900
    assert second["custom"]["prepare_exec_timeout"] == 600


def test_fresh_runner_calls(fresh):
    """old-runner unregistered once, then legacy-runner registered once (its token in the
    environment), over two runs."""
    calls = fresh.log.read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["unregister", "register"], calls
    assert calls[0] == "unregister --config /etc/gitlab-runner/config.toml --name old-runner"
    assert calls[1].endswith(" token_in_env=True") and CANARY_REGISTRATION not in calls[1]


def test_fresh_units_are_the_packages(fresh):
    """One set of gc units, the package's; the role's settings in drop-ins; the timer and the
    runner enabled (not started: no systemd here)."""
    etc = fresh.root / "etc/systemd/system"
    assert not (etc / "berth-gc.service").exists() and not (etc / "berth-gc.timer").exists()
    lib = fresh.root / "lib/systemd/system"
    packaged = (REPO / "packaging/berth-gc.service").read_text()
    assert (lib / "berth-gc.service").read_text() == packaged
    dropin = (etc / "berth-gc.service.d/berth-runner.conf").read_text()
    assert "\nExecStart=\nExecStart=/usr/bin/berth --config /etc/berth/berth.yaml gc\n" in dropin
    wants = os.readlink(etc / "timers.target.wants/berth-gc.timer")
    assert wants == "/lib/systemd/system/berth-gc.timer", wants
    wants = os.readlink(etc / "multi-user.target.wants/gitlab-runner.service")
    assert wants == "/lib/systemd/system/gitlab-runner.service", wants
