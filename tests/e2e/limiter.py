"""nginx as a real rate limiter (`limit_req`) in front of a registry, for `berth prune`.

A pytest plugin (conftest.py loads it through `pytest_plugins`). Unlike registry.py's
RateLimiter (which refuses exactly the next N requests on demand), this is the limiter a
registry operator would configure (PEERS.md, "nginx: 429 with Retry-After"): a leaky bucket of
RATE requests per second with BURST extra, `nodelay`; a request over the limit gets 429 with
`Retry-After` and a JSON error body from nginx itself. Every request is in an access log
(`$msec $status $upstream_status $request_method "$request_uri"`), so a test can count how many
429s nginx sent and how many requests reached the registry.

    with LimitReq(reg, tmp, rate=20, burst=5) as lim:
        ... berth prune lim.host/app ...
        assert lim.count(429) > 0

The bucket is keyed by `$binary_remote_addr`: every client on 127.0.0.1 shares it. nginx runs
with one worker, on 127.0.0.1 only, started by hand and stopped with `kill -QUIT PID`, also
when a test fails. Needs /usr/sbin/nginx (Debian package `nginx`): tests skip without it.
"""

import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from registry import _LIVE, _need_or_skip, _stop_process, _wait, free_port, START_TIMEOUT

NGINX = "/usr/sbin/nginx"

CONF = """\
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
{user}
events {{ worker_connections 1024; }}
http {{
  log_format berth '$msec $status $upstream_status $request_method "$request_uri"';
  access_log {d}/access.log berth;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  limit_req_zone $binary_remote_addr zone=reg:1m rate={rate}r/s;
  limit_req_status 429;
  limit_req_log_level info;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    location /v2/ {{
      limit_req zone=reg burst={burst} nodelay;
      error_page 429 = @limited;
      proxy_pass http://127.0.0.1:{upstream};
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
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
  }}
}}
"""

_LINE = re.compile(r'(\S+) (\d+) (\S+) (\S+) "([^"]*)"$')


def nginx_missing():
    """Why nginx cannot run here, or None."""
    if os.access(NGINX, os.X_OK) or shutil.which("nginx"):
        return None
    return "nginx is not installed (apt-get install nginx, or `make deps`)"


class LimitReq:
    """nginx on 127.0.0.1:PORT in front of REGISTRY (plain HTTP), `limit_req rate=RATE r/s
    burst=BURST nodelay`, answering 429 + `Retry-After: RETRY_AFTER` over the limit.

    Attributes: host ("127.0.0.1:PORT"), url, port, registry, rate, burst, pid, access_log,
    error_log; users/tls/ssl_context() like the registry's (registry.py's clients accept it).
    log(): the access log parsed (time, status, upstream_status, method, uri), waiting until
    everything answered so far is written. count(429): how many requests got 429.
    """

    tls = False
    ca_file = ca_pem = cert_dir = None

    def __init__(self, registry, directory=None, rate=20, burst=5, retry_after=1):
        if registry.tls:
            raise ValueError("LimitReq proxies plain-HTTP registries only")
        self.registry = registry
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="berth-limitreq-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rate, self.burst, self.retry_after = rate, burst, retry_after
        self.proc = None
        self.port = None
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
    def pid(self):
        return self.proc.pid if self.proc else None

    def ssl_context(self):
        return None

    def start(self):
        """Start nginx, wait until it answers; returns self. On failure nothing is left."""
        if nginx_missing():
            raise RuntimeError(nginx_missing())
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        binary = NGINX if os.access(NGINX, os.X_OK) else shutil.which("nginx")
        for sub in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
        _LIVE.add(self)
        last_error = ""
        for _ in range(3):   # another process may take the port between free_port() and bind
            self.port = free_port()
            conf = self.dir / "nginx.conf"
            conf.write_text(CONF.format(
                d=self.dir, port=self.port, upstream=self.registry.port, rate=self.rate,
                burst=self.burst, retry_after=self.retry_after,
                # as root, workers would otherwise run as nobody and miss DIR's temp paths
                user="user root;" if os.geteuid() == 0 else ""))
            out = open(self.dir / "nginx.out", "ab")
            self.proc = subprocess.Popen([binary, "-p", str(self.dir), "-c", str(conf),
                                          "-e", str(self.error_log)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            out.close()
            if _wait(lambda: self._answers() or self.proc.poll() is not None, START_TIMEOUT):
                if self.proc.poll() is None:
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

    def log(self, wait=3.0):
        """Every request nginx logged (but the ready/mark probes), as dicts: time (epoch
        seconds), status, upstream_status ("-" when nginx answered itself), method, uri.
        nginx logs a request after answering it: a marker request, logged after everything the
        single worker answered before it, tells when the log is complete."""
        mark = secrets.token_hex(8)
        try:
            urllib.request.urlopen(f"{self.url}/_berth_mark?{mark}", timeout=wait).close()
        except OSError:
            pass
        entries = []

        def read():
            entries.clear()
            seen = False
            text = self.access_log.read_text(errors="replace") if self.access_log.exists() else ""
            for line in text.splitlines():
                m = _LINE.match(line)
                if not m:
                    continue
                if m[5].startswith("/_berth_mark"):
                    seen = seen or m[5].endswith(mark)
                    continue
                entries.append({"time": float(m[1]), "status": int(m[2]),
                                "upstream_status": m[3], "method": m[4], "uri": m[5]})
            return seen

        _wait(read, wait)
        return list(entries)

    def count(self, status=429, method=None, since=None):
        """How many logged requests got STATUS (an int, or a predicate on the status), made
        with METHOD when given, at or after epoch SINCE when given."""
        match = status if callable(status) else (lambda s: s == status)
        return sum(1 for e in self.log()
                   if match(e["status"]) and (method is None or e["method"] == method)
                   and (since is None or e["time"] >= since))

    def reset_log(self):
        """Empty the access log (nginx keeps appending to the same file)."""
        self.log()
        with open(self.access_log, "w"):
            pass


@pytest.fixture
def limiter_factory(tmp_path_factory):
    """make(registry, rate=20, burst=5, retry_after=1) → a started LimitReq in front of
    REGISTRY; every one is stopped (kill -QUIT) when the test ends, pass or fail. Skips the
    test when nginx is not installed."""
    made = []

    def make(registry, rate=20, burst=5, retry_after=1):
        reason = nginx_missing()
        if reason:
            pytest.skip(reason)
        lim = LimitReq(registry, tmp_path_factory.mktemp("limitreq"), rate=rate, burst=burst,
                       retry_after=retry_after)
        made.append(lim)
        return lim.start()

    yield make
    for lim in reversed(made):
        lim.stop()


@pytest.fixture
def limited_registry(registry_factory, limiter_factory):
    """A Basic-auth plain-HTTP registry behind nginx `limit_req rate=20r/s burst=5`."""
    _need_or_skip("htpasswd", limiter=True)
    return limiter_factory(registry_factory(auth="htpasswd"), rate=20, burst=5)


def wait_until(predicate, timeout, interval=0.05):
    """Poll PREDICATE until true or TIMEOUT seconds; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
