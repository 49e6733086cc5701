"""The layering check (scripts/check-layers.py, run by `make lint`): it passes on the tree as it
is, and fails, naming the file, the line and both layers, on a copy with one planted include
that breaks the layers (docs/hacking.md, "Layers").

Run with: /usr/bin/python3 -m pytest tests/infra/test_layers.py
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "scripts" / "check-layers.py"


def check(tree):
    return subprocess.run([sys.executable, str(CHECK), str(tree)], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def tree(tmp_path):
    """A copy of what the check reads: the sources and the table."""
    for d in ("runner", "executors"):
        shutil.copytree(REPO / d, tmp_path / d)
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "docs" / "hacking.md", tmp_path / "docs")
    return tmp_path


def plant(path, include):
    """Adds `#include "<include>"` after the file's first line; its line number (2)."""
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(1, f'#include "{include}"\n')
    path.write_text("".join(lines))
    return 2


def test_the_tree_keeps_its_layers():
    res = check(REPO)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


def test_the_copy_keeps_its_layers(tree):
    res = check(tree)
    assert res.returncode == 0, res.stderr


def test_an_upward_include_fails_with_file_line_and_layers(tree):
    line = plant(tree / "runner/base/log.c", "job/workspace.h")
    res = check(tree)
    assert res.returncode == 1
    assert res.stderr == (
        f"check-layers: runner/base/log.c:{line}: runner/base/ (layer 0) includes "
        "job/workspace.h of a higher layer: runner/job/ (layer 4)\n")


def test_an_include_across_one_layer_fails(tree):
    # lock/ and registry/ share a layer: either including the other would let them cycle.
    line = plant(tree / "runner/lock/file.c", "registry/registry.h")
    res = check(tree)
    assert res.returncode == 1
    assert (f"runner/lock/file.c:{line}: runner/lock/ (layer 3) includes registry/registry.h "
            "of the same layer: runner/registry/ (layer 3)") in res.stderr


def test_a_header_counts_like_a_source(tree):
    line = plant(tree / "runner/conf/settings.h", "executors/executor.h")
    res = check(tree)
    assert res.returncode == 1
    assert (f"runner/conf/settings.h:{line}: runner/conf/ (layer 1) includes "
            "executors/executor.h of a higher layer: executors/ (layer 5)") in res.stderr


def test_a_downward_include_passes(tree):
    plant(tree / "runner/cmd/gc.c", "base/sha256.h")
    res = check(tree)
    assert res.returncode == 0, res.stderr


def test_a_folder_without_a_layer_fails(tree):
    extra = tree / "runner/extra"
    extra.mkdir()
    (extra / "x.c").write_text('#include "base/log.h"\n')
    res = check(tree)
    assert res.returncode == 1
    assert "runner/extra/x.c: folder runner/extra/ has no layer" in res.stderr


def test_an_include_of_no_header_fails(tree):
    line = plant(tree / "runner/job/gc.c", "log.h")  # the flat spelling of before the layers
    res = check(tree)
    assert res.returncode == 1
    assert f'runner/job/gc.c:{line}: includes "log.h", which is not a header' in res.stderr
