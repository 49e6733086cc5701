"""Real container registries for berth's end-to-end tests.

A pytest plugin (conftest.py loads it through `pytest_plugins`). It runs Debian's
docker-registry (distribution 2.8) on 127.0.0.1 with Basic (htpasswd) or token auth, optionally
over TLS with a private CA made with openssl; a stand-in token server (stdlib, in a thread);
and nginx in front of a registry answering 429 + `Retry-After` on demand. skopeo is the
reference client that proves a docker `config.json` works.

    with Registry(tmp, auth="htpasswd", users=("alice", "bob")) as reg:
        push_image(reg, "demo", "v1", "alice", reg.users["alice"])
        write_docker_config(cfg_dir, {reg.host: ("alice", reg.users["alice"])})
        assert skopeo_list_tags(reg, "demo", cfg_dir) == (0, ["v1"])

Every server listens on 127.0.0.1 only, on a free port, is started by hand and stopped by PID
(registry: SIGTERM; nginx: SIGQUIT), also when a test fails (fixtures stop them in a finally;
an atexit hook catches whatever an interrupted session left).

Why a gate behind nginx for the 429s: stock nginx keeps no per-request state but the
`limit_req` leaky bucket, which is time-based (whether request N is limited depends on how
long the client took since request N-1), and `if (-f flag)` can test a flag but never consume
it. "Exactly the next N requests get 429" is therefore not expressible in stock nginx. nginx
still answers every 429 itself (status, `Retry-After`, JSON body, access log); only the
yes/no for each request comes from an `auth_request` subrequest to a counter in this process.

Facts a client under test meets here:
- Header names: over HTTP/1.1 the registry (Go) sends `Www-Authenticate`,
  `Docker-Content-Digest`; over TLS curl and Go speak HTTP/2 and every name is lowercase.
  nginx sends `Retry-After` as configured. Match header names case-insensitively.
- Token auth: the challenge for `/v2/` names realm and service but no scope (the token then
  carries `access: []`, which is enough for `/v2/`); repository requests name
  `scope="repository:NAME:pull"` (+`error="insufficient_scope"` when the token lacks it).
  With tls=True the token server is HTTPS with the same private CA, so the realm needs the CA.
  The realm answers 401 to missing or wrong credentials, 404 to anything but GET /token.
- skopeo with `--tls-verify=false` tries HTTPS first on a plain port: nginx logs that probe as
  a `400` line with method and URI `-`.
"""

import atexit
import base64
import datetime
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

# Debian package for each program the fixtures run (for skip reasons and `make deps`).
PACKAGES = {
    "docker-registry": "docker-registry",
    "htpasswd": "apache2-utils",
    "openssl": "openssl",
    "nginx": "nginx",
    "skopeo": "skopeo",
}

SERVICE = "test-registry"    # token auth: the registry's service name (the JWT's aud)
ISSUER = "test-issuer"       # token auth: the JWT's iss
TOKEN_ACTIONS = ("pull", "push", "delete")   # what a valid user may do, by default

# Accept header for manifests (PEERS.md: without the OCI type an OCI manifest is a 404).
MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

START_TIMEOUT = 60.0  # seconds for a server to answer after start (a safety net)


# -- helpers ------------------------------------------------------------------------------------

def missing_programs(*programs):
    """The programs (keys of PACKAGES) not on PATH."""
    return [p for p in programs if shutil.which(p) is None]


def require(*programs):
    """Skip the current test unless every program is installed."""
    missing = missing_programs(*programs)
    if missing:
        pkgs = " ".join(sorted({PACKAGES.get(p, p) for p in missing}))
        pytest.skip(f"{', '.join(missing)} not installed: apt-get install {pkgs} "
                    f"(or `make deps`)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def basic_auth(user, password):
    """The value of an `Authorization: Basic` header (and of a docker config `auth`)."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run(cmd, text=True, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=text, **kwargs)


def _wait(predicate, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _stop_process(proc, sig, grace=5.0):
    """Send SIG to PROC (by its PID), escalating to SIGKILL after GRACE seconds; reap it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


# Servers still running, stopped at exit if a session ends without its finalizers.
_LIVE = set()
atexit.register(lambda: [s.stop() for s in list(_LIVE)])


def parse_challenge(header):
    """`Bearer realm="x",service="y"` → ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


# -- TLS: a private CA --------------------------------------------------------------------------

class CA:
    """A throwaway certificate authority and one server certificate for 127.0.0.1."""

    def __init__(self, directory):
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.ca_key = d / "ca.key"
        self.ca_file = d / "ca.crt"
        self.key_file = d / "server.key"
        self.cert_file = d / "server.crt"
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        run(["openssl", "req", "-x509", *ec, "-keyout", self.ca_key, "-out", self.ca_file,
             "-days", "2", "-subj", "/CN=berth test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        csr = d / "server.csr"
        run(["openssl", "req", *ec, "-keyout", self.key_file, "-out", csr,
             "-subj", "/CN=127.0.0.1"])
        ext = d / "server.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca_file, "-CAkey", self.ca_key,
             "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", self.cert_file])
        # skopeo/containers wants a directory holding ca.crt (--cert-dir).
        self.cert_dir = d / "certs.d"
        self.cert_dir.mkdir(exist_ok=True)
        shutil.copy(self.ca_file, self.cert_dir / "ca.crt")
        self.ca_pem = self.ca_file.read_text()

    def server_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


# -- small stdlib HTTP servers in threads -------------------------------------------------------

class _ThreadServer:
    """A ThreadingHTTPServer on 127.0.0.1:0 in a daemon thread, optionally over TLS."""

    def __init__(self, handler_class, tls_context=None):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True,
                                       name=f"{type(self).__name__}:{self.port}")
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep pytest's output clean
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _TokenHandler(_QuietHandler):
    def do_GET(self):
        self.server.owner.handle(self)

    do_POST = do_GET   # POST (the OAuth2 form) is recorded and answered 404, like a GET elsewhere


class TokenServer(_ThreadServer):
    """A Docker token server: Basic credentials in, an RS256 JWT for the asked scopes out.

    `requests` records every request as a dict: method, path, params (dict of lists), scopes
    (list of strings), service, account, user (from Basic, or None), status.
    `token_fields` chooses the JSON fields of the answer: ("token", "access_token") by default;
    ("access_token",) tests a client that must accept either.
    """

    def __init__(self, directory, users, grants=None, tls_context=None, ttl=300):
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.key_file = d / "signing.key"
        self.cert_file = d / "signing.crt"      # the registry's rootcertbundle
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             self.key_file, "-out", self.cert_file, "-days", "2", "-subj", "/CN=test-issuer"])
        der = run(["openssl", "x509", "-in", self.cert_file, "-outform", "DER"],
                  text=False).stdout
        self.x5c = base64.b64encode(der).decode()
        self.users = users          # shared with the Registry: user -> password
        self.grants = grants if grants is not None else {}   # user -> actions (default: all)
        self.ttl = ttl
        self.token_fields = ("token", "access_token")
        self.requests = []
        self.lock = threading.Lock()
        self.scheme = "https" if tls_context else "http"
        super().__init__(_TokenHandler, tls_context)
        self.realm = f"{self.scheme}://127.0.0.1:{self.port}/token"

    def sign(self, claims):
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]}
        compact = {"separators": (",", ":")}
        signing_input = (b64url(json.dumps(header, **compact).encode()) + "."
                         + b64url(json.dumps(claims, **compact).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key_file],
                             input=signing_input.encode(), check=True,
                             capture_output=True).stdout
        return signing_input + "." + b64url(sig)

    def access(self, user, scopes):
        allowed = set(self.grants.get(user, TOKEN_ACTIONS))
        out = []
        for scope in scopes:
            # type:name:actions; the name may hold a port (host:5000/x), the actions never ':'.
            head, _, actions = scope.rpartition(":")
            typ, _, name = head.partition(":")
            if not typ or not name:
                continue
            wanted = [a for a in actions.split(",") if a]
            granted = [a for a in wanted if a in allowed or "*" in allowed]
            out.append({"type": typ, "name": name, "actions": granted})
        return out

    def handle(self, h):
        url = urllib.parse.urlsplit(h.path)
        params = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        user = password = None
        auth = h.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user = None
        record = {"method": h.command, "path": url.path, "params": params,
                  "scopes": params.get("scope", []),
                  "service": (params.get("service") or [None])[0],
                  "account": (params.get("account") or [None])[0], "user": user}
        if h.command != "GET" or url.path != "/token":
            status, body, headers = 404, b'{"error":"not found"}', []
        elif user is None or self.users.get(user) != password:
            status = 401
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
            headers = [("WWW-Authenticate", 'Basic realm="token"')]
        else:
            now = int(time.time())
            jwt = self.sign({"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + self.ttl,
                             "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8),
                             "access": self.access(user, record["scopes"])})
            answer = {field: jwt for field in self.token_fields}
            answer["expires_in"] = self.ttl
            answer["issued_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
            status, body, headers = 200, json.dumps(answer).encode(), []
        record["status"] = status
        with self.lock:
            self.requests.append(record)
        h.reply(status, body, [("Content-Type", "application/json"), *headers])


# -- the registry -------------------------------------------------------------------------------

class Registry:
    """Debian's docker-registry on 127.0.0.1:PORT, started by hand and stopped by PID.

    auth: None, "htpasswd" (Basic) or "token" (a TokenServer with the same users).
    tls: serve HTTPS with a certificate from a private CA (ca_file, ca_pem, cert_dir).
    delete: storage.delete.enabled (False: DELETE answers 405 UNSUPPORTED).
    users: names (random passwords) or a dict name -> password (None: random).
    grants: token auth only: name -> actions a user may get (default pull, push, delete).

    Attributes: host ("127.0.0.1:PORT"), url, port, users (name -> password), tls, ca_file,
    ca_pem, cert_dir (None without TLS), token_server (None unless auth="token"), dir, pid.
    """

    def __init__(self, directory=None, auth="htpasswd", tls=False, delete=True,
                 users=("alice",), grants=None):
        if auth not in (None, "htpasswd", "token"):
            raise ValueError(f"auth must be None, 'htpasswd' or 'token', not {auth!r}")
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="berth-registry-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.auth, self.tls, self.delete = auth, tls, delete
        self.users = {}
        pairs = users.items() if isinstance(users, dict) else ((u, None) for u in users)
        self.grants = dict(grants or {})
        self.ca = self.token_server = self.proc = None
        self.port = None
        self.started_in = None     # seconds from start() to the first answer on /v2/
        for name, password in pairs:
            self.add_user(name, password)

    # attributes for clients
    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def ca_file(self):
        return self.ca.ca_file if self.ca else None

    @property
    def ca_pem(self):
        return self.ca.ca_pem if self.ca else None

    @property
    def cert_dir(self):
        return self.ca.cert_dir if self.ca else None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def token_requests(self):
        return self.token_server.requests if self.token_server else []

    def ssl_context(self):
        """A client context trusting this registry's CA (None without TLS)."""
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.tls else None

    def add_user(self, name, password=None):
        """Add (or change) a user; works while running (the registry rereads htpasswd when its
        mtime changes; the token server reads `users` live). Returns the password."""
        if password is None:
            password = secrets.token_urlsafe(12)
        self.users[name] = password
        if self.auth == "htpasswd":
            self._write_htpasswd()
        return password

    def _write_htpasswd(self):
        lines = [run(["htpasswd", "-Bbn", "-C", "4", u, p]).stdout.strip()
                 for u, p in self.users.items()]
        tmp = self.dir / "htpasswd.tmp"
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(self.dir / "htpasswd")

    def _config(self):
        lines = [
            "version: 0.1",
            "log: {level: warn, accesslog: {disabled: true}}",
            "storage:",
            f"  filesystem: {{rootdirectory: {self.dir / 'data'}}}",
            f"  delete: {{enabled: {'true' if self.delete else 'false'}}}",
            "  maintenance: {uploadpurging: {enabled: false}}",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: test-only",
        ]
        if self.tls:
            lines.append(f"  tls: {{certificate: {self.ca.cert_file}, key: {self.ca.key_file}}}")
        if self.auth == "htpasswd":
            lines.append(f"auth: {{htpasswd: {{realm: test, path: {self.dir / 'htpasswd'}}}}}")
        elif self.auth == "token":
            lines.append(f"auth: {{token: {{realm: {self.token_server.realm}, service: {SERVICE},"
                         f" issuer: {ISSUER}, rootcertbundle: {self.token_server.cert_file}}}}}")
        return "\n".join(lines) + "\n"

    def start(self):
        """Start and wait until GET /v2/ answers; returns self. On failure nothing is left
        running."""
        need = ["docker-registry", "openssl"] + (["htpasswd"] if self.auth == "htpasswd" else [])
        missing = missing_programs(*need)
        if missing:
            raise RuntimeError(f"not installed: {' '.join(missing)}")
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        began = time.monotonic()
        if self.tls and self.ca is None:
            self.ca = CA(self.dir / "tls")
        if self.auth == "token" and self.token_server is None:
            self.token_server = TokenServer(self.dir / "token", self.users, self.grants,
                                            self.ca.server_context() if self.tls else None)
        if self.auth == "htpasswd" and not (self.dir / "htpasswd").exists():
            self._write_htpasswd()
        _LIVE.add(self)
        last_error = ""
        for _ in range(3):   # another process may grab the port between free_port() and bind
            self.port = free_port()
            config = self.dir / "config.yml"
            config.write_text(self._config())
            log = open(self.dir / "registry.log", "ab")
            self.proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            log.close()
            if _wait(lambda: self._answers() or self.proc.poll() is not None, START_TIMEOUT):
                if self.proc.poll() is None:
                    self.started_in = time.monotonic() - began
                    return self
            last_error = (self.dir / "registry.log").read_text(errors="replace")[-2000:]
            _stop_process(self.proc, signal.SIGTERM)
        raise RuntimeError(f"docker-registry did not start; its log:\n{last_error}")

    def _answers(self):
        """GET /v2/ answers (200 or 401): the registry is up."""
        try:
            urllib.request.urlopen(self.url + "/v2/", timeout=1, context=self.ssl_context())
            return True
        except urllib.error.HTTPError:
            return True
        except (OSError, ssl.SSLError):
            return False

    def stop(self):
        _stop_process(self.proc, signal.SIGTERM)
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None
        _LIVE.discard(self)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# -- nginx answering 429 in front of a registry -------------------------------------------------

class _GateHandler(_QuietHandler):
    def do_GET(self):
        limiter = self.server.owner.limiter
        verdict = limiter._decide(self.headers.get("X-Original-Method", ""),
                                  self.headers.get("X-Original-URI", ""))
        # auth_request passes 2xx through; 403 and 401 become @limited (429) / @unavailable (503)
        self.reply({None: 204, 429: 403, 503: 401}[verdict])

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET


class _Gate(_ThreadServer):
    def __init__(self, limiter):
        self.limiter = limiter
        super().__init__(_GateHandler)


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
{user}
events {{ worker_connections 256; }}
http {{
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  map $http_authorization $auth_kind {{
    "" none; ~*^basic basic; ~*^bearer bearer; default other;
  }}
  log_format berth '$msec $status $upstream_status $request_method "$request_uri" $auth_kind';
  access_log {d}/access.log berth;
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    location /v2/ {{
      auth_request /_berth_gate;
      error_page 403 = @limited;
      error_page 401 = @unavailable;
      proxy_pass http://127.0.0.1:{upstream};
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_buffering off;
    }}
    location = /_berth_gate {{
      internal;
      access_log off;
      proxy_pass http://127.0.0.1:{gate};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
    }}
    location = /_berth_ready {{
      access_log off;
      return 204;
    }}
    location = /_berth_mark {{
      return 204;
    }}
    location @limited {{
      add_header Retry-After {retry_after} always;
      default_type application/json;
      return 429 '{{"errors":[{{"code":"TOOMANYREQUESTS","message":"too many requests"}}]}}';
    }}
    location @unavailable {{
      add_header Retry-After {retry_after} always;
      default_type application/json;
      return 503 '{{"errors":[{{"code":"UNAVAILABLE","message":"service unavailable"}}]}}';
    }}
  }}
}}
"""


class _Nginx:
    """nginx on 127.0.0.1:PORT in front of REGISTRY (plain HTTP): what RateLimiter (429 on
    demand) and limiter.LimitReq (a real `limit_req`) share. A subclass gives `_config()` (the
    nginx.conf text for self.port) and may extend `_prepare()`/`stop()`.

    Attributes: host, url, port, registry, users and token_requests (the registry's), tls
    (False), pid, started_in (seconds from start() to nginx answering).
    """

    tls = False
    ca_file = ca_pem = cert_dir = None
    prefix = "berth-nginx-"

    def __init__(self, registry, directory=None, retry_after=1):
        if registry.tls:
            raise ValueError(f"{type(self).__name__} proxies plain-HTTP registries only")
        self.registry = registry
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix=self.prefix))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.retry_after = retry_after
        self.proc = None
        self.port = None
        self.started_in = None
        self.access_log = self.dir / "access.log"
        self.error_log = self.dir / "error.log"

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://{self.host}"

    @property
    def users(self):
        return self.registry.users

    @property
    def token_requests(self):
        return self.registry.token_requests

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def ssl_context(self):
        return None

    @staticmethod
    def user_line():
        """As root, workers would otherwise run as nobody and could not use DIR's temp paths."""
        return "user root;" if os.geteuid() == 0 else ""

    def _prepare(self):
        for sub in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)

    def start(self):
        """Start nginx and wait until it answers; returns self. On failure nothing is left
        running."""
        if missing_programs("nginx"):
            raise RuntimeError("not installed: nginx")
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        began = time.monotonic()
        _LIVE.add(self)
        self._prepare()
        last_error = ""
        for _ in range(3):   # another process may take the port between free_port() and bind
            self.port = free_port()
            conf = self.dir / "nginx.conf"
            conf.write_text(self._config())
            out = open(self.dir / "nginx.out", "ab")
            self.proc = subprocess.Popen(
                ["nginx", "-p", str(self.dir), "-c", str(conf), "-e", str(self.error_log)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            out.close()
            if _wait(lambda: self._answers() or self.proc.poll() is not None, START_TIMEOUT):
                if self.proc.poll() is None:
                    self.started_in = time.monotonic() - began
                    return self
            last_error = self.error_log.read_text(errors="replace")[-2000:] \
                if self.error_log.exists() else ""
            _stop_process(self.proc, signal.SIGQUIT)
        raise RuntimeError(f"nginx did not start; its error log:\n{last_error}")

    def _answers(self):
        try:
            urllib.request.urlopen(self.url + "/_berth_ready", timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        _stop_process(self.proc, signal.SIGQUIT)
        _LIVE.discard(self)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _read_log(self, wait, pattern, entry, complete=lambda entries: True):
        """The access log's requests as entry(match) dicts, leaving out the marker probes.
        nginx writes a line only after it has sent the response, so a client can see the answer
        before the line exists: this first sends a marker request, which the single worker
        handles after it has logged everything answered before, and waits up to WAIT seconds
        for the marker's line and for complete(entries)."""
        mark = secrets.token_hex(8)
        try:
            urllib.request.urlopen(f"{self.url}/_berth_mark?{mark}", timeout=wait).close()
        except OSError:
            pass
        entries = []

        def read():
            entries.clear()
            seen_mark = False
            text = self.access_log.read_text(errors="replace") \
                if self.access_log.exists() else ""
            for line in text.splitlines():
                m = pattern.match(line)
                if not m:
                    continue
                if m[5].startswith("/_berth_mark"):
                    seen_mark = seen_mark or m[5].endswith(mark)
                    continue
                entries.append(entry(m))
            return seen_mark and complete(entries)

        _wait(read, wait)
        return list(entries)


class RateLimiter(_Nginx):
    """nginx proxying to REGISTRY, answering 429 on demand.

    arm(n, path=None, status=429): the next N requests under /v2/ (only those whose path,
    without query, equals PATH, e.g. "/v2/", when given) get STATUS (429 or 503) with
    `Retry-After: <retry_after>` and a JSON error body, from nginx itself; then requests pass
    again. Deterministic: it counts requests, not time.

    log(): every request nginx logged under /v2/, as dicts: time (epoch seconds, float), status,
    upstream_status ("-" when nginx answered itself), method, uri, auth ("none", "basic",
    "bearer", "other": what the Authorization header carried).
    limited(): the entries nginx answered with 429/503 itself. `armed`: refusals still pending.
    """

    _LINE = re.compile(r'(\S+) (\d+) (\S+) (\S+) "([^"]*)" (\S+)$')

    def __init__(self, registry, directory=None, retry_after=1):
        super().__init__(registry, directory, retry_after)
        self.gate = None
        self._lock = threading.Lock()
        self._armed = 0
        self._path = None
        self._status = 429
        self.refused = 0        # refusals the gate decided (nginx's log says what it sent)

    @property
    def armed(self):
        return self._armed

    def arm(self, n=1, path=None, status=429):
        if status not in (429, 503):
            raise ValueError("status must be 429 or 503")
        with self._lock:
            self._armed, self._path, self._status = n, path, status

    def disarm(self):
        self.arm(0)

    def _decide(self, method, uri):
        with self._lock:
            if self._armed <= 0:
                return None
            if self._path is not None and urllib.parse.urlsplit(uri).path != self._path:
                return None
            self._armed -= 1
            self.refused += 1
            return self._status

    def log(self, wait=2.0):
        """The access log, parsed (requests under /v2/, plus `-` lines for what was not HTTP,
        e.g. skopeo's TLS probe), once every refusal the gate decided is in it."""
        return self._read_log(
            wait, self._LINE,
            lambda m: {"time": float(m[1]), "status": int(m[2]), "upstream_status": m[3],
                       "method": m[4], "uri": m[5], "auth": m[6]},
            lambda entries: sum(1 for e in entries if self._is_refusal(e)) >= self.refused)

    @staticmethod
    def _is_refusal(entry):
        return entry["status"] in (429, 503) and entry["upstream_status"] == "-"

    def limited(self):
        return [e for e in self.log() if self._is_refusal(e)]

    def _prepare(self):
        self.gate = _Gate(self)
        super()._prepare()

    def _config(self):
        return NGINX_CONF.format(d=self.dir, port=self.port, upstream=self.registry.port,
                                 gate=self.gate.port, retry_after=self.retry_after,
                                 user=self.user_line())

    def stop(self):
        super().stop()
        if self.gate is not None:
            self.gate.stop()
            self.gate = None


# -- a tiny registry client: push an image, list tags -------------------------------------------

def authorization(challenge, user, password, context, scope=None):
    """The Authorization header value answering CHALLENGE as `docker login` does: Basic, or a
    Bearer token from the realm (Basic credentials; `token` or `access_token`) for SCOPE, or
    the challenge's own scope when SCOPE is None."""
    scheme, params = parse_challenge(challenge)
    basic = "Basic " + basic_auth(user, password)
    if scheme == "basic":
        return basic
    if scheme != "bearer":
        raise RuntimeError(f"unknown challenge {challenge!r}")
    query = {k: params[k] for k in ("service", "scope") if k in params}
    if scope is not None:
        query["scope"] = scope
    query["account"] = user
    req = urllib.request.Request(params["realm"] + "?" + urllib.parse.urlencode(query),
                                 headers={"Authorization": basic})
    with urllib.request.urlopen(req, timeout=30, context=context) as resp:
        answer = json.load(resp)
    return "Bearer " + (answer.get("token") or answer["access_token"])


class Client:
    """Registry API v2 over urllib, logging in like `docker login`: on 401 it follows
    WWW-Authenticate (Basic: resend with credentials; Bearer: get a token from the realm with
    Basic credentials, `token` or `access_token`); 429/503 wait `Retry-After` (≤ 5 times)."""

    def __init__(self, registry, user=None, password=None):
        self.base = registry.url
        self.context = registry.ssl_context()
        self.user, self.password = user, password
        self.authorization = None

    def _open(self, req):
        return urllib.request.urlopen(req, timeout=30, context=self.context)

    def request(self, method, url, body=None, headers=None):
        """(status, headers, body); URL may be a path under the registry's base."""
        if url.startswith("/"):
            url = self.base + url
        tried_auth = False
        for _ in range(8):
            req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
            if self.authorization:
                req.add_header("Authorization", self.authorization)
            try:
                with self._open(req) as resp:
                    return resp.status, resp.headers, resp.read()
            except urllib.error.HTTPError as err:
                status, hdrs, data = err.code, err.headers, err.read()
            if status in (429, 503) and hdrs.get("Retry-After"):
                time.sleep(min(float(hdrs["Retry-After"]), 10))
                continue
            if status == 401 and not tried_auth and self.user is not None:
                tried_auth = True
                self._login(hdrs.get("WWW-Authenticate", ""))
                continue
            return status, hdrs, data
        return status, hdrs, data

    def _login(self, challenge):
        self.authorization = authorization(challenge, self.user, self.password, self.context)

    def check(self, expected, method, url, body=None, headers=None):
        status, hdrs, data = self.request(method, url, body, headers)
        if status not in expected:
            raise RuntimeError(f"{method} {url}: {status} {data[:500]!r}")
        return hdrs, data

    def push_blob(self, repo, blob):
        digest = sha256_digest(blob)
        hdrs, _ = self.check((202,), "POST", f"/v2/{repo}/blobs/uploads/")
        location = urllib.parse.urljoin(self.base + "/", hdrs["Location"])
        sep = "&" if "?" in location else "?"
        self.check((201,), "PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", blob,
                   {"Content-Type": "application/octet-stream"})
        return digest


def _tiny_layer():
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = b"berth test layer\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


def push_image(registry, repo, tag, user=None, password=None):
    """Push a tiny OCI image (config + one layer + a manifest) as REPO:TAG; return the manifest
    digest. Each tag gets its own manifest (an annotation names the tag), so deleting one tag's
    digest deletes that tag alone. REGISTRY is a Registry or a RateLimiter."""
    client = Client(registry, user, password)
    tar_bytes, layer = _tiny_layer()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers",
                                    "diff_ids": [sha256_digest(tar_bytes)]}}).encode()
    config_digest = client.push_blob(repo, config)
    layer_digest = client.push_blob(repo, layer)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": len(layer)}],
        "annotations": {"org.example.berth.test.tag": tag},
    }).encode()
    hdrs, _ = client.check((201,), "PUT", f"/v2/{repo}/manifests/{tag}", manifest,
                           {"Content-Type": OCI_MANIFEST})
    return hdrs.get("Docker-Content-Digest") or sha256_digest(manifest)


def list_tags(registry, repo, user=None, password=None):
    """The registry's tags for REPO by the API (sorted; [] for none), without skopeo."""
    _, data = Client(registry, user, password).check((200,), "GET", f"/v2/{repo}/tags/list")
    return sorted(json.loads(data).get("tags") or [])


# -- skopeo, the reference client ---------------------------------------------------------------

def write_docker_config(directory, auths):
    """DIRECTORY/config.json as `docker login` leaves it: AUTHS maps host -> (user, password)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    config = {"auths": {host: {"auth": basic_auth(u, p)} for host, (u, p) in auths.items()}}
    (d / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return d / "config.json"


def skopeo_env(docker_config_dir, home):
    """An environment in which skopeo reads credentials from DOCKER_CONFIG only: no
    REGISTRY_AUTH_FILE, and HOME and XDG_RUNTIME_DIR (where containers' auth.json would be
    looked up first; /run/containers/0 for root) point at an empty directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE",)}
    env.update(DOCKER_CONFIG=str(docker_config_dir), HOME=str(home), XDG_RUNTIME_DIR=str(home))
    return env


def skopeo(registry, args, docker_config_dir, timeout=60):
    """Run `skopeo ARGS[0] <TLS options> ARGS[1:]` for REGISTRY with
    DOCKER_CONFIG=DOCKER_CONFIG_DIR; returns the CompletedProcess."""
    require("skopeo")
    tls = ["--cert-dir", str(registry.cert_dir)] if registry.tls else ["--tls-verify=false"]
    with tempfile.TemporaryDirectory(prefix="berth-skopeo-home-") as home:
        cmd = ["skopeo", "--command-timeout", f"{timeout}s", args[0], *tls, *args[1:]]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10,
                              env=skopeo_env(docker_config_dir, home), stdin=subprocess.DEVNULL)


def skopeo_list_tags(registry, repo, docker_config_dir):
    """(0, sorted tags) when `skopeo list-tags` works with that config dir, else
    (returncode, stderr)."""
    res = skopeo(registry, ["list-tags", f"docker://{registry.host}/{repo}"], docker_config_dir)
    if res.returncode != 0:
        return res.returncode, res.stderr
    return 0, sorted(json.loads(res.stdout).get("Tags") or [])


def skopeo_delete(registry, repo, tag, docker_config_dir):
    """(returncode, stderr) of `skopeo delete docker://HOST/REPO:TAG`."""
    res = skopeo(registry, ["delete", f"docker://{registry.host}/{repo}:{tag}"],
                 docker_config_dir)
    return res.returncode, res.stderr


# -- pytest fixtures ----------------------------------------------------------------------------

DEFAULT_USERS = ("alice", "bob")   # two users: "two jobs with different credentials"


def _need_or_skip(auth, limiter=False):
    programs = ["docker-registry", "openssl"]
    if auth == "htpasswd":
        programs.append("htpasswd")
    if limiter:
        programs.append("nginx")
    require(*programs)


@pytest.fixture
def registry_factory(tmp_path_factory):
    """make(auth=..., tls=..., delete=..., users=..., grants=...) → a started Registry;
    every one is stopped when the test ends, pass or fail."""
    made = []

    def make(auth="htpasswd", tls=False, delete=True, users=DEFAULT_USERS, grants=None):
        _need_or_skip(auth)
        reg = Registry(tmp_path_factory.mktemp("registry"), auth=auth, tls=tls, delete=delete,
                       users=users, grants=grants)
        made.append(reg)
        return reg.start()

    yield make
    for reg in reversed(made):
        reg.stop()


@pytest.fixture
def registry_basic(registry_factory):
    """Basic auth (htpasswd, bcrypt cost 4), plain HTTP, deletes on; users alice and bob."""
    return registry_factory(auth="htpasswd")


@pytest.fixture
def registry_tls(registry_factory):
    """Basic auth over HTTPS with a private CA: ca_file, ca_pem, cert_dir (holds ca.crt)."""
    return registry_factory(auth="htpasswd", tls=True)


@pytest.fixture
def registry_token(registry_factory):
    """Token auth, plain HTTP; token_server (realm, requests, token_fields) checks the users."""
    return registry_factory(auth="token")


@pytest.fixture
def registry_limited(registry_factory, tmp_path_factory):
    """A RateLimiter (nginx) in front of a Basic-auth plain-HTTP registry; not armed."""
    _need_or_skip("htpasswd", limiter=True)
    registry = registry_factory(auth="htpasswd")
    limiter = RateLimiter(registry, tmp_path_factory.mktemp("nginx"))
    try:
        yield limiter.start()
    finally:
        limiter.stop()


# -- many tags fast: one keep-alive client (added for `berth prune`'s tests) --------------------

class KeepAliveClient:
    """Registry API v2 over ONE http.client connection kept alive across requests (urllib opens
    a connection per request). Logs in like Client: Basic, or a Bearer token for
    `repository:REPO:ACTIONS` from the realm; waits out 429/503 `Retry-After`; reconnects
    after a dropped connection. REGISTRY is a Registry, a RateLimiter or anything with `url`
    and `ssl_context()`."""

    def __init__(self, registry, repo, user=None, password=None, actions="pull,push"):
        split = urllib.parse.urlsplit(registry.url)
        self.host, self.port, self.tls = split.hostname, split.port, split.scheme == "https"
        self.context = registry.ssl_context()
        self.repo, self.actions = repo, actions
        self.user, self.password = user, password
        self.authorization = None
        self.conn = None
        self.requests = 0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _connection(self):
        if self.conn is None:
            if self.tls:
                self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=30,
                                                        context=self.context)
            else:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        return self.conn

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body). PATH may be an absolute URL on this registry (Location)."""
        if not path.startswith("/"):
            split = urllib.parse.urlsplit(path)
            path = split.path + ("?" + split.query if split.query else "")
        tried_auth, broken = False, 0
        for _ in range(20):
            hdrs = dict(headers or {})
            if self.authorization:
                hdrs["Authorization"] = self.authorization
            if body is None and method in ("POST", "PUT", "PATCH"):
                body = b""
            try:
                conn = self._connection()
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError):
                self.close()
                broken += 1
                if broken > 3:
                    raise
                time.sleep(0.1 * broken)
                continue
            self.requests += 1
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            status = resp.status
            if status in (429, 503) and resp.getheader("Retry-After"):
                time.sleep(min(float(resp.getheader("Retry-After")), 10))
                continue
            if status == 401 and not tried_auth and self.user is not None:
                tried_auth = True
                self._login(resp.getheader("WWW-Authenticate", ""))
                continue
            return status, resp.headers, data
        return status, resp.headers, data

    def _login(self, challenge):
        self.authorization = authorization(challenge, self.user, self.password, self.context,
                                           scope=f"repository:{self.repo}:{self.actions}")

    def check(self, expected, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        if status not in expected:
            raise RuntimeError(f"{method} {path}: {status} {data[:500]!r}")
        return hdrs, data

    def push_blob(self, blob):
        """Upload BLOB unless the registry has it; returns its digest."""
        digest = sha256_digest(blob)
        status, _, _ = self.request("HEAD", f"/v2/{self.repo}/blobs/{digest}")
        if status == 200:
            return digest
        hdrs, _ = self.check((202,), "POST", f"/v2/{self.repo}/blobs/uploads/")
        location = hdrs["Location"]
        sep = "&" if "?" in location else "?"
        self.check((201,), "PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", blob,
                   {"Content-Type": "application/octet-stream"})
        return digest

    def put_manifest(self, reference, manifest, media_type=OCI_MANIFEST):
        hdrs, _ = self.check((201,), "PUT", f"/v2/{self.repo}/manifests/{reference}", manifest,
                             {"Content-Type": media_type})
        return hdrs.get("Docker-Content-Digest") or sha256_digest(manifest)

    def get_manifest(self, reference):
        """(media type, bytes, digest) of REFERENCE, asked with every manifest type."""
        hdrs, data = self.check((200,), "GET", f"/v2/{self.repo}/manifests/{reference}",
                                headers={"Accept": MANIFEST_ACCEPT})
        return (hdrs.get("Content-Type"), data,
                hdrs.get("Docker-Content-Digest") or sha256_digest(data))


def rfc3339(when):
    """A datetime (naive = UTC) or epoch seconds as `2026-10-02T11:00:00Z`."""
    if isinstance(when, (int, float)):
        when = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_config(created=None, diff_id=None):
    """An OCI image config blob; CREATED (datetime, epoch seconds or an RFC 3339 string) becomes
    its `created`, None leaves the field out."""
    if diff_id is None:
        diff_id = sha256_digest(_tiny_layer()[0])
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    if created is not None:
        config["created"] = created if isinstance(created, str) else rfc3339(created)
    return json.dumps(config, sort_keys=True).encode()


def push_tags(registry, repo, tags, created=None, user=None, password=None, connections=4):
    """Push many tags of tiny OCI images fast: the layer blob once, one config blob per
    distinct creation time, then one distinct manifest per tag (an annotation names the tag),
    so deleting one tag's digest deletes that tag alone. Each of CONNECTIONS threads works on
    one keep-alive connection (the registry spends its time in the filesystem, not the wire).

    CREATED: None (configs without `created`), one datetime/epoch/RFC 3339 string for every
    tag, or a dict tag -> creation time (a tag not in it gets no `created`).
    Returns {tag: manifest digest}, in the order of TAGS."""
    tags = list(tags)
    tar_bytes, layer = _tiny_layer()
    diff_id = sha256_digest(tar_bytes)
    config_of = {}
    for tag in tags:
        when = created.get(tag) if isinstance(created, dict) else created
        config_of[tag] = image_config(when, diff_id)
    with KeepAliveClient(registry, repo, user, password) as client:
        layer_digest = client.push_blob(layer)
    distinct = list(dict.fromkeys(config_of.values()))
    config_digest = {}
    digests = {}
    errors = []
    lock = threading.Lock()

    def work(index):
        try:
            with KeepAliveClient(registry, repo, user, password) as client:
                for config in distinct[index::connections]:
                    digest = client.push_blob(config)
                    with lock:
                        config_digest[config] = digest
                barrier.wait(120)
                for tag in tags[index::connections]:
                    config = config_of[tag]
                    manifest = json.dumps({
                        "schemaVersion": 2,
                        "mediaType": OCI_MANIFEST,
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                   "digest": config_digest[config], "size": len(config)},
                        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                    "digest": layer_digest, "size": len(layer)}],
                        "annotations": {"org.example.berth.test.tag": tag},
                    }).encode()
                    digest = client.put_manifest(tag, manifest)
                    with lock:
                        digests[tag] = digest
        except BaseException as err:   # noqa: B902 - reported by the caller
            errors.append(err)
            barrier.abort()

    connections = max(1, min(connections, len(tags) or 1))
    barrier = threading.Barrier(connections)
    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real or errors:
        raise (real or errors)[0]
    return {tag: digests[tag] for tag in tags}


def retag(registry, repo, source, tags, user=None, password=None):
    """Point each of TAGS at the manifest SOURCE (a tag or digest) names, byte for byte: the
    tags then share one digest. Returns that digest."""
    if isinstance(tags, str):
        tags = [tags]
    with KeepAliveClient(registry, repo, user, password) as client:
        media_type, data, digest = client.get_manifest(source)
        for tag in tags:
            client.put_manifest(tag, data, media_type)
    return digest


def tag_digests(registry, repo, user=None, password=None):
    """{tag: manifest digest} of every tag of REPO now (HEAD each tag on one connection)."""
    with KeepAliveClient(registry, repo, user, password, actions="pull") as client:
        status, _, data = client.request("GET", f"/v2/{repo}/tags/list")
        if status == 404:
            return {}
        if status != 200:
            raise RuntimeError(f"GET /v2/{repo}/tags/list: {status} {data[:300]!r}")
        out = {}
        for tag in json.loads(data).get("tags") or []:
            hdrs, _ = client.check((200,), "HEAD", f"/v2/{repo}/manifests/{tag}",
                                   headers={"Accept": MANIFEST_ACCEPT})
            out[tag] = hdrs.get("Docker-Content-Digest")
        return out


def kill_registry(registry, sig=signal.SIGKILL):
    """Stop REGISTRY's docker-registry process (SIGKILL by default: a crash, connections reset)
    and keep its port, config and storage for restart_registry. Its token server stays up."""
    _stop_process(registry.proc, sig)


def restart_registry(registry):
    """Start docker-registry again on the same port with the same config and storage (after
    kill_registry); waits until it answers. Retries briefly while the port is still held."""
    if registry.proc is not None and registry.proc.poll() is None:
        raise RuntimeError("the registry is still running")
    config = registry.dir / "config.yml"
    last_error = ""
    for _ in range(5):
        log = open(registry.dir / "registry.log", "ab")
        registry.proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        _LIVE.add(registry)
        if _wait(lambda: registry._answers() or registry.proc.poll() is not None, START_TIMEOUT):
            if registry.proc.poll() is None:
                return registry
        last_error = (registry.dir / "registry.log").read_text(errors="replace")[-2000:]
        _stop_process(registry.proc, signal.SIGTERM)
        time.sleep(0.5)
    raise RuntimeError(f"docker-registry did not restart on {registry.host}:\n{last_error}")
