"""A fault-injecting proxy in front of the real Kubernetes API server (kubeapi.py).

berth talks plain HTTP to the proxy; the proxy forwards each request over TLS to the API
server, streaming watch answers line by line, unless the test's rule says otherwise. A rule is
a function (method, path) -> None (forward), "hang" (accept, read the request, never answer),
or an HTTP status to answer with at once (e.g. 503). Rules can change while berth runs, which
is how a holder loses its lease: every request passes until its renewals start failing.

Faults the real server will not produce on demand: an API that hangs, 5xx answers, renewals
that fail. Standard library only.
"""

import http.client
import http.server
import json
import ssl
import threading
from urllib.parse import urlsplit

import pytest

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate", "host", "content-length"}


class KubeProxy:
    """http://127.0.0.1:PORT -> the API server of KUBE_API, with RULE deciding each request."""

    def __init__(self, kube_api):
        self.api = kube_api
        self.rule = lambda method, path: None
        self.requests = []  # (method, path, what happened) in arrival order
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def log(self, method, path, what):
        with self.lock:
            self.requests.append((method, path, what))

    def seen(self, method=None, contains=""):
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r[0] == method) and contains in r[1]]

    def kubeconfig(self, auth="token"):
        """A kubeconfig whose server is this proxy (plain HTTP) and whose user is AUTH's."""
        token = self.api._token(auth)  # pylint: disable=protected-access
        return (f"apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n"
                f"    server: {self.url}\nusers:\n- name: proxy\n  user:\n    token: {token}\n"
                f"contexts:\n- name: proxy\n  context:\n    cluster: proxy\n    user: proxy\n"
                f"current-context: proxy\n")

    # -- one request --------------------------------------------------------------------------

    def handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        verdict = self.rule(h.command, h.path)
        self.log(h.command, h.path, verdict or "forwarded")
        if verdict == "hang":
            self.stopping.wait(600)
            h.close_connection = True
            return
        if isinstance(verdict, int):
            payload = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                  "message": f"injected by the test proxy: HTTP {verdict}",
                                  "code": verdict}).encode()
            h.send_response(verdict)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        self.forward(h, body)

    def forward(self, h, body):
        target = urlsplit(self.api.url)
        ctx = ssl.create_default_context(cafile=str(self.api.dir / "ca.crt"))
        conn = http.client.HTTPSConnection(target.hostname, target.port, context=ctx,
                                           timeout=60)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            h.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_HEADERS:
                    h.send_header(k, v)
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            while True:  # line by line: a watch's events must not wait for a buffer to fill
                line = resp.readline()
                if not line:
                    break
                h.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            h.close_connection = True
        finally:
            conn.close()


def lease_renewals(name):
    """A rule's test: is this request a PUT of the Lease NAME (a renewal or a release)?"""
    return lambda method, path: method == "PUT" and path.split("?")[0].endswith(f"/leases/{name}")


@pytest.fixture
def kube_proxy(kube_api):
    proxy = KubeProxy(kube_api).start()
    try:
        yield proxy
    finally:
        proxy.stop()

