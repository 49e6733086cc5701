"""What the fake API servers of lib/ share (craas_fake, keystone_fake): a stdlib HTTP/1.1
server on 127.0.0.1 in a thread, which hands every request to its owner's `_handle(handler)`.
"""

import http.server
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _dispatch(self):
        self.server.owner._handle(self)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _dispatch


class FakeServer:
    """Base of a fake: call `_serve(name)` once the fake's state is set; `port`, `stop()`."""

    def _serve(self, name):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True, name=f"{name}:{self.port}")
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
