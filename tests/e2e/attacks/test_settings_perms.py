"""A settings file, or its directory, that someone other than root may write.

The attack: berth runs as root and its settings decide what it runs (`werf_path`, the state and
builds dirs, `job_users`): a job user who can write the file, or replace it, becomes root. What
must hold: berth as root reads a settings file only when it belongs to root and neither its
group nor other users may write it, in a directory that likewise only root may change (a
sticky one, like /tmp, is fine: only the file's owner may rename it there). Every command that
reads settings refuses anything else, naming the file, who may write it and the fix; for a
runner stage that is a system failure (the admin's to fix). As another user, berth takes a file
of its own or of root's under the same rule. The job's own copy of the settings, which prepare
writes (root's, 0644), and the test fixture's files keep working.
"""

import os
import subprocess

import pytest

from lib import runner as rn
from test_protocol import ODD_CODES, expect
from lib.unprivileged import NOBODY, as_user, reachable_copy


def berth(berth_bin, settings_path, *args, user=None):
    """berth ARGS with BERTH_CONFIG=SETTINGS_PATH, as USER (None: root)."""
    return subprocess.run(as_user(user) + [str(berth_bin), *args], capture_output=True, text=True,
                          env=dict(os.environ, BERTH_CONFIG=str(settings_path)),
                          stdin=subprocess.DEVNULL, timeout=30)


def refusal(path, writer, mode):
    return f"settings file '{path}' is writable by {writer} (mode {mode:04o})"


# (id, how the file is made unsafe, who the message says may write it)
UNSAFE_FILES = [
    ("world-writable", lambda p: p.chmod(0o666), "every user", 0o666,
     "settings file any user may write (mode 0666)"),
    ("group-writable", lambda p: p.chmod(0o664), "group 0", 0o664,
     "settings file its group may write (mode 0664)"),
    ("a job user's", lambda p: os.chown(p, NOBODY, NOBODY), f"uid {NOBODY}", 0o644,
     "settings file of another user's, berth running as root"),
]


@pytest.mark.parametrize("make_unsafe, writer, mode, what", [c[1:] for c in UNSAFE_FILES],
                         ids=[c[0] for c in UNSAFE_FILES])
def test_every_stage_refuses_an_unsafe_settings_file(runner, settings, record_bad_input,
                                                     make_unsafe, writer, mode, what):
    settings.path.chmod(0o644)
    make_unsafe(settings.path)
    want = refusal(settings.path, writer, mode)
    job = runner.job(9841, **ODD_CODES)
    for result in (job.config(), job.prepare(), job.run("build_script", ["echo ran"]),
                   job.cleanup()):
        expect(result, rn.SYSTEM_FAILURE, 78)
        assert want in result.stderr, result.report()
        assert "make it root's and not writable by others" in result.stderr, result.report()
        assert "ran" not in result.stdout
    record_bad_input(what, job.stage("config"))


def test_other_commands_refuse_it_too(berth_bin, settings):
    settings.path.chmod(0o666)
    want = refusal(settings.path, "every user", 0o666)
    for args in (["gc"], ["config", "--show-settings"], ["lock", "k", "--", "true"],
                 ["locks"], ["login"], ["kubeconfig"]):
        res = berth(berth_bin, settings.path, *args)
        assert res.returncode != 0 and want in res.stderr, (args, res.stderr)


def test_a_directory_others_may_write_is_refused_unless_sticky(berth_bin, settings, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    path = settings.write_copy(shared / "berth.yaml")
    path.chmod(0o644)
    shared.chmod(0o777)
    res = berth(berth_bin, path, "config", "--show-settings")
    assert res.returncode != 0, res
    assert (f"settings file '{path}' is in '{shared}', which is writable by every user "
            f"(mode 0777)") in res.stderr, res.stderr
    shared.chmod(0o1777)  # like /tmp: only root may rename or remove root's file there
    res = berth(berth_bin, path, "config", "--show-settings")
    assert res.returncode == 0, res.stderr


def test_a_link_is_followed_and_its_file_and_both_directories_checked(berth_bin, settings,
                                                                     tmp_path):
    real_dir = tmp_path / "srv"
    real_dir.mkdir()
    real = settings.write_copy(real_dir / "berth.yaml")
    link = tmp_path / "etc-berth.yaml"
    link.symlink_to(real)
    res = berth(berth_bin, link, "config", "--show-settings")
    assert res.returncode == 0, res.stderr
    real.chmod(0o666)
    res = berth(berth_bin, link, "config", "--show-settings")
    assert refusal(link, "every user", 0o666) in res.stderr, res.stderr
    real.chmod(0o644)
    real_dir.chmod(0o777)
    res = berth(berth_bin, link, "config", "--show-settings")
    assert f"is in '{real_dir}', which is writable by every user" in res.stderr, res.stderr


def test_the_jobs_own_copy_of_the_settings_is_accepted(runner, settings):
    job = runner.job(9842, scripts={"build_script": [
        'test -O "$BERTH_CONFIG" || test "$(stat -c %u "$BERTH_CONFIG")" = 0',
        "berth locks"]})
    try:
        assert job.config_and_prepare(), job.results
        copy = job.workspace / "settings.yaml"
        assert copy.stat().st_uid == 0 and copy.stat().st_mode & 0o022 == 0
        assert job.run("get_sources").ok
    finally:
        job.cleanup()
        job.remove_tmp()


@pytest.fixture
def reachable(berth_bin, tmp_path_factory):
    return reachable_copy(berth_bin, tmp_path_factory, "perms")


@pytest.mark.parametrize("owner, mode, ok", [
    (NOBODY, 0o644, True), (0, 0o644, True), (1, 0o644, False), (NOBODY, 0o646, False)],
    ids=["its-own", "roots", "another-users", "world-writable"])
def test_as_another_user_its_own_or_roots_file_is_accepted(reachable, owner, mode, ok):
    root, copy, state = reachable
    path = root / "berth.yaml"
    path.write_text(f'state_dir: "{state}"\n')
    os.chown(path, owner, owner)
    path.chmod(mode)
    res = berth(copy, path, "config", "--show-settings", user=NOBODY)
    if ok:
        assert res.returncode == 0, res.stderr
    else:
        assert res.returncode != 0, res
        assert f"settings file '{path}' is writable by" in res.stderr, res.stderr
        assert "make it yours or root's and not writable by others" in res.stderr
