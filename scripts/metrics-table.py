#!/usr/bin/env python3
"""The table of berth's metrics in docs/operations.md, made from runner/job/metrics.def.

metrics.def is what berth writes (job/metrics.c includes it), so the table cannot name a
family berth does not write, or miss one it does.

    scripts/metrics-table.py             # print the table
    scripts/metrics-table.py --check DOC # exit 1 when DOC's table differs (make lint)
    scripts/metrics-table.py --write DOC # replace DOC's table with the generated one

In DOC the table sits between the BEGIN and END lines below.
"""

import re
import sys
from pathlib import Path

DEF = Path(__file__).resolve().parent.parent / "runner" / "job" / "metrics.def"
BEGIN = "<!-- metrics table: scripts/metrics-table.py --write docs/operations.md -->"
END = "<!-- end of the metrics table -->"
METRIC = re.compile(r'^METRIC\((\w+), (\w+), "([^"]*)", "([^"]*)"\)$')
BUCKETS = re.compile(r'^BUCKETS\((\w+), (.*)\)$')


def read(path):
    """[(name, type, labels, help)] and {name: [le, ...]} from metrics.def."""
    families, buckets = [], {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if m := METRIC.match(line):
            families.append(m.groups())
        elif m := BUCKETS.match(line):
            buckets[m.group(1)] = re.findall(r'"([^"]+)"', m.group(2))
        elif line.startswith(("METRIC", "BUCKETS")):
            sys.exit(f"{path}:{number}: not METRIC(name, type, \"labels\", \"help\") or "
                     f"BUCKETS(name, \"le\", ...) on one line: {line}")
    return families, buckets


def bound(le):
    """A byte bound as people read it (64Mi), any other as written."""
    n = int(le) if le.isdigit() else 0
    for unit, size in (("Gi", 1 << 30), ("Mi", 1 << 20)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return le


def table(path=DEF):
    families, buckets = read(path)
    rows = ["| metric | type | labels | what |", "|---|---|---|---|"]
    for name, kind, labels, text in families:
        labels = ", ".join(f"`{label.strip()}`" for label in labels.split(",") if label.strip())
        if name in buckets:
            text += " Buckets: " + ", ".join(bound(le) for le in buckets[name]) + "."
        rows.append(f"| `{name}` | {kind} | {labels} | {text} |")
    missing = set(buckets) ^ {name for name, kind, _, _ in families if kind == "histogram"}
    if missing:
        sys.exit(f"{path}: histograms and BUCKETS lines differ: {', '.join(sorted(missing))}")
    return "\n".join(rows) + "\n"


def split(doc):
    text = doc.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        sys.exit(f"{doc}: needs one line '{BEGIN}' and one '{END}' around the metrics table")
    head, rest = text.split(BEGIN + "\n", 1)
    body, tail = rest.split(END, 1)
    return head, body, tail


def main(argv):
    if len(argv) == 1:
        sys.stdout.write(table())
        return 0
    if len(argv) != 3 or argv[1] not in ("--check", "--write"):
        sys.exit(__doc__)
    doc = Path(argv[2])
    head, body, tail = split(doc)
    want = table()
    if argv[1] == "--write":
        doc.write_text(head + BEGIN + "\n" + want + END + tail)
        return 0
    if body != want:
        sys.stderr.write(f"{doc}: the metrics table differs from runner/job/metrics.def: run "
                         f"scripts/metrics-table.py --write {doc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
