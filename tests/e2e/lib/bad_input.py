"""docs/bad-input.md: what berth says about bad input, recorded by the tests that give it.

scripts/bad-input.py owns the table's format (loaded here as `script`); with its environment
variable set the records go to a file it reads, otherwise each must already be a row of the doc.
"""

import importlib.util
import json
import os

from . import runner as rn

CLASS_NAMES = {rn.BUILD_FAILURE: "build failure", rn.SYSTEM_FAILURE: "system failure"}


def _load_script():
    spec = importlib.util.spec_from_file_location("bad_input",
                                                  rn.REPO / "scripts" / "bad-input.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = _load_script()


class BadInputRecords:
    """What this session's tests recorded, and which tests recorded."""

    def __init__(self):
        self.records = []
        self.recorded_by = set()
        self.file = os.environ.get(script.ENV)
        self.doc_rows = (script.table_rows(script.DOC.read_text())
                         if script.DOC.exists() else set())

    def record(self, nodeid, settings, what, result, *substitutions):
        """Note RESULT's failure on input WHAT, for test NODEID run with SETTINGS.

        The message is berth's first error line, with the test's temporary dirs and the given
        (text, placeholder) substitutions made placeholders.
        """
        lines = [line for line in result.stderr.splitlines() if line.startswith("berth: error:")]
        assert lines, f"berth printed no error line:\n{result.report()}"
        subs = [(str(settings.state_dir), "<state_dir>"), (str(settings.path), "<berth.yaml>"),
                (str(settings.builds_dir), "<builds_dir>"),
                (str(settings.path.parent), "<tmp>"), *substitutions]
        entry = {"input": what, "stage": result.stage,
                 "message": script.normalize(lines[0], subs),
                 "class": CLASS_NAMES.get(result.cls, result.cls)}
        self.records.append(entry)
        self.recorded_by.add(nodeid)
        if self.file:
            with open(self.file, "a") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")
        else:
            assert script.row(entry) in self.doc_rows, (
                f"docs/bad-input.md lacks this row: run scripts/bad-input.py\n"
                f"{script.row(entry)}")
