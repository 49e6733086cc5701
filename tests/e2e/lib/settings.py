"""berth's settings file for one test (the `settings` fixture in conftest.py)."""

import json

KILL_GRACE = 2  # seconds; the settings file's kill_grace


class Settings:
    """berth's settings file for one test, with the paths it names.

    state_dir is not created: berth creates it (one test makes it a regular file instead).
    """

    def __init__(self, root, executor):
        self.path = root / "berth.yaml"
        self.state_dir = root / "state"
        self.builds_dir = root / "builds"
        self.cache_dir = root / "cache"
        self.values = {
            "state_dir": str(self.state_dir),
            "builds_dir": str(self.builds_dir),
            "cache_dir": str(self.cache_dir),
            "executor": executor,
            "kill_grace": KILL_GRACE,
            # Most tests are about something else than who scripts run as: they accept root
            # (the job-user and attack tests set job_users).
            "allow_root_scripts": True,
        }
        self.write()

    def write(self, **changes):
        """Rewrite the file with CHANGES applied (a value of None drops the key)."""
        self.values.update(changes)
        self.path.write_text(self._text(self.values))

    def write_copy(self, path, **changes):
        """Another settings file at PATH: these settings with CHANGES (this file stays)."""
        path.write_text(self._text(dict(self.values, **changes)))
        return path

    @staticmethod
    def _text(values):
        lines = []
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, str):
                value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            elif isinstance(value, (list, dict)):
                value = json.dumps(value)  # JSON is YAML's flow style
            lines.append(f"{key}: {value}")
        return "\n".join(lines) + "\n"

    def write_text(self, text):
        self.path.write_text(text)

    def jobs_dir(self):
        return self.state_dir / "jobs"
