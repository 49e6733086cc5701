"""A sandboxed job reaching the runner's own services through the network (docs/bwrap.md,
"The network").

The attack: a job's script under `executor: bwrap`, with the default network, connects to what
the host keeps for itself. Abstract Unix sockets (`@/tmp/.X11-unix`, systemd's, containerd's)
are scoped by network namespace, not by the file system, so a sandbox that shares the host's
network namespace reaches every one of them although it sees none of the host's files; and
whatever listens on the host's 127.0.0.1 (the runner VM's local services) answers it too.

What must hold, with the default settings: the job has a network namespace of its own, so it
reaches neither the host's abstract sockets nor its loopback, directly or through the user-mode
stack's gateway and DNS addresses; it still reaches servers outside, here one on the host's own
address on its network, through slirp4netns, which starts before the script and ends with the
stage, or with berth when berth is killed. The canary probes run once more with
`bwrap_network: host`, where they must get through: that proves each probe is real and the
private network is what stops it.

Every test here fails against a berth without the private network (its default shared the
host's namespace): the canaries answer, and the job's interfaces are the host's.
"""

import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import threading

import pytest

from lib import runner as rn
from lib.backends import bwrap_problem
from test_protocol import expect

# slirp4netns's fixed addresses: its gateway (the host's 127.0.0.1 unless disabled) and its DNS
# forwarder (every port of the host's first resolver unless disabled).
SLIRP_GATEWAY, SLIRP_DNS = "10.0.2.2", "10.0.2.3"


@pytest.fixture
def executor():
    """This module is about the bwrap sandbox's network: bwrap only."""
    problem = bwrap_problem()
    if problem:
        pytest.skip(f"executor bwrap cannot run here: {problem}")
    if not shutil.which("slirp4netns"):
        pytest.skip("the private network needs slirp4netns (apt-get install slirp4netns)")
    return "bwrap"


@pytest.fixture
def default_network(settings):
    """The settings as an admin leaves them: no bwrap_network key, the default applies."""
    settings.write(bwrap_network=None)
    return settings


class Canary:
    """A server that answers every connection with a secret line and counts who came."""

    def __init__(self, family, address):
        self.token = "berth-canary-" + secrets.token_hex(8)
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(16)
        self.address = self.sock.getsockname()
        self.peers = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return  # closed
            with conn:
                self.peers.append(peer)
                try:
                    conn.sendall(f"{self.token}\n".encode())
                except OSError:
                    pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def canaries():
    made = []

    def make(family, address):
        made.append(Canary(family, address))
        return made[-1]
    yield make
    for c in made:
        c.close()


# A script line: connect to HOST:PORT over TCP, print what the server sends, or "closed WHAT".
def tcp_probe(host, port, what):
    return (f"timeout 5 bash -c 'exec 3<>/dev/tcp/{host}/{port} && head -n 1 <&3' 2>/dev/null "
            f"|| echo closed {what}")


# A script line: connect to the abstract Unix socket NAME, print its line, or "closed abstract".
def abstract_probe(name):
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "s.settimeout(5)\n"
            "s.connect('\\0' + sys.argv[1])\n"
            "print(s.makefile().readline().strip())\n")
    return f"python3 -c {shlex.quote(code)} {shlex.quote(name)} 2>/dev/null || echo closed abstract"


def started(job):
    """config, prepare and get_sources done (the build dir exists)."""
    assert job.config_and_prepare(), job.results
    expect(job.run("get_sources"), rn.OK)
    return job


def lines(result):
    """What the script printed, line by line (the runner's echo of each command is one line
    too, so look for whole lines, never for words the command itself holds)."""
    return set(result.stdout.splitlines())


def build_script(runner, job_id, commands):
    """config, prepare, get_sources, build_script with COMMANDS, cleanup: build_script's
    result."""
    job = started(runner.job(job_id))
    result = job.run("build_script", commands)
    expect(job.cleanup(), rn.OK)
    return result


def host_address():
    """An address of this host on its network (not loopback), or None."""
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"],
                         capture_output=True, text=True, check=False).stdout
    for link in json.loads(out or "[]"):
        for a in link.get("addr_info", []):
            addr = ipaddress.ip_address(a["local"])
            if not addr.is_loopback and addr not in ipaddress.ip_network("10.0.2.0/24"):
                return str(addr)
    return None


# -- the attacks ------------------------------------------------------------------------------

def test_host_abstract_sockets_are_out_of_reach(runner, default_network, canaries):
    name = "berth-canary-" + secrets.token_hex(8)
    canary = canaries(socket.AF_UNIX, "\0" + name)
    probe = [abstract_probe(name)]
    result = build_script(runner, 4101, probe)
    expect(result, rn.OK)
    assert canary.token not in result.stdout, \
        f"the job reached the host's abstract socket @{name}:\n{result.report()}"
    assert "closed abstract" in lines(result), result.report()
    assert not canary.peers, f"the canary saw {len(canary.peers)} connection(s)"
    # The same probe on the host's network: it gets through.
    default_network.write(bwrap_network="host")
    result = build_script(runner, 4102, probe)
    assert canary.token in result.stdout, \
        f"the probe is blind under bwrap_network: host too:\n{result.report()}"


def test_host_loopback_services_are_out_of_reach(runner, default_network, canaries):
    canary = canaries(socket.AF_INET, ("127.0.0.1", 0))
    port = canary.address[1]
    # Directly, and through slirp4netns's gateway and DNS forwarder, which would map to the
    # host's loopback (or its resolver's address) were they not disabled.
    probe = [tcp_probe("127.0.0.1", port, "loopback"),
             tcp_probe(SLIRP_GATEWAY, port, "gateway"),
             tcp_probe(SLIRP_DNS, port, "dns")]
    result = build_script(runner, 4201, probe)
    expect(result, rn.OK)
    assert canary.token not in result.stdout, \
        f"the job reached 127.0.0.1:{port} on the host:\n{result.report()}"
    for way in ("loopback", "gateway", "dns"):
        assert f"closed {way}" in lines(result), result.report()
    assert not canary.peers, f"the canary saw connections from {canary.peers}"
    default_network.write(bwrap_network="host")
    result = build_script(runner, 4202, probe[:1])
    assert canary.token in result.stdout, \
        f"the probe is blind under bwrap_network: host too:\n{result.report()}"


def test_servers_outside_are_reached_through_a_namespace_of_its_own(runner, default_network,
                                                                    canaries):
    address = host_address()
    if not address:
        pytest.skip("this host has no IPv4 address on a network, only loopback")
    # Bound to that one address, not to all: nothing on the loopback answers for it.
    canary = canaries(socket.AF_INET, (address, 0))
    probe = [tcp_probe(address, canary.address[1], "outside"),
             "readlink /proc/self/ns/net",
             "awk -F: 'NR > 2 { print \"iface\" $1 }' /proc/net/dev",
             "grep -c . /proc/net/unix | sed 's/^/unix-sockets /'"]
    result = build_script(runner, 4301, probe)
    expect(result, rn.OK)
    assert canary.token in lines(result), \
        f"the job did not reach {address}:{canary.address[1]}:\n{result.report()}"
    # slirp4netns connected from the host's sockets: the server saw the host itself.
    assert canary.peers and canary.peers[0][0] == address, canary.peers
    assert os.readlink("/proc/self/ns/net") not in lines(result), \
        f"the job shares the host's network namespace:\n{result.report()}"
    interfaces = sorted(line[len("iface"):].strip() for line in result.stdout.splitlines()
                        if line.startswith("iface"))
    assert interfaces == ["lo", "tap0"], result.report()
    # No Unix socket of the host is listed in the namespace (the header line only).
    assert "unix-sockets 1" in lines(result), result.report()


def slirp_children(pid):
    """slirp4netns processes whose parent is PID."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        name, ppid = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        if name == "slirp4netns" and int(ppid.split()[1]) == pid:
            found.append(int(entry))
    return found


def holders_of(ns):
    """Live processes in network namespace NS ("net:[N]") or holding a descriptor of it."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not rn.alive(int(entry)):
            continue
        try:
            links = [os.readlink(f"/proc/{entry}/ns/net")]
            links += [os.readlink(f"/proc/{entry}/fd/{fd}")
                      for fd in os.listdir(f"/proc/{entry}/fd")]
        except OSError:
            continue
        if ns in links:
            found.append(int(entry))
    return found


def test_the_network_helper_ends_with_the_stage_and_with_berth(runner, default_network,
                                                               scratch):
    ready = scratch / "ready"
    job = runner.job(4401, scripts={"build_script": [f"touch {shlex.quote(str(ready))}",
                                                     "sleep 1000"]})
    started(job)
    # When the stage ends, its namespace is gone: slirp4netns, which held it, ended too.
    result = job.run("build_script", ["readlink /proc/self/ns/net"])
    expect(result, rn.OK)
    found = re.search(r"^(net:\[\d+\])$", result.stdout, re.M)
    assert found, result.report()
    ns = found.group(1)
    assert ns != os.readlink("/proc/self/ns/net"), "the job shares the host's network namespace"
    assert rn.wait_for(lambda: not holders_of(ns), 60), \
        f"{ns} is still held after the stage: {holders_of(ns)}"
    # While a stage runs, slirp4netns is berth's child.
    running = job.start("build_script")
    assert rn.wait_for(ready.exists, 60), running.wait()
    helpers = slirp_children(running.proc.pid)
    assert len(helpers) == 1, f"no slirp4netns beside the sandbox: {helpers}"
    runner.extra_pids.update(helpers)
    # berth killed outright (the runner's SIGKILL, an OOM kill): the helper dies with it.
    os.kill(running.proc.pid, signal.SIGKILL)
    running.proc.wait(60)
    assert rn.wait_for(lambda: not any(rn.alive(p) for p in helpers), 60), \
        f"slirp4netns {helpers} outlived berth"
    expect(job.cleanup(), rn.OK)
