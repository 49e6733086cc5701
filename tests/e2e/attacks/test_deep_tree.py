"""A job leaves a directory tree thousands of levels deep in its $TMPDIR.

The attack: removal that recurses, or gives up past some depth, makes `berth cleanup` fail (a
system failure on every job of the runner's retries) and `berth gc` fail on that workspace
forever. What must hold: cleanup exits 0 and the workspace is gone; gc removes the stale
workspace of a job whose cleanup never ran; neither follows the symlinks the tree holds (the
file they point to outside the workspace stays), nor trips on levels the job made unreadable.
"""

import subprocess

import pytest

from lib import runner as rn
from test_gc import GC_AGE, age, gc
from test_protocol import expect

DEPTH = 2000

# Made by one python3 process: a bash loop forks a few thousand times, which takes longer
# than a stage may on a loaded machine.
MAKE_TREE = """
import os, sys
depth, outside = int(sys.argv[1]), sys.argv[2]
os.chdir(os.environ["TMPDIR"]); os.mkdir("deep"); os.chdir("deep")
for i in range(1, depth + 1):
    os.mkdir("d")
    with open("f", "w") as f:
        f.write("x")
    os.symlink(outside, "link")
    os.symlink(os.path.dirname(outside), "dirlink")
    os.chdir("d")
    if i % 500 == 0:
        os.chmod("..", 0)
open("leaf", "w").close()
"""


@pytest.fixture
def outside(scratch):
    """A file outside the workspace that the tree's symlinks point to."""
    path = scratch / "outside"
    path.write_text("must stay\n")
    return path


@pytest.fixture
def deep_job(runner, settings, outside):
    """make(job_id): a prepared job whose build_script left a DEPTH-level tree in $TMPDIR: a
    file, a symlink to OUTSIDE and one to its directory at every level, every 500th level mode
    0. Whatever berth leaves is removed with rm -rf at the end (pytest's own clean-up of old
    temp dirs recurses, and gives up on such a tree)."""
    jobs = []

    def make(job_id):
        job = runner.job(job_id, scripts={"build_script": [
            f"python3 -c {rn.shell_escape(MAKE_TREE)} {DEPTH} {outside}"]})
        jobs.append(job)
        assert job.config_and_prepare(), job.results
        expect(job.run("get_sources"), rn.OK)
        expect(job.run("build_script"), rn.OK)
        return job

    yield make
    for job in jobs:
        job.remove_tmp()
        subprocess.run(["rm", "-rf", "--", str(settings.jobs_dir() / str(job.id))], check=True)


def test_cleanup_removes_a_2000_level_tree(deep_job, outside):
    job = deep_job(9801)
    result = job.cleanup()
    expect(result, rn.OK)
    assert not job.workspace.exists(), f"the workspace is still there\n{result.report()}"
    assert outside.read_text() == "must stay\n"
    # A second cleanup (the runner may call it again) finds nothing to do.
    expect(job.cleanup(), rn.OK)


def test_gc_removes_a_stale_workspace_with_a_2000_level_tree(berth_bin, settings, deep_job,
                                                              outside):
    settings.write(gc_age=GC_AGE)
    job = deep_job(9802)
    age(job.workspace, GC_AGE + 60)
    res = gc(berth_bin, settings)
    assert res.returncode == 0, res.stderr
    assert "1 stale workspace(s) removed" in res.stdout, res.stdout + res.stderr
    assert not job.workspace.exists()
    assert outside.read_text() == "must stay\n"
