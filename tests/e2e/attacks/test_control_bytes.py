"""Control characters in a job's variables, quoted back in berth's messages.

The attack: a variable holding ESC sequences (`\\x1b[2J` clears the screen of whoever reads the
log in a terminal), a carriage return or a newline, echoed raw in an error, forges lines of the
job log or of the runner's own log ("berth: prepare succeeded"). What must hold: every message
is one line, with control characters written as `\\n`, `\\r`, `\\t` or `\\xNN`; none reaches
the output as a byte.
"""

from lib import runner as rn
from test_protocol import ODD_CODES, expect

FORGED = "berth: prepare succeeded"
PAYLOAD = f"\x1b[2J\x1b[1;1H\n{FORGED}\r\x7f"
ESCAPED = f"\\x1b[2J\\x1b[1;1H\\n{FORGED}\\r\\x7f"


def assert_one_clean_line(result, subject):
    text = result.stderr
    assert not any(c in text for c in "\x1b\r\x7f"), f"a control byte got through:\n{text!r}"
    lines = [line for line in text.splitlines() if subject in line]
    assert len(lines) == 1, f"want one line naming {subject}:\n{text!r}"
    assert ESCAPED in lines[0], f"want the variable escaped:\n{text!r}"
    assert not any(line.startswith(FORGED) for line in text.splitlines()), text


def test_a_variable_in_a_prepare_message_stays_on_its_line(runner, settings, record_bad_input):
    job = runner.job(9831, variables={"WERF_REPO": "registry.example.com/app" + PAYLOAD,
                                      "WERF_USERNAME": "robot", "WERF_PASSWORD": "pw"},
                     **ODD_CODES)
    assert not job.config_and_prepare()
    prepare = job.stages("prepare")[0]
    expect(prepare, rn.BUILD_FAILURE, 77)
    assert "is not a valid repository" in prepare.stderr, prepare.report()
    assert_one_clean_line(prepare, "WERF_REPO")
    record_bad_input("WERF_REPO with terminal escapes, a newline and a carriage return", prepare)


def test_a_variable_in_a_config_message_stays_on_its_line(runner, settings, record_bad_input):
    # No response file: the job's identity comes from CUSTOM_ENV_CI_JOB_ID, which the job sets.
    job = runner.job(9832, response=None, variables={"CI_JOB_ID": "12" + PAYLOAD}, **ODD_CODES)
    config = job.config()
    expect(config, rn.BUILD_FAILURE, 77)
    assert_one_clean_line(config, "CI/CD variable CI_JOB_ID")
    record_bad_input("CI_JOB_ID with terminal escapes, a newline and a carriage return (no "
                     "response file)", config)
