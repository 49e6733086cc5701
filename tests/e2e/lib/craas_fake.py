"""A fake Selectel CRaaS management API for `berth prune`'s tests.

A pytest plugin (conftest.py loads it through `pytest_plugins`); fixture `craas`. Written from
the documented endpoints only (docs/prune.md, shared/seed/README.md), stdlib http.server on
127.0.0.1 in a thread:

    GET    /api/v1/registries                                  200 [{id,name,status,createdAt,size}]
    GET    /api/v1/registries/{id}/repositories                200 [{name,createdAt,size}]
    GET    /api/v1/registries/{id}/repositories/{repo}/images  200 [{digest,createdAt,tags,size}]
    DELETE /api/v1/registries/{id}/repositories/{repo}/{digest}
                            204; 404 unknown; 409 {"error": "garbage collection is running"}
    POST   /api/v1/registries/{id}/garbage-collection[?delete-untagged=true]
                            201; status GARBAGE_COLLECTION for `gc_seconds`, then ACTIVE

Every request needs `X-Auth-Token: <token>` (a canary the fixture makes), else 401 JSON;
`accept_token`, when set, decides instead (lib/keystone_fake.py's `wire`: only the tokens
Keystone issued, unexpired).
`{repo}` is one path segment, percent-encoded (`app%2Fweb`); a raw `/` inside it makes the path
unknown (404), as on a router that matches segments. Anything else is 404 JSON.

    craas.add_registry("myreg")
    craas.add_image("myreg", "app/web", digest=None, created=datetime, tags=["v1"])
    ... berth prune with craas_hosts [craas.host], craas_api craas.url, CRAAS_TOKEN=craas.token
    assert craas.tags("myreg", "app/web") == {"v1"}
    craas.requests  # [{"method", "path", "query", "time", "status", "token_ok"}]

Fault injection: fail_next(n, status, method=None, path=None, body=None) answers the next N
matching requests with STATUS; after_deletes(n, fn) calls fn(fake) once N deletes have
succeeded (e.g. `lambda f: f.set_status("myreg", "GARBAGE_COLLECTION", for_seconds=2)`).
"""

import datetime
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
import uuid

import pytest

from lib.fakeserver import FakeServer

ACTIVE = "ACTIVE"
GC = "GARBAGE_COLLECTION"


def rfc3339(when):
    if isinstance(when, (int, float)):
        when = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_digest():
    return "sha256:" + hashlib.sha256(secrets.token_bytes(16)).hexdigest()


class _Registry:
    def __init__(self, name):
        self.id = str(uuid.uuid4())
        self.name = name
        self.created = datetime.datetime.now(datetime.timezone.utc)
        self.status = ACTIVE
        self.status_until = None     # monotonic time when a timed status ends
        self.repos = {}              # name -> {"created": dt, "images": {digest: image}}

    def current_status(self):
        if self.status_until is not None and time.monotonic() >= self.status_until:
            self.status, self.status_until = ACTIVE, None
        return self.status


class FakeCRaaS(FakeServer):
    """The fake API server. Attributes: url ("http://127.0.0.1:PORT/api/v1"), host
    ("127.0.0.1:PORT"), port, token, gc_seconds (how long a POSTed garbage collection runs),
    requests (the log), image_size."""

    def __init__(self, token=None, gc_seconds=1.0):
        self.token = token or "craas-canary-" + secrets.token_hex(16)
        self.gc_seconds = gc_seconds
        self.image_size = 1048576
        self.lock = threading.RLock()
        self.registries = {}        # name -> _Registry
        self.requests = []
        self._faults = []           # [{"n", "status", "method", "path", "body"}]
        self._after = []            # [[n deletes, fn]]
        self.deletes_done = 0
        self.accept_token = None    # token -> bool; None: only `token`
        self._serve("craas")

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://{self.host}/api/v1"

    # -- state for tests ------------------------------------------------------------------------

    def add_registry(self, name):
        with self.lock:
            reg = self.registries[name] = _Registry(name)
            return reg.id

    def registry_id(self, name):
        return self.registries[name].id

    def add_image(self, registry, repo, digest=None, created=None, tags=(), size=None):
        """Add an image to REPO (created on first use) of REGISTRY; returns its digest.
        CREATED: datetime (naive = UTC) or epoch seconds, default now."""
        digest = digest or random_digest()
        created = created if created is not None else time.time()
        with self.lock:
            reg = self.registries[registry]
            r = reg.repos.setdefault(repo, {"created": datetime.datetime.now(
                datetime.timezone.utc), "images": {}})
            r["images"][digest] = {"digest": digest, "createdAt": rfc3339(created),
                                   "tags": list(tags),
                                   "size": self.image_size if size is None else size}
        return digest

    def images(self, registry, repo):
        """The images of REPO now: [{digest, createdAt, tags, size}] (copies)."""
        with self.lock:
            r = self.registries[registry].repos.get(repo)
            return [dict(i, tags=list(i["tags"])) for i in (r["images"].values() if r else [])]

    def tags(self, registry, repo):
        """Every tag of REPO now, as a set."""
        return {t for i in self.images(registry, repo) for t in i["tags"]}

    def digests(self, registry, repo):
        return {i["digest"] for i in self.images(registry, repo)}

    def status(self, registry):
        with self.lock:
            return self.registries[registry].current_status()

    def set_status(self, registry, status, for_seconds=None):
        """Set REGISTRY's status; with FOR_SECONDS it returns to ACTIVE after that long."""
        with self.lock:
            reg = self.registries[registry]
            reg.status = status
            reg.status_until = None if for_seconds is None else time.monotonic() + for_seconds

    def fail_next(self, n, status, method=None, path=None, body=None):
        """Answer the next N requests (with METHOD, whose path contains PATH, when given) with
        STATUS and BODY (default a JSON error), before any other check but the token's."""
        with self.lock:
            self._faults.append({"n": n, "status": status, "method": method, "path": path,
                                 "body": body})

    def after_deletes(self, n, fn):
        """Call FN(self) once N deletes in all have been answered 204."""
        with self.lock:
            self._after.append([n, fn])

    def log(self, method=None, status=None, path=None):
        """The request log, filtered: METHOD, STATUS, PATH (a substring of the raw path)."""
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r["method"] == method)
                    and (status is None or r["status"] == status)
                    and (path is None or path in r["path"])]

    # -- the server -----------------------------------------------------------------------------

    def _reply(self, h, status, obj=None, record=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        if record is not None:
            record["status"] = status
        h.send_response(status)
        if obj is not None:
            h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD" and body:
            h.wfile.write(body)

    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)
        split = urllib.parse.urlsplit(h.path)
        given = h.headers.get("X-Auth-Token")
        token_ok = self.accept_token(given) if self.accept_token else given == self.token
        record = {"method": h.command, "path": split.path, "query": split.query,
                  "time": time.time(), "status": None, "token_ok": token_ok, "token": given,
                  "headers": {k.lower(): v for k, v in h.headers.items()
                              if k.lower() != "x-auth-token"}}
        with self.lock:
            self.requests.append(record)
        if not token_ok:
            return self._reply(h, 401, {"error": "unauthorized: a valid X-Auth-Token is "
                                                 "required"}, record)
        fault = self._take_fault(h.command, split.path)
        if fault is not None:
            body = fault["body"] if fault["body"] is not None else \
                {"error": f"injected {fault['status']}"}
            return self._reply(h, fault["status"], body, record)
        status, obj = self._route(h.command, split.path, urllib.parse.parse_qs(split.query))
        self._reply(h, status, obj, record)
        if h.command == "DELETE" and status == 204:
            self._after_delete()

    def _take_fault(self, method, path):
        with self.lock:
            for f in self._faults:
                if f["n"] > 0 and (f["method"] is None or f["method"] == method) \
                        and (f["path"] is None or f["path"] in path):
                    f["n"] -= 1
                    return f
        return None

    def _after_delete(self):
        due = []
        with self.lock:
            self.deletes_done += 1
            for entry in list(self._after):
                if self.deletes_done >= entry[0]:
                    self._after.remove(entry)
                    due.append(entry[1])
        for fn in due:
            fn(self)

    def _find(self, registry_id):
        for reg in self.registries.values():
            if reg.id == registry_id:
                return reg
        return None

    def _route(self, method, raw_path, query):
        not_found = (404, {"error": "not found"})
        prefix = "/api/v1/"
        if not raw_path.startswith(prefix):
            return not_found
        seg = [urllib.parse.unquote(s) for s in raw_path[len(prefix):].split("/")]
        with self.lock:
            if seg == ["registries"] and method == "GET":
                return 200, [{"id": r.id, "name": r.name, "status": r.current_status(),
                              "createdAt": rfc3339(r.created),
                              "size": sum(i["size"] for repo in r.repos.values()
                                          for i in repo["images"].values())}
                             for r in self.registries.values()]
            if len(seg) < 3 or seg[0] != "registries":
                return not_found
            reg = self._find(seg[1])
            if reg is None:
                return 404, {"error": "registry not found"}
            rest = seg[2:]
            if rest == ["repositories"] and method == "GET":
                return 200, [{"name": name, "createdAt": rfc3339(r["created"]),
                              "size": sum(i["size"] for i in r["images"].values())}
                             for name, r in reg.repos.items()]
            if rest == ["garbage-collection"] and method == "POST":
                reg.status = GC
                reg.status_until = time.monotonic() + self.gc_seconds
                return 201, None
            if len(rest) == 3 and rest[0] == "repositories":
                repo = reg.repos.get(rest[1])
                if rest[2] == "images" and method == "GET":
                    if repo is None:
                        return 404, {"error": "repository not found"}
                    return 200, [dict(i, tags=list(i["tags"]))
                                 for i in repo["images"].values()]
                if method == "DELETE":
                    if reg.current_status() == GC:
                        return 409, {"error": "garbage collection is running"}
                    if repo is None or rest[2] not in repo["images"]:
                        return 404, {"error": "image not found"}
                    del repo["images"][rest[2]]
                    return 204, None
            return not_found


@pytest.fixture
def craas():
    """A running FakeCRaaS with a fresh canary token; stopped when the test ends."""
    fake = FakeCRaaS()
    try:
        yield fake
    finally:
        fake.stop()
