"""berth's command line (docs/berth.1): every command's --help, usage errors, versions, and the
bash completion (packaging/berth.bash-completion), table-driven over every command.

The table below is this test's own idea of what each command takes. `berth help` must list
exactly these commands with exactly these options, each command's --help must agree with it,
and so must the completion file: a command or option added to runner/main.c's table without
its test row, or without its completion, fails here.
"""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPLETION = REPO / "packaging" / "berth.bash-completion"
USAGE_ERROR = 2
LOCAL = ["-C", "--file", "--source", "--var", "--vars-file", "--env"]

# command: (its options, aliases included; a command line missing an argument, the message)
COMMANDS = {
    "config": (["--show-settings"], None),
    "prepare": ([], None),
    "run": ([], (["/tmp/script"], "missing argument STAGE")),
    "cleanup": ([], None),
    "login": (["--username", "--password-stdin"],
              (["--username", "u", "--password-stdin"],
               "--username and --password-stdin go together, with exactly one HOST")),
    "logout": ([], None),
    "kubeconfig": (["-o", "--output", "--no-preflight"],
                   (["-o"], "option '--output' needs a value (FILE)")),
    "lock": (["--timeout"], (["k", "--timeout", "--", "true"],
                             "option '--timeout' needs a value (S)")),
    "locks": (["--json"], None),
    "werf": ([], ([], "missing argument SUBCOMMAND")),
    "pipeline": (LOCAL + ["--json", "--preview"], (["--preview"],
                                                   "option '--preview' needs a value (JOB)")),
    "dry-run": (LOCAL, ([], "missing argument JOB")),
    "exec": (LOCAL + ["--with-needs"], (["--var", "A=1"], "missing argument JOB")),
    "tools": (["--sha256"], (["install", "b.tar.gz"], "install needs --sha256 HEX")),
    "gc": (["--dry-run"], None),
    "status": (["--json", "--remote"], None),
    "prune": (["--dry-run", "--report", "--keep-tag", "--keep-newest", "--keep-younger",
               "--cluster", "--no-cluster", "--parallel", "--max-rps", "--gc"],
              (["--keep-newest", "3"], "missing argument REPOSITORY")),
    "supervise": ([], (["5"], "missing argument CMD after '--'")),
    "help": ([], None),
    "version": ([], None),
}


@pytest.fixture
def cli(berth_bin, tmp_path):
    """Runs berth in an empty environment whose settings point into tmp_path."""
    settings = tmp_path / "berth.yaml"
    settings.write_text(f"state_dir: {tmp_path / 'state'}\nwerf_path: /bin/echo\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BERTH_CONFIG": str(settings),
           "DOCKER_CONFIG": str(tmp_path / "docker"),
           "SYSTEM_FAILURE_EXIT_CODE": "78", "BUILD_FAILURE_EXIT_CODE": "77"}

    def run(*args, stdin=subprocess.DEVNULL):
        return subprocess.run([str(berth_bin), *args], env=env, cwd=tmp_path, stdin=stdin,
                              capture_output=True, text=True, timeout=30)
    return run


def usage_lines(text):
    """{command: its usage line} from `berth help`."""
    lines = {}
    for line in text.splitlines():
        m = re.match(r"  (berth ([a-z-]+)\b.*)$", line)
        if m:
            lines[m.group(2)] = m.group(1)
    return lines


def options_of(usage_line):
    """Every option a usage line shows: '[-o|--output FILE]' gives -o and --output."""
    return sorted(re.findall(r"(?<=[\[|])(--?[A-Za-z][\w-]*)", usage_line))


@pytest.fixture
def help_text(cli):
    res = cli("help")
    assert (res.returncode, res.stderr) == (0, ""), res
    return res.stdout


def test_help_lists_every_command_with_every_option(help_text):
    lines = usage_lines(help_text)
    assert list(lines) == list(COMMANDS), "berth help and this test's table disagree"
    for name, (options, _) in COMMANDS.items():
        assert options_of(lines[name]) == sorted(options), lines[name]


@pytest.mark.parametrize("args", [["-h"], ["--help"], ["help"], ["--config", "x", "--help"]])
def test_global_help(cli, help_text, args):
    res = cli(*args)
    assert (res.returncode, res.stdout, res.stderr) == (0, help_text, ""), res
    assert help_text.startswith("usage: berth [--config FILE] COMMAND [ARGS...]\n")


@pytest.mark.parametrize("args", [["--version"], ["-V"], ["version"], ["--config", "x", "-V"]])
def test_version(cli, args):
    version = re.search(r"^VERSION\s*:=\s*(\S+)$", (REPO / "Makefile").read_text(), re.M)[1]
    res = cli(*args)
    assert (res.returncode, res.stdout, res.stderr) == (0, f"berth {version}\n", ""), res


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_command_help(cli, help_text, name, flag):
    res = cli("help", name) if flag == "help" else cli(name, flag)
    assert (res.returncode, res.stderr) == (0, ""), res
    usage = usage_lines(help_text)[name]
    assert res.stdout.startswith(f"usage: {usage}\n"), res.stdout
    for option in COMMANDS[name][0]:
        assert re.search(rf"^  (-\w, )?{option}\b", res.stdout, re.M), (option, res.stdout)
    assert re.search(r"^  -h, --help ", res.stdout, re.M), res.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_unknown_option(cli, help_text, name):
    res = cli(name, "--bogus")
    usage = usage_lines(help_text)[name]
    assert res.returncode == USAGE_ERROR, res
    assert res.stderr == f"berth {name}: unknown option '--bogus'\nusage: {usage}\n", res.stderr
    assert res.stdout == ""


@pytest.mark.parametrize("name", [n for n, (_, missing) in COMMANDS.items() if missing])
def test_missing_argument(cli, help_text, name):
    args, message = COMMANDS[name][1]
    res = cli(name, *args)
    usage = usage_lines(help_text)[name]
    assert res.returncode == USAGE_ERROR, res
    assert res.stderr == f"berth {name}: {message}\nusage: {usage}\n", res.stderr


@pytest.mark.parametrize("args, message", [
    (["config", "extra"], "berth config: unexpected argument 'extra'"),
    (["run", "a", "b", "c"], "berth run: unexpected argument 'c'"),
    (["locks", "--json=yes"], "berth locks: option '--json' takes no value"),
    (["lock", "k", "true"], "berth lock: unexpected argument 'true'"),
    (["lock", "a//b", "--", "true"], "berth lock: invalid lock key 'a//b'"),
    (["lock", "k", "--timeout", "x", "--", "true"],
     "berth lock: --timeout takes whole seconds from 0 to 86400, not 'x'"),
    (["tools"], "berth tools: missing argument: list, or install BUNDLE"),
    (["tools", "list", "x"], "berth tools: list takes no argument"),
    (["tools", "remove"], "berth tools: unknown subcommand 'remove': list or install"),
    (["prune", "r"], "berth prune: no keep policy"),
    (["prune", "--keep-newest", "x", "r"], "berth prune: --keep-newest needs a whole number"),
    (["prune", "--keep-newest", "1", "--cluster", "k", "--no-cluster", "r"],
     "berth prune: --cluster and --no-cluster contradict each other"),
    (["pipeline", "--source", "nope"], "berth pipeline: --source 'nope' is not one of"),
    (["dry-run", "--var", "novalue", "j"], "berth dry-run: --var takes NAME=VALUE"),
    (["supervise", "x", "--", "true"], "berth supervise: GRACE is whole seconds"),
    (["help", "nope"], "berth help: unknown command 'nope'"),
])
def test_other_usage_errors(cli, help_text, args, message):
    res = cli(*args)
    assert res.returncode == USAGE_ERROR, res
    first, second = res.stderr.splitlines()[-2:]
    assert first.startswith(message), res.stderr
    assert second == f"usage: {usage_lines(help_text)[args[0]]}", res.stderr


@pytest.mark.parametrize("args, message", [
    ([], "berth: missing argument COMMAND"),
    (["--bogus"], "berth: unknown option '--bogus'"),
    (["-x", "config"], "berth: unknown option '-x'"),
    (["--config"], "berth: option '--config' needs a value (FILE)"),
    (["nope"], "berth: unknown command 'nope'"),
])
def test_global_usage_errors(cli, args, message):
    res = cli(*args)
    assert res.returncode == USAGE_ERROR, res
    assert res.stderr.splitlines() == [
        message, "usage: berth [--config FILE] COMMAND [ARGS...] (berth help lists every command)"]
    assert res.stdout == ""


def test_flags_are_never_hosts(cli, tmp_path):
    for name in ("logout", "login"):
        res = cli(name, "--help")
        assert res.returncode == 0 and res.stdout.startswith(f"usage: berth {name} "), res
        assert "logged" not in res.stderr and res.stderr == "", res
    assert not (tmp_path / "docker").exists(), "a --help touched the docker config"
    # after `--`, an operand may look like a flag
    res = cli("logout", "--", "-x")
    assert (res.returncode, res.stderr) == (0, "berth: was not logged in to -x\n"), res


def test_werf_help_is_berths_and_after_the_subcommand_werfs(cli):
    res = cli("werf", "--help")
    assert res.returncode == 0 and "berth werf passes SUBCOMMAND and everything" in res.stdout
    # werf_path is /bin/echo: what werf was given comes back
    res = cli("werf", "version", "--help", "--bogus")
    assert (res.returncode, res.stdout) == (0, "version --help --bogus\n"), res


def test_lock_passes_everything_after_dashes(cli):
    res = cli("lock", "--timeout=5", "k", "--", "printf", "%s\n", "--help", "-h")
    assert (res.returncode, res.stdout) == (0, "--help\n-h\n"), res


def test_runner_stage_arguments_are_operands(cli, tmp_path):
    """GitLab Runner calls `berth run SCRIPT STAGE` (docs/protocol.md): both parse as operands;
    with no job around, berth fails as a system failure, not a usage error."""
    res = cli("run", str(tmp_path / "script"), "build_script")
    assert res.returncode == 78, res
    assert "usage:" not in res.stderr, res.stderr


def test_locks_says_when_none_is_held(cli):
    res = cli("locks")
    assert (res.returncode, res.stdout) == (0, "no locks held or waited for\n"), res
    res = cli("locks", "--json")
    assert (res.returncode, res.stdout) == (0, "[]\n"), res


# -- bash completion ----------------------------------------------------------------------------

def complete(*words):
    """What `berth WORDS<TAB>` offers: the last word is the one being completed."""
    script = (f"source {COMPLETION}\nCOMP_WORDS=(berth {' '.join(map(quote, words))})\n"
              f"COMP_CWORD={len(words)}\n_berth\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    res = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True,
                         timeout=30, cwd=REPO)
    assert res.returncode == 0 and res.stderr == "", res
    return sorted(w for w in res.stdout.splitlines() if w)


def quote(word):
    return "'" + word.replace("'", "'\\''") + "'"


def test_completion_is_registered():
    res = subprocess.run(["bash", "--norc", "-c", f"source {COMPLETION}; complete -p berth"],
                         capture_output=True, text=True, timeout=30)
    assert res.stdout.strip() == "complete -o default -F _berth berth", res


def test_completion_of_commands(help_text):
    commands = sorted(usage_lines(help_text))
    assert complete("") == commands
    assert complete("help", "") == commands
    assert complete("--config", "x.yaml", "") == commands
    assert complete("lo") == ["lock", "locks", "login", "logout"]
    assert complete("-") == ["--config", "--help", "--version", "-V", "-h"]


@pytest.mark.parametrize("name", COMMANDS)
def test_completion_of_options(help_text, name):
    expected = options_of(usage_lines(help_text)[name]) + ["--help", "-h"]
    assert complete(name, "-") == sorted(expected)


def test_completion_of_values_and_passthrough():
    assert complete("pipeline", "--source", "me") == ["merge_request_event"]
    assert complete("tools", "") == ["install", "list"]
    assert complete("werf", "converge", "--") == [], "werf's own options are werf's"
    assert complete("lock", "k", "--", "cmd", "--") == [], "CMD's options are CMD's"
    assert complete("prune", "--keep-newest", "") == [], "a number has no completion"
