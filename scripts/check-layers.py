#!/usr/bin/env python3
"""The layering check `make lint` runs: no source folder includes a header of a folder above it.

The layers are those of the table in docs/hacking.md ("## Layers"), the one place they are
written: a row `| N | `folder/` | ... |` puts that folder at layer N. A file may include headers
of its own folder and of folders of a strictly lower layer; a header of a higher layer, or of
another folder of the same layer, fails (so no two folders can include each other: no cycles).
Every folder holding C files must be in the table, and every quoted include must name an
existing header through the one include root (runner/, then the top of the tree).

Usage: scripts/check-layers.py [TREE]   (TREE defaults to this script's repository)
Exit 0 when the tree keeps its layers; 1 after one line per offence on stderr.
"""
import re
import sys
from pathlib import Path

ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`([\w/.]+)`")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCES = ("runner", "executors")  # tests/ may include anything


def read_layers(doc):
    """{folder: layer} from the "## Layers" table of docs/hacking.md."""
    layers, inside = {}, False
    for line in doc.read_text().splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Layers"
        elif inside and (m := ROW.match(line)):
            layers[m.group(2).rstrip("/")] = int(m.group(1))
    return layers


def folder_of(path, tree):
    """"runner/base" for runner/base/log.c, "runner" for runner/main.c."""
    return path.parent.relative_to(tree).as_posix()


def resolve(header, tree):
    """The file an include names through -Irunner -I., or None."""
    for root in (tree / "runner", tree):
        if (root / header).is_file():
            return root / header
    return None


def check(tree):
    doc = tree / "docs" / "hacking.md"
    if not doc.is_file():
        return [f"{doc}: missing: the layers table is read from it"]
    layers = read_layers(doc)
    if not layers:
        return [f"{doc}: no '## Layers' table with rows like | 0 | `runner/base/` | ... |"]
    errors = []
    files = sorted(p for d in SOURCES for p in (tree / d).rglob("*.[ch]"))
    for path in files:
        here = folder_of(path, tree)
        name = path.relative_to(tree).as_posix()
        if here not in layers:
            errors.append(f"{name}: folder {here}/ has no layer in docs/hacking.md's table")
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = resolve(m.group(1), tree)
            if target is None:
                errors.append(f"{name}:{no}: includes \"{m.group(1)}\", which is not a "
                              "header under runner/ or the top of the tree")
                continue
            there = folder_of(target, tree)
            if there == here:
                continue
            if there not in layers:
                errors.append(f"{name}:{no}: includes {m.group(1)} from {there}/, which has "
                              "no layer in docs/hacking.md's table")
            elif layers[there] >= layers[here]:
                how = "a higher" if layers[there] > layers[here] else "the same"
                errors.append(f"{name}:{no}: {here}/ (layer {layers[here]}) includes "
                              f"{m.group(1)} of {how} layer: {there}/ (layer {layers[there]})")
    return errors


def main():
    tree = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    errors = check(tree.resolve())
    for e in errors:
        print(f"check-layers: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
