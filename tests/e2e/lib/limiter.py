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

import re
import shutil

import pytest

from .registry import _Nginx

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
    if shutil.which("nginx"):
        return None
    return "nginx is not installed (apt-get install nginx, or `make deps`)"


class LimitReq(_Nginx):
    """nginx proxying to REGISTRY with `limit_req rate=RATE r/s burst=BURST nodelay`, answering
    429 + `Retry-After: RETRY_AFTER` over the limit (registry.py's _Nginx does the rest).

    log(): the access log parsed (time, status, upstream_status, method, uri), waiting until
    everything answered so far is written. count(429): how many requests got 429.
    """

    prefix = "berth-limitreq-"

    def __init__(self, registry, directory=None, rate=20, burst=5, retry_after=1):
        super().__init__(registry, directory, retry_after)
        self.rate, self.burst = rate, burst

    def _config(self):
        return CONF.format(d=self.dir, port=self.port, upstream=self.registry.port,
                           rate=self.rate, burst=self.burst, retry_after=self.retry_after,
                           user=self.user_line())

    def log(self, wait=3.0):
        """Every request nginx logged (but the ready/mark probes), as dicts: time (epoch
        seconds), status, upstream_status ("-" when nginx answered itself), method, uri."""
        return self._read_log(
            wait, _LINE,
            lambda m: {"time": float(m[1]), "status": int(m[2]), "upstream_status": m[3],
                       "method": m[4], "uri": m[5]})

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
