"""berth's locks (docs/locks.md), end to end: `berth lock KEY -- CMD` and `berth locks`.

Every test runs on both backends: `file`, and `kubernetes` against the real API server of
lib/kubeapi.py (a namespace per test, 3-second leases, the admin kubeconfig as lock_kubeconfig).
Every contender is a real `berth lock` started the way a job script starts it: its own process
group (start_new_session), the job's CI_JOB_ID / CI_PROJECT_PATH / CI_PIPELINE_URL, and this
test's settings file (a state_dir under tmp). Commands leave "enter ID NS" /
"leave ID NS" lines (NS: `date +%s%N`, compared with time.time_ns()) in a shared file, so the
tests read who ran when from one place. Each test kills every process it started, even when it
fails. test_status_line_while_waiting waits ~15 s by design; the others take a few seconds.
"""

import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from lib import runner as rn

SYSTEM_FAILURE = 78  # SYSTEM_FAILURE_EXIT_CODE in every contender's environment (not berth's 2)
USAGE_ERROR = 2  # a wrong command line, whatever the environment says (docs/berth.1)
STATUS_EVERY = 15     # seconds between "still waiting" lines (docs/locks.md)
PROMPT = 1.0          # seconds a hand-off may take in these tests (the bench measures it)
LEASE = 3             # kubernetes: lock_lease_seconds in these tests
# kubernetes: a dead holder's lease passes after LEASE unchanged plus one renew period; the
# waiter looks again at least every second.
TAKEOVER = LEASE + LEASE / 3 + 1.0
BACKENDS = ["file", "kubernetes"]


# -- helpers ----------------------------------------------------------------------------------

def now_ns():
    return time.time_ns()  # the clock `date +%s%N` reads


def enter_leave(log, ident, body="sleep 0.05"):
    """sh -c text: "enter ID NS", BODY, "leave ID NS", all into LOG."""
    f = shlex.quote(str(log))
    return ["sh", "-c", f"echo enter {ident} $(date +%s%N) >> {f}; {body}; "
                        f"echo leave {ident} $(date +%s%N) >> {f}"]


def events(log):
    """[(kind, id, ns)] in file order; a missing file has none."""
    try:
        text = Path(log).read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        kind, ident, ns = line.split()
        out.append((kind, ident, int(ns)))
    return out


def event(log, kind, ident):
    """NS of the KIND line of IDENT, or None."""
    for k, i, ns in events(log):
        if k == kind and i == str(ident):
            return ns
    return None


def intervals(log):
    """{id: [enter_ns, leave_ns or None]}."""
    spans = {}
    for kind, ident, ns in events(log):
        if kind == "enter":
            assert ident not in spans, f"{ident} entered twice:\n{Path(log).read_text()}"
            spans[ident] = [ns, None]
        else:
            spans[ident][1] = ns
    return spans


def proc_pgrp(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2:].split()[2])


class Contender:
    """One `berth lock KEY [ARGS] -- CMD` in a session of its own, output into files."""

    def __init__(self, lab, key, cmd, job, args=(), env=None, name=None):
        self.lab = lab
        self.key = key
        self.job = str(job)
        self.name = name or self.job
        self.mark = f"{lab.tag}-{self.name}"
        self.out_path = lab.root / f"{self.name}.out"
        self.err_path = lab.root / f"{self.name}.err"
        self.argv = [str(lab.berth), "lock", key, *args, "--", *cmd]
        environ = dict(os.environ, BERTH_CONFIG=str(lab.settings.path),
                       SYSTEM_FAILURE_EXIT_CODE=str(SYSTEM_FAILURE),
                       CI_JOB_ID=self.job, CI_PROJECT_PATH=f"group/project-{self.job}",
                       CI_PIPELINE_URL=f"https://gitlab.example.com/group/project-{self.job}"
                                       f"/-/pipelines/{self.job}00",
                       BERTH_E2E_TAG=lab.tag, BERTH_E2E_CONTENDER=self.mark)
        environ.update(env or {})
        self.started = time.monotonic()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=environ, start_new_session=True)
        self.pid = self.proc.pid
        lab.contenders.append(self)

    @property
    def stdout(self):
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout=60):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"berth lock {self.key} (job {self.job}) still running after "
                                 f"{timeout}s\n{self.report()}") from None

    def exit_status(self):
        """berth's exit code as a shell shows it (128+N after signal N)."""
        code = self.proc.returncode
        return 128 - code if code is not None and code < 0 else code

    def processes(self):
        """Live processes of this contender: berth and everything started under it."""
        return rn.pids_with_env("BERTH_E2E_CONTENDER", self.mark)

    def kill(self):
        """SIGKILL berth's group, and every process (and group) the contender started."""
        pids = self.processes()  # berth among them while it lives
        groups = {g for g in map(proc_pgrp, pids) if g}
        groups.discard(os.getpgrp())
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        rn.kill_pids(pids)

    def report(self):
        code = self.proc.returncode
        return (f"berth lock {self.key} (job {self.job}, pid {self.pid}): "
                f"{'running' if code is None else f'exit {self.exit_status()}'}\n"
                f"  stdout: {self.stdout!r}\n  stderr: {self.stderr!r}")


class Lab:
    """The contenders of one test, `berth locks` on the same settings, and the cleanup."""

    def __init__(self, berth, settings, root, backend="file"):
        self.berth = berth
        self.settings = settings
        self.root = root
        self.backend = backend
        self.kube = backend == "kubernetes"
        # How soon the next one gets in after a holder or a waiter ahead was killed.
        self.takeover = TAKEOVER if self.kube else PROMPT
        # How soon a waiter leaves the queue when stopped (kubernetes: a watch ends within 1 s).
        self.stop_latency = 2.0 if self.kube else 1.0
        self.tag = secrets.token_hex(8)
        self.contenders = []
        self.log = root / "log"

    def start(self, key, cmd, job, **kw):
        return Contender(self, key, cmd, job, **kw)

    def berth_run(self, *args, env=None, timeout=60):
        environ = dict(os.environ, BERTH_CONFIG=str(self.settings.path),
                       SYSTEM_FAILURE_EXIT_CODE=str(SYSTEM_FAILURE), BERTH_E2E_TAG=self.tag)
        environ.update(env or {})
        return subprocess.run([str(self.berth), *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, env=environ, timeout=timeout)

    def locks(self):
        """`berth locks --json`, parsed."""
        return rn.locks_json(self.berth, dict(os.environ, BERTH_CONFIG=str(self.settings.path),
                                              BERTH_E2E_TAG=self.tag))

    def entry(self, key):
        """KEY's entry in `berth locks --json`, or None."""
        return rn.lock_entry(self.locks(), key)

    def queue(self, key):
        """[holder job or None, waiter jobs...] for KEY."""
        return rn.lock_queue(self.entry(key))

    def wait_queued(self, contender, timeout=60):
        """Wait until `berth locks --json` shows CONTENDER holding or waiting; its ticket."""
        def find():
            entry = self.entry(contender.key)
            if entry is None:
                return None
            owners = ([entry["holder"]] if entry.get("holder") else []) + entry.get("waiters", [])
            for owner in owners:
                if str(owner.get("job")) == contender.job:
                    return owner
            return None
        owner = rn.wait_for(find, timeout, interval=0.01)
        assert owner, (f"job {contender.job} never showed in `berth locks --json`: "
                       f"{self.locks()}\n{contender.report()}")
        return owner["ticket"]

    def wait_entered(self, ident, timeout=60):
        ns = rn.wait_for(lambda: event(self.log, "enter", ident), timeout, interval=0.005)
        assert ns, f"{ident} never entered; log: {events(self.log)}"
        return ns

    def close(self):
        for c in self.contenders:
            c.kill()
        for c in self.contenders:
            try:
                c.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        rn.kill_pids(rn.pids_with_env("BERTH_E2E_TAG", self.tag))


def use_kubernetes(settings, kube_api, root):
    """Settings for the kubernetes backend on KUBE_API, in a namespace of this test's own."""
    kubeconfig = root / "lock-kubeconfig"
    kubeconfig.write_text(kube_api.kubeconfig())
    namespace = f"berth-t-{secrets.token_hex(4)}"
    settings.write(lock_backend="kubernetes", lock_namespace=namespace,
                   lock_lease_seconds=LEASE, lock_kubeconfig=str(kubeconfig), kube_timeout=5)
    return namespace


@pytest.fixture(params=BACKENDS)
def lab(request, berth_bin, settings, tmp_path):
    root = tmp_path / "locks"
    root.mkdir()
    lab = Lab(berth_bin, settings, root, request.param)
    if lab.kube:
        lab.namespace = use_kubernetes(settings, request.getfixturevalue("kube_api"), root)
    yield lab
    lab.close()


def file_only(lab, why):
    if lab.kube:
        pytest.skip(f"file backend only: {why}")


def gate_cmd(lab, ident, gate):
    """Holds until GATE exists, then enter/leave like the others."""
    g = shlex.quote(str(gate))
    return enter_leave(lab.log, ident,
                       body=f"while [ ! -e {g} ]; do sleep 0.01; done")


def flock_waiters(path):
    """Lines of /proc/locks for processes blocked in flock on PATH (shown as '->')."""
    st = os.stat(path)
    where = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    with open("/proc/locks") as f:
        return [line for line in f if "->" in line.split() and line.split()[-3] == where]


def assert_no_overlap(spans):
    ordered = sorted(spans.items(), key=lambda kv: kv[1][0])
    for (a, (a_in, a_out)), (b, (b_in, _)) in zip(ordered, ordered[1:]):
        assert a_out is not None, f"{a} never left: {spans}"
        assert b_in >= a_out, (f"{b} entered {(a_out - b_in) / 1e6:.1f} ms before {a} left: "
                               f"two holders at once")


# -- 1. mutual exclusion and order ------------------------------------------------------------

def test_twenty_contenders_run_one_at_a_time_in_arrival_order(lab):
    key = "deploy/42/production"
    gate = lab.root / "gate"
    # The first holds at a gate so that the other 19 really queue behind it.
    contenders = [lab.start(key, gate_cmd(lab, 0, gate), job=1000)]
    tickets = [lab.wait_queued(contenders[0])]
    lab.wait_entered(0)
    for i in range(1, 20):
        c = lab.start(key, enter_leave(lab.log, i), job=1000 + i)
        contenders.append(c)
        tickets.append(lab.wait_queued(c))
    assert tickets == sorted(tickets) and len(set(tickets)) == 20, tickets
    assert lab.queue(key) == [c.job for c in contenders], lab.locks()
    assert [k for k, _, _ in events(lab.log)] == ["enter"], "someone got in past the holder"

    gate.touch()
    for c in contenders:
        assert c.wait(60) == 0, c.report()

    spans = intervals(lab.log)
    assert sorted(spans, key=int) == [str(i) for i in range(20)], spans
    assert_no_overlap(spans)
    served = [ident for ident, _ in sorted(spans.items(), key=lambda kv: kv[1][0])]
    assert served == [str(i) for i in range(20)], f"served out of arrival order: {served}"
    assert lab.entry(key) is None, f"the lock is still listed after everyone left: {lab.locks()}"


# -- 2. exit status ---------------------------------------------------------------------------

@pytest.mark.parametrize("cmd, status", [
    (["sh", "-c", "exit 7"], 7),
    (["sh", "-c", "exit 0"], 0),
    (["sh", "-c", "kill -9 $$"], 137),
    (["sh", "-c", "kill -TERM $$"], 143),
])
def test_exit_status_is_the_commands(lab, cmd, status):
    c = lab.start("status", cmd, job=2001)
    assert c.wait() == status, c.report()
    # Released: the next one gets in at once.
    after = lab.start("status", ["true"], job=2002)
    assert after.wait(60) == 0, after.report()


def test_command_not_found(lab):
    missing = "/nonexistent/berth-e2e-no-such-command"
    c = lab.start("notfound", [missing, "arg"], job=2101)
    code = c.wait()
    assert code != 0, c.report()
    assert missing in c.stderr, f"the error does not name the command:\n{c.report()}"
    after = lab.start("notfound", ["true"], job=2102)
    assert after.wait(60) == 0, f"the lock was not released:\n{after.report()}"


# -- 3/4. a holder killed ---------------------------------------------------------------------

def test_holder_killed_with_its_command_frees_the_lock(lab):
    key = "killed/holder"
    a = lab.start(key, enter_leave(lab.log, "A", body="sleep 30"), job=3001)
    lab.wait_entered("A")
    b = lab.start(key, enter_leave(lab.log, "B", body="true"), job=3002)
    lab.wait_queued(b)
    assert event(lab.log, "enter", "B") is None

    killed = now_ns()
    a.kill()  # berth's group, and the command wherever berth put it
    entered = lab.wait_entered("B", timeout=lab.takeover + 5)
    assert (entered - killed) / 1e9 < lab.takeover, (
        f"B started {(entered - killed) / 1e6:.0f} ms after the holder was killed")
    assert b.wait() == 0, b.report()
    a.proc.wait(60)
    assert event(lab.log, "leave", "A") is None


def test_command_outliving_a_killed_berth_keeps_the_lock(lab):
    file_only(lab, "a kubernetes lock lives as long as berth renews it; its command dies with "
                   "berth (test_locks_kube.py)")
    key = "killed/berth-only"
    gate = lab.root / "gate"
    # A's command runs on until the test opens the gate, however long the steps before take.
    a = lab.start(key, gate_cmd(lab, "A", gate), job=4001)
    lab.wait_entered("A")
    b = lab.start(key, enter_leave(lab.log, "B", body="true"), job=4002)
    lab.wait_queued(b)

    os.kill(a.pid, signal.SIGKILL)  # berth alone
    assert a.proc.wait(60) == -signal.SIGKILL
    time.sleep(0.5)  # B's chance to get in wrongly; the gate keeps A's command running
    assert event(lab.log, "enter", "B") is None, (
        "B started while the killed berth's command still ran: two holders at once")
    gate.touch()
    left = rn.wait_for(lambda: event(lab.log, "leave", "A"), 60)
    assert left, f"A's command did not run to its end after berth was killed: {events(lab.log)}"
    entered = lab.wait_entered("B", timeout=60)
    assert entered >= left, "B started before A's command ended"
    assert (entered - left) / 1e9 < PROMPT, (
        f"B started {(entered - left) / 1e6:.0f} ms after A's command ended")
    assert b.wait() == 0, b.report()


# "releases it when CMD and everything it started have ended": whether berth waits for a
# leftover or ends it, the next command must not start while it still runs.
@pytest.mark.parametrize("start", ["sleep 1.5 &", "setsid sleep 1.5 &"])
def test_leftover_of_the_command_holds_the_lock_while_it_runs(lab, start):
    key = "leftover"
    pid_file, snap = lab.root / "leftover.pid", lab.root / "leftover.stat"
    f = shlex.quote(str(lab.log))
    a = lab.start(key, ["sh", "-c", f"echo enter A $(date +%s%N) >> {f}; "
                                    f"{start} echo $! > {shlex.quote(str(pid_file))}; exit 0"],
                  job=4101)
    lab.wait_entered("A")
    # B first records the leftover's state as it finds it on entering.
    b = lab.start(key, ["sh", "-c", f"cat /proc/$(cat {shlex.quote(str(pid_file))})/stat "
                                    f"> {shlex.quote(str(snap))} 2>/dev/null; "
                                    f"echo enter B $(date +%s%N) >> {f}"], job=4102)
    assert a.wait() == 0, a.report()
    assert b.wait() == 0, b.report()
    leftover = rn.read_pids(pid_file)
    assert leftover, "A's command left no PID"
    text = snap.read_text() if snap.exists() else ""
    state = text[text.rindex(")") + 2:][:1] if text else None
    assert state in (None, "Z", "X"), (
        f"B started while A's leftover `{start}` (pid {leftover[0]}) still ran, state {state}: "
        f"two holders at once")


# -- 5. a waiter killed in the queue ----------------------------------------------------------

def test_waiter_killed_in_the_queue_blocks_nobody(lab):
    key = "queue/killed-waiter"
    gate = lab.root / "gate"
    a = lab.start(key, gate_cmd(lab, "A", gate), job=5001)
    lab.wait_entered("A")
    b = lab.start(key, enter_leave(lab.log, "B", body="true"), job=5002)
    lab.wait_queued(b)
    c = lab.start(key, enter_leave(lab.log, "C", body="true"), job=5003)
    lab.wait_queued(c)
    assert lab.queue(key) == ["5001", "5002", "5003"], lab.locks()

    b.kill()
    assert b.proc.wait(60) == -signal.SIGKILL
    if not lab.kube:
        # Its flock went with it: the very next listing leaves it out.
        assert lab.queue(key) == ["5001", "5003"], (
            f"the killed waiter is still listed: {lab.locks()}")

    gate.touch()
    left = rn.wait_for(lambda: event(lab.log, "leave", "A"), 60)
    assert left
    entered = lab.wait_entered("C", timeout=lab.takeover + 5)
    assert 0 <= (entered - left) / 1e9 < lab.takeover, (
        f"C started {(entered - left) / 1e6:.0f} ms after A left")
    assert a.wait() == 0, a.report()
    assert c.wait() == 0, c.report()
    assert event(lab.log, "enter", "B") is None


# -- 6. --timeout -----------------------------------------------------------------------------

def test_timeout_while_held_is_a_system_failure_naming_the_holder(lab):
    key = "timeout/held"
    a = lab.start(key, enter_leave(lab.log, "A", body="sleep 30"), job=6001)
    lab.wait_entered("A")
    marker = lab.root / "ran"
    # Start late in a wall-clock second: a deadline kept in whole seconds of time() shows.
    time.sleep((0.8 - time.time() % 1) % 1)
    b = lab.start(key, ["touch", str(marker)], job=6002, args=["--timeout", "1"])
    code = b.wait(60)
    waited = time.monotonic() - b.started
    assert code == SYSTEM_FAILURE, b.report()
    assert 0.9 <= waited <= 2.5, f"--timeout 1 gave up after {waited:.2f}s\n{b.report()}"
    assert "6001" in b.stderr, f"stderr does not name the holder's job:\n{b.report()}"
    assert key in b.stderr, f"stderr does not name the key:\n{b.report()}"
    assert not marker.exists(), "the command ran without the lock"
    assert lab.queue(key) == ["6001"], f"the timed-out waiter is still listed: {lab.locks()}"
    assert a.running()


def test_timeout_when_free_runs_the_command(lab):
    c = lab.start("timeout/free", ["sh", "-c", "exit 3"], job=6101, args=["--timeout", "1"])
    assert c.wait() == 3, c.report()


# -- 7. the status line -----------------------------------------------------------------------

def test_status_line_while_waiting(lab):
    """Waits ~15 s: the periodic line is the point. Holder A, waiters B, C, then D watched."""
    key = "status/line"
    gate = lab.root / "gate"
    lab.start(key, gate_cmd(lab, "A", gate), job=7001)
    lab.wait_entered("A")
    for job in (7002, 7003):
        lab.wait_queued(lab.start(key, ["true"], job=job))
    d = lab.start(key, ["true"], job=7004)
    lab.wait_queued(d)

    seen = []  # (seconds since D started, line), stdout and stderr alike
    counts = {"stdout": 0, "stderr": 0}

    def periodic_line():
        for name in counts:
            lines = getattr(d, name).splitlines(keepends=True)
            complete = [line for line in lines if line.endswith("\n")]
            for line in complete[counts[name]:]:
                seen.append((time.monotonic() - d.started, line.rstrip("\n")))
            counts[name] = len(complete)
        return [(t, line) for t, line in seen if "7001" in line and t >= STATUS_EVERY - 1.5]

    found = rn.wait_for(periodic_line, STATUS_EVERY + 1.5, interval=0.05)
    assert found, (f"no line naming the holder's job 7001 within {STATUS_EVERY + 1.5}s of "
                   f"waiting; D printed: {seen}")
    t, line = found[0]
    # Two waiters (B, C) ahead of D, three counting the holder.
    assert re.search(r"(?<![\d.:-])[23](?![\d.:-])", line), (
        f"the status line does not say D's place in the queue: {line!r}")
    assert re.search(r"\d{1,2}:\d{2}", line), f"the status line does not say since when: {line!r}"
    holder_lines = [x for x in seen if "7001" in x[1]]
    assert len(holder_lines) <= 2, f"status lines more often than every {STATUS_EVERY}s: {seen}"
    assert d.running(), d.report()
    gate.touch()
    assert d.wait(60) == 0, d.report()


# -- 8. SIGTERM / SIGINT while waiting --------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_while_waiting_leaves_the_queue(lab, sig):
    key = "signal/waiting"
    gate = lab.root / "gate"
    a = lab.start(key, gate_cmd(lab, "A", gate), job=8001)
    lab.wait_entered("A")
    marker = lab.root / "ran"
    b = lab.start(key, ["touch", str(marker)], job=8002)
    lab.wait_queued(b)
    c = lab.start(key, enter_leave(lab.log, "C", body="true"), job=8003)
    lab.wait_queued(c)

    sent = time.monotonic()
    os.kill(b.pid, sig)
    code = b.wait(60)
    took = time.monotonic() - sent
    assert code == SYSTEM_FAILURE, b.report()
    assert took < lab.stop_latency, f"berth took {took:.2f}s to leave the queue"
    assert "8001" in b.stderr and key in b.stderr, (
        f"berth does not say why it stopped, naming the key and the holder:\n{b.report()}")
    assert lab.queue(key) == ["8001", "8003"], f"B's ticket is still listed: {lab.locks()}"
    assert a.running() and event(lab.log, "leave", "A") is None, "the holder was disturbed"

    gate.touch()
    assert a.wait() == 0, a.report()
    assert c.wait() == 0, c.report()
    assert not marker.exists(), "the signalled waiter ran its command"


def test_sigterm_while_holding_goes_to_the_command(lab):
    """SIGTERM reaches CMD's group; a CMD ignoring it gets SIGKILL after kill_grace."""
    key = "signal/holding"
    mark = lab.root / "term-seen"
    f = shlex.quote(str(lab.log))
    polite = ["sh", "-c", f"trap 'echo TERM > {shlex.quote(str(mark))}; exit 5' TERM; "
                          f"echo enter P $(date +%s%N) >> {f}; sleep 30 & wait"]
    p = lab.start(key, polite, job=8101)
    lab.wait_entered("P")
    os.kill(p.pid, signal.SIGTERM)
    code = p.wait(60)
    assert mark.exists(), "SIGTERM never reached the command"
    assert code == 5, p.report()

    stubborn = ["sh", "-c", f"trap '' TERM; echo enter S $(date +%s%N) >> {f}; "
                            f"while :; do sleep 0.1; done"]
    s = lab.start(key, stubborn, job=8102)
    lab.wait_entered("S")
    time.sleep(0.2)
    sent = time.monotonic()
    os.kill(s.pid, signal.SIGTERM)
    code = s.wait(60)
    took = time.monotonic() - sent
    assert code == 137, s.report()
    assert 1.5 <= took <= 4.0, f"SIGKILL should follow kill_grace=2s, came after {took:.2f}s"
    assert not s.processes(), "the stubborn command survived"
    after = lab.start(key, ["true"], job=8103)
    assert after.wait(60) == 0, after.report()


# -- 9. berth locks ---------------------------------------------------------------------------

def test_locks_lists_holder_and_waiters(lab, settings):
    res = lab.berth_run("locks", "--json")
    assert res.returncode == 0 and json.loads(res.stdout) == [], (res.returncode, res.stdout,
                                                                  res.stderr)
    key = "cleanup/cr.selcloud.ru/myreg"
    gate = lab.root / "gate"
    before = time.time()
    a = lab.start(key, gate_cmd(lab, "A", gate), job=9001)
    lab.wait_entered("A")
    b = lab.start(key, ["true"], job=9002)
    lab.wait_queued(b)
    c = lab.start(key, ["true"], job=9003)
    lab.wait_queued(c)

    entries = lab.locks()
    assert [e["key"] for e in entries] == [key], entries
    entry = entries[0]
    holder = entry["holder"]
    fields = {"job", "project", "pipeline_url", "host", "pid", "since", "ticket"}
    assert fields <= set(holder), holder
    assert str(holder["job"]) == "9001"
    assert holder["project"] == "group/project-9001"
    assert holder["pipeline_url"] == (
        "https://gitlab.example.com/group/project-9001/-/pipelines/900100")
    assert holder["host"] == socket.gethostname()
    assert holder["pid"] == a.pid, f"holder pid {holder['pid']}, berth is {a.pid}"
    assert before - 1 <= holder["since"] <= time.time() + 1, holder
    waiters = entry["waiters"]
    assert [str(w["job"]) for w in waiters] == ["9002", "9003"], waiters
    for w, con in zip(waiters, (b, c)):
        assert fields <= set(w), w
        assert w["pid"] == con.pid and w["host"] == socket.gethostname()
        assert w["project"] == f"group/project-{con.job}"
    assert holder["ticket"] < waiters[0]["ticket"] < waiters[1]["ticket"], entry

    text = lab.berth_run("locks")
    assert text.returncode == 0, text.stderr
    for word in (key, "9001", "9002", "9003"):
        assert word in text.stdout, f"`berth locks` does not mention {word}:\n{text.stdout}"

    if not lab.kube:
        # The file backend's layout: one directory per key, percent-encoded, tickets by number.
        dirs = [p for p in (settings.state_dir / "locks").iterdir()]
        assert [unquote(p.name) for p in dirs] == [key], dirs
        assert "/" not in dirs[0].name
        tickets = sorted(int(p.name) for p in dirs[0].iterdir() if p.name.isdigit())
        assert tickets == [holder["ticket"], waiters[0]["ticket"], waiters[1]["ticket"]], tickets

    gate.touch()
    for con in (a, b, c):
        assert con.wait() == 0, con.report()
    assert lab.locks() == [], "finished locks are still listed"
    text = lab.berth_run("locks")
    assert (text.returncode, text.stdout) == (0, "no locks held or waited for\n"), text


def test_locks_without_state_dir(lab, settings):
    assert not settings.state_dir.exists()
    res = lab.berth_run("locks", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == []
    res = lab.berth_run("locks")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "no locks held or waited for\n", res.stdout


# -- 10. keys ---------------------------------------------------------------------------------

BAD_KEYS = ["", "../x", "a//b", "a/./b", "with space", "x" * 300, "x" * 201, "/a", "a/", "..",
            ".", "a/../b", "a\nb", "ключ", "a%2Fb", "a;b"]


@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: f"{k[:12]!r}[{len(k)}]")
def test_bad_key_is_refused(lab, settings, key):
    marker = lab.root / "ran"
    c = lab.start(key, ["touch", str(marker)], job=10001)
    code = c.wait()
    assert code == USAGE_ERROR, c.report()
    assert "usage: berth lock" in c.stderr, c.report()
    if key.strip() and key.isascii() and key.isprintable():
        assert key in c.stderr, f"the message does not name the key:\n{c.report()}"
    else:
        assert "key" in c.stderr.lower(), c.report()
    assert not marker.exists(), "the command ran under a bad key"
    for escaped in (settings.state_dir / "x", settings.state_dir.parent / "x"):
        assert not escaped.exists(), f"a bad key made {escaped}"


def test_bad_key_by_hand_exits_2(lab):
    """Without SYSTEM_FAILURE_EXIT_CODE (berth run by hand), a lock not had is exit 2."""
    env = dict(os.environ, BERTH_CONFIG=str(lab.settings.path), BERTH_E2E_TAG=lab.tag)
    env.pop("SYSTEM_FAILURE_EXIT_CODE", None)
    res = subprocess.run([str(lab.berth), "lock", "a//b", "--", "true"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "a//b" in res.stderr


@pytest.mark.parametrize("args", [
    ["k", "--timeout", "abc", "--", "touch", "RAN"],
    ["k", "--timeout", "-1", "--", "touch", "RAN"],
    ["k", "--timeout", "", "--", "touch", "RAN"],
    ["k", "--timeout"],
    ["k", "--", ],
    ["k"],
    [],
    ["k", "touch", "RAN"],
], ids=["timeout-abc", "timeout-negative", "timeout-empty", "timeout-missing", "no-command",
        "no-dashes-no-command", "nothing", "no-dashes"])
def test_usage_errors(lab, args):
    marker = lab.root / "RAN"
    res = lab.berth_run("lock", *[str(marker) if a == "RAN" else a for a in args])
    assert res.returncode == USAGE_ERROR, (res.returncode, res.stderr)
    assert res.stderr.startswith("berth lock: "), res.stderr
    assert "\nusage: berth lock [--timeout S] KEY -- CMD [ARGS...]\n" in res.stderr, res.stderr
    assert not marker.exists(), "the command ran"


@pytest.mark.parametrize("key", ["x" * 200, "a", "A-b_c.d/9", "deploy/42/production",
                                 "cleanup/cr.selcloud.ru/myreg", "..a/b..", ".hidden",
                                 "cleanup/registry.internal:5000/reg"])
def test_good_key_is_taken(lab, key):
    c = lab.start(key, ["sh", "-c", "echo ran"], job=10101)
    assert c.wait() == 0, c.report()
    assert "ran" in c.stdout


# -- 11. independent keys ---------------------------------------------------------------------

@pytest.mark.parametrize("held, other", [("alpha", "beta"), ("deploy", "deploy/42"),
                                         ("deploy/42", "deploy")])
def test_different_keys_do_not_block_each_other(lab, held, other):
    gate = lab.root / "gate"
    a = lab.start(held, gate_cmd(lab, "A", gate), job=11001)
    lab.wait_entered("A")
    b = lab.start(other, enter_leave(lab.log, "B", body="true"), job=11002)
    assert b.wait(60) == 0, f"{other} waited for {held}:\n{b.report()}"
    assert a.running() and event(lab.log, "leave", "A") is None
    gate.touch()
    assert a.wait() == 0, a.report()


# -- stops and nesting (found in review) ------------------------------------------------------

def test_stop_while_the_queue_is_busy_is_not_lost(lab, settings):
    # Someone holds the queue's meta lock (a slow berth, a crashed one being cleaned up); a
    # SIGTERM that comes meanwhile must stop berth, not be forgotten until it runs the command.
    file_only(lab, "the queue's meta lock is a file")
    key = "review/stop"
    queue = settings.state_dir / "locks" / "review%2Fstop"
    queue.mkdir(parents=True)
    meta, held, gate = queue / ".meta", lab.root / "held", lab.root / "gate"
    # The meta lock is held until the test opens the gate: only a berth that obeys the stop
    # can end.
    holder = subprocess.Popen(["flock", "-x", str(meta), "sh", "-c",
                               f"touch {shlex.quote(str(held))}; "
                               f"while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.01; done"],
                              start_new_session=True)
    try:
        assert rn.wait_for(held.exists, 60), "flock never took the queue's meta lock"
        ran = lab.root / "ran"
        c = lab.start(key, ["touch", str(ran)], job=9101)
        assert rn.wait_for(lambda: flock_waiters(meta), 60), (
            f"berth never waited for the queue's meta lock:\n{c.report()}")
        os.kill(c.pid, signal.SIGTERM)
        assert c.wait(timeout=60) == SYSTEM_FAILURE, c.report()
        assert "stopped" in c.stderr, c.report()
        assert not ran.exists(), "the command ran although berth was told to stop"
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


def test_nested_lock_in_the_same_job_does_not_wait_for_itself(lab):
    # berth lock K -- berth lock K -- CMD: the inner one holds K through the ticket it
    # inherited; even with an emptied environment it must not queue behind its parent.
    inner = ["env", "-i", f"BERTH_CONFIG={lab.settings.path}", str(lab.berth), "lock",
             "review/nested", "--timeout", "3", "--", "sh", "-c", "echo inner-ran"]
    c = lab.start("review/nested", inner, job=9102)
    assert c.wait(timeout=60) == 0, c.report()
    assert "inner-ran" in c.stdout
    assert "held by this job already" in c.stderr, c.report()
