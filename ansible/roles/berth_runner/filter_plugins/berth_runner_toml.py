"""TOML for config.toml: dicts rendered as TOML text, and config.toml read back.

berth_runner_to_toml(data, prefix=""): DATA (a dict) as TOML: its plain keys first, then a
[table] for each dict value and an [[array of tables]] for each list of dicts, their names
prefixed by PREFIX (e.g. "runners" for the keys of one [[runners]] entry). Strings are quoted
and escaped, keys that are not bare words quoted. No null in TOML: a None value fails, naming
its key.

berth_runner_from_toml(text): TEXT parsed with Python's tomllib (an empty dict for empty text).
"""

import json
import math
import re
import tomllib

from ansible.errors import AnsibleFilterError

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name):
    name = str(name)
    return name if BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _path(prefix, name):
    return f"{prefix}.{_key(name)}" if prefix else _key(name)


def _is_table_list(value):
    return isinstance(value, list) and value and all(isinstance(v, dict) for v in value)


def _value(value, where):
    if value is None:
        raise AnsibleFilterError(f"config.toml: {where} is null; TOML has no null: set a value "
                                 "or leave the key out")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ("-" if value < 0 else "") + ("nan" if math.isnan(value) else "inf")
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes (\" \\ \n \t \uXXXX) are all TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = (f"{_key(k)} = {_value(v, f'{where}.{k}')}" for k, v in value.items())
        return "{ " + ", ".join(items) + " }" if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    # Ansible's own string types (AnsibleUnsafeText, ...) are str; anything else is a mistake.
    raise AnsibleFilterError(f"config.toml: {where} is a {type(value).__name__}, which TOML "
                             "cannot hold")


def _table(data, prefix, out):
    if not isinstance(data, dict):
        raise AnsibleFilterError(f"config.toml: {prefix or 'the document'} must be a mapping")
    nested = []
    for name, value in data.items():
        if isinstance(value, dict) or _is_table_list(value):
            nested.append((name, value))
        else:
            out.append(f"{_key(name)} = {_value(value, _path(prefix, name))}")
    for name, value in nested:
        path = _path(prefix, name)
        for entry in (value if isinstance(value, list) else [value]):
            out.append("")
            out.append(f"[[{path}]]" if isinstance(value, list) else f"[{path}]")
            _table(entry, path, out)


def to_toml(data, prefix=""):
    out = []
    _table(data, prefix, out)
    return "\n".join(out).lstrip("\n") + "\n"


def from_toml(text):
    try:
        return tomllib.loads(text or "")
    except tomllib.TOMLDecodeError as e:
        raise AnsibleFilterError(f"config.toml cannot be parsed: {e}") from e


class FilterModule:
    def filters(self):
        return {"berth_runner_to_toml": to_toml, "berth_runner_from_toml": from_toml}
