"""A real Kubernetes API server for berth's e2e tests (PEERS.md, last section).

`KubeAPI` starts etcd and kube-apiserver v1.20.2 on 127.0.0.1 (free ports, a temporary
directory of their own, a test CA made with openssl), waits for /readyz, and stops both by PID.
Nothing else of Kubernetes runs: no scheduler, kubelet or controllers.

Credentials it offers (all accepted by the server unless said otherwise):
- admin_token: user berth-admin in group system:masters (may do anything);
- client_cert_pem/client_key_pem: CN=berth-cert-user, O=system:masters, signed by the test CA;
- nobody_token: user berth-nobody, valid but with no RBAC bindings. It is still in
  system:authenticated, so the default ClusterRoles let it read /version, /healthz, /readyz,
  /livez (system:public-info-viewer) and the discovery paths /api, /apis (system:discovery):
  GET /version is 200 for it, GET /api/v1/namespaces is 403 Forbidden;
- a bad token (kubeconfig(auth="bad-token")): every request is 401 Unauthorized, /version too
  (--anonymous-auth=false).

The session fixture `kube_api` finds the binary with scripts/kube-apiserver.sh. It does not
build it (7 minutes) unless BERTH_BUILD_KUBE=1; it skips with a reason instead.

Standard library only. `python3 tests/e2e/lib/kubeapi.py` starts one server by hand, prints
an admin kubeconfig and waits for Ctrl-C.
"""

import base64
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO / "scripts" / "kube-apiserver.sh"
SKIP_NOT_BUILT = ("kube-apiserver not built: run scripts/kube-apiserver.sh (7 min) or make check "
                  "(or set BERTH_BUILD_KUBE=1 to build it from the tests)")

READY_TIMEOUT = 60  # seconds for etcd + kube-apiserver to answer /readyz
STOP_GRACE = 10  # seconds between SIGTERM and SIGKILL


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url():
    """An https URL on 127.0.0.1 where nothing listens (connection refused)."""
    return f"https://127.0.0.1:{free_port()}"


def find_binary(build=False):
    """The kube-apiserver binary's path, or None when it is not built (and BUILD is false).

    With BUILD, runs the builder, which builds it when missing (about 7 minutes).
    """
    args = [str(BUILD_SCRIPT)] + ([] if build else ["--check"])
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          check=False)
    if proc.returncode != 0:
        if build:
            raise RuntimeError(f"{BUILD_SCRIPT} failed ({proc.returncode}):\n{proc.stderr}")
        return None
    return Path(proc.stdout.strip().splitlines()[-1])


def _die_with_parent():
    """preexec_fn: SIGKILL the child if the test process dies without stopping it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _b64(text):
    return base64.b64encode(text.encode()).decode()


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:=+-]*")
_NOT_A_STRING = re.compile(  # what YAML 1.1 would read as a number
    r"[-+]?(\.?[0-9][0-9_.eE+-]*|[0-9][0-9_:.]*|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan)",
    re.IGNORECASE)
_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}


def _scalar(value):
    """VALUE as YAML: plain like kubectl writes it when that stays a string, else quoted."""
    if (isinstance(value, str) and _PLAIN.fullmatch(value) and not value.endswith(":")
            and not _NOT_A_STRING.fullmatch(value) and value.lower() not in _WORDS):
        return value
    return json.dumps(value)  # JSON scalars are valid YAML


def _yaml(value, indent=0):
    """Block-style YAML for dicts and lists of strings and bools."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(_yaml(v, indent + 2))
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    else:
        for item in value:
            body = _yaml(item, indent + 2).lstrip()
            lines.append(f"{pad}- {body}")
    return "\n".join(lines)


class KubeAPI:
    """etcd + kube-apiserver on 127.0.0.1, with a test CA, tokens and a client certificate."""

    AUTHS = ("token", "cert", "bad-token", "nobody")

    def __init__(self, binary, etcd="etcd"):
        self.binary = str(binary)
        self.etcd_bin = shutil.which(etcd) or etcd
        self.dir = Path(tempfile.mkdtemp(prefix="berth-kubeapi-"))
        self.etcd = None
        self.apiserver = None
        self.pids = {}
        self.port = None
        self.url = None
        self.admin_token = secrets.token_hex(16)
        self.nobody_token = secrets.token_hex(16)
        self.bad_token = secrets.token_hex(16)  # never known to the server
        self.ca_pem = self.client_cert_pem = self.client_key_pem = None

    # --- files --------------------------------------------------------------------------------

    def _openssl(self, *args):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _sign(self, name, subject, extensions):
        """NAME.key + NAME.crt for SUBJECT, signed by the test CA."""
        (self.dir / f"{name}.ext").write_text("\n".join(extensions) + "\n")
        self._openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                      "-out", f"{name}.csr", "-subj", subject)
        self._openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                      "-CAcreateserial", "-days", "7", "-sha256", "-out", f"{name}.crt",
                      "-extfile", f"{name}.ext")

    def _write_files(self):
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                      "-out", "ca.crt", "-days", "7", "-sha256", "-subj", "/CN=berth-test-ca",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._sign("server", "/CN=kube-apiserver",
                   ["basicConstraints=CA:FALSE",
                    "keyUsage=critical,digitalSignature,keyEncipherment",
                    "extendedKeyUsage=serverAuth",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        self._sign("client", "/O=system:masters/CN=berth-cert-user",
                   ["basicConstraints=CA:FALSE",
                    "keyUsage=critical,digitalSignature,keyEncipherment",
                    "extendedKeyUsage=clientAuth"])
        self._openssl("genrsa", "-out", "sa.key", "2048")
        self._openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
        (self.dir / "tokens.csv").write_text(
            f'{self.admin_token},berth-admin,uid-berth-admin,"system:masters"\n'
            f'{self.nobody_token},berth-nobody,uid-berth-nobody\n')
        self.ca_pem = (self.dir / "ca.crt").read_text()
        self.client_cert_pem = (self.dir / "client.crt").read_text()
        self.client_key_pem = (self.dir / "client.key").read_text()

    # --- processes ----------------------------------------------------------------------------

    def _spawn(self, name, args):
        log = open(self.dir / f"{name}.log", "wb")  # pylint: disable=consider-using-with
        try:
            proc = subprocess.Popen(args, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=_die_with_parent)
        finally:
            log.close()
        self.pids[name] = proc.pid
        return proc

    def log_tail(self, name, lines=30):
        try:
            text = (self.dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait(self, what, proc, name, probe):
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {proc.returncode} while starting:\n"
                                   f"{self.log_tail(name)}")
            if probe():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {READY_TIMEOUT} s:\n"
                                   f"{self.log_tail(name)}")
            time.sleep(0.2)

    def start(self):
        """Start etcd and kube-apiserver; return when /readyz answers 200 (or raise, stopped)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        self._write_files()
        client_port, peer_port, self.port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self.etcd = self._spawn("etcd", [
            self.etcd_bin, "--name", "berth-test", "--data-dir", str(self.dir / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"berth-test={peer_url}", "--initial-cluster-state", "new",
            "--log-level", "warn"])

        def etcd_healthy():
            try:
                with urllib.request.urlopen(etcd_url + "/health", timeout=2) as resp:
                    return json.load(resp).get("health") == "true"
            except (OSError, ValueError):
                return False

        self._wait("etcd", self.etcd, "etcd", etcd_healthy)

        d = self.dir
        self.apiserver = self._spawn("kube-apiserver", [
            self.binary,
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}", "--insecure-port=0",
            f"--cert-dir={d / 'certs'}",
            f"--tls-cert-file={d / 'server.crt'}", f"--tls-private-key-file={d / 'server.key'}",
            f"--client-ca-file={d / 'ca.crt'}",
            f"--token-auth-file={d / 'tokens.csv'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount",
            "--anonymous-auth=false",
            "--profiling=false"])
        self.url = f"https://127.0.0.1:{self.port}"
        self._wait("kube-apiserver", self.apiserver, "kube-apiserver",
                   lambda: self.request("/readyz", timeout=2)[0] == 200)

    def stop(self):
        """Stop kube-apiserver, then etcd (SIGTERM, SIGKILL after a grace); remove the dir."""
        for proc in (self.apiserver, self.etcd):
            if proc is None or proc.poll() is not None:
                continue
            try:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- clients ------------------------------------------------------------------------------

    def request(self, path, auth="token", method="GET", timeout=10):
        """(status, body text) of one request with the credentials of AUTH (see AUTHS)."""
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
        headers = {"Accept": "application/json"}
        if auth == "cert":
            ctx.load_cert_chain(str(self.dir / "client.crt"), str(self.dir / "client.key"))
        elif auth is not None:
            headers["Authorization"] = "Bearer " + self._token(auth)
        req = urllib.request.Request(self.url + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
                return resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except OSError as e:
            return None, str(e)

    def _token(self, auth):
        tokens = {"token": self.admin_token, "nobody": self.nobody_token,
                  "bad-token": self.bad_token}
        if auth not in tokens:
            raise ValueError(f"no token for auth={auth!r}; one of {list(tokens)}")
        return tokens[auth]

    def _user(self, auth):
        if auth == "cert":
            return {"client-certificate-data": _b64(self.client_cert_pem),
                    "client-key-data": _b64(self.client_key_pem)}
        if auth in self.AUTHS:
            return {"token": self._token(auth)}
        raise ValueError(f"auth must be one of {self.AUTHS}, not {auth!r}")

    def _cluster(self, ca, server):
        cluster = {"server": server or self.url}
        if ca == "insecure":
            cluster["insecure-skip-tls-verify"] = True
        elif ca is True:
            cluster["certificate-authority-data"] = _b64(self.ca_pem)
        elif ca is not False:
            raise ValueError(f"ca must be True, False or 'insecure', not {ca!r}")
        return cluster

    def kubeconfig(self, auth="token", ca=True, context="test", extra_contexts=()):
        """A kubeconfig (YAML text) for this server; its current-context is CONTEXT.

        auth: "token" (admin), "cert" (client certificate, system:masters), "bad-token"
        (unknown to the server: 401), "nobody" (valid, no RBAC bindings: 403 on resources).
        ca: True (certificate-authority-data = the test CA), False (no CA: the system's roots,
        which do not trust the server), "insecure" (insecure-skip-tls-verify: true).
        extra_contexts: more contexts, each a name (same settings as CONTEXT) or a dict with
        "name" and any of "auth", "ca", "server" (e.g. closed_port_url()). Every context has a
        cluster and a user of its own, named like it.
        """
        entries = [{"name": context, "auth": auth, "ca": ca}]
        for extra in extra_contexts:
            extra = {"name": extra} if isinstance(extra, str) else dict(extra)
            entries.append({"auth": auth, "ca": ca, **extra})
        names = [e["name"] for e in entries]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate context names: {names}")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": e["name"], "cluster": self._cluster(e["ca"], e.get("server"))}
                         for e in entries],
            "users": [{"name": e["name"], "user": self._user(e["auth"])} for e in entries],
            "contexts": [{"name": e["name"],
                          "context": {"cluster": e["name"], "user": e["name"]}}
                         for e in entries],
            "current-context": context,
        }
        return _yaml(config) + "\n"


@pytest.fixture(scope="session")
def kube_api():
    """One KubeAPI for the whole session (skips when the binary or etcd is missing)."""
    if shutil.which("etcd") is None:
        pytest.skip("etcd not installed: apt-get install etcd-server (or make deps)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: apt-get install openssl")
    binary = find_binary(build=os.environ.get("BERTH_BUILD_KUBE") == "1")
    if binary is None:
        pytest.skip(SKIP_NOT_BUILT)
    api = KubeAPI(binary).start()
    try:
        yield api
    finally:
        api.stop()


if __name__ == "__main__":
    found = find_binary()
    if found is None:
        raise SystemExit(SKIP_NOT_BUILT)
    with KubeAPI(found) as server:
        cfg = Path(tempfile.gettempdir()) / f"berth-kubeapi-{server.port}.kubeconfig"
        cfg.write_text(server.kubeconfig())
        print(f"{server.url} is up; admin kubeconfig: {cfg}; Ctrl-C stops it", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            cfg.unlink()
