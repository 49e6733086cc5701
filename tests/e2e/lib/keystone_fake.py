"""A fake OpenStack Keystone (Identity API v3) that issues the tokens the CRaaS fake accepts.

A pytest plugin (conftest.py loads it through `pytest_plugins`); fixture `keystone`. Written
from the OpenStack Identity API v3 reference, "Password authentication with scoped
authorization" (https://docs.openstack.org/api-ref/identity/v3/#password-authentication-with-
scoped-authorization), and Selectel's "Request authentication"
(https://docs.selectel.ru/en/api/authorization/): the user's domain is the account number.

    POST {url}/auth/tokens
    {"auth": {"identity": {"methods": ["password"],
                           "password": {"user": {"name": U, "domain": {"name"|"id": D},
                                                 "password": P}}},
              "scope": {"project": {"id": ID}}}}     or {"project": {"name": N, "domain": {...}}}
      201, header X-Subject-Token: the token, body {"token": {"methods", "user", "project",
           "issued_at", "expires_at", ...}}
      400 a body the reference does not allow; 401 an unknown user, a wrong password, a
           project the user has no role in. Errors are {"error": {"code", "title", "message"}}.

    keystone = FakeKeystone(); keystone.add_user("svc", "123456", password, ["proj-id"])
    keystone.wire(craas)            # CRaaS accepts only unexpired tokens Keystone issued
    keystone.lifetimes = [4]        # the next token expires 4 s after it is issued (default 24 h)
    keystone.revoke_all()           # every token issued so far is refused from now on
    keystone.refused = True         # tokens issued from now on are refused by CRaaS (no role)
    keystone.no_subject_token = True  # 201 without the X-Subject-Token header (a wrong URL)
    keystone.next_tokens = [...]    # the values of the next tokens (canaries), else random
    keystone.skew = -2 * 86400      # the times the answers say are off by this (a wrong clock)
    keystone.auths                  # [{"time", "status", "body" (parsed, password removed)}]
"""

import datetime
import json
import secrets
import threading
import time

import pytest

from lib.fakeserver import FakeServer

DAY = 86400


def _iso(t):
    """Keystone's form: 2026-12-07T19:13:29.000000Z."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


class FakeKeystone(FakeServer):
    """Attributes: url ("http://127.0.0.1:PORT/identity/v3"), users, projects, lifetimes,
    refused, auths (the log of POST /auth/tokens), tokens ({token: {"expires", "project",
    "valid"}})."""

    def __init__(self):
        self.lock = threading.RLock()
        self.users = {}       # (name, domain) -> {"id", "password", "projects": [project id]}
        self.projects = {}    # id -> {"name", "domain"}
        self.tokens = {}
        self.auths = []
        self.lifetimes = []
        self.refused = False
        self.no_subject_token = False
        self.next_tokens = []
        self.skew = 0
        self._serve("keystone")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/identity/v3"

    # -- state for tests ------------------------------------------------------------------------

    def add_project(self, name, domain):
        pid = secrets.token_hex(16)
        with self.lock:
            self.projects[pid] = {"name": name, "domain": domain}
        return pid

    def add_user(self, name, domain, password, projects):
        with self.lock:
            self.users[(name, domain)] = {"id": secrets.token_hex(16), "password": password,
                                          "projects": list(projects)}

    def valid(self, token):
        """Whether CRaaS should accept TOKEN now: issued here, not revoked, not expired."""
        with self.lock:
            t = self.tokens.get(token)
            return bool(t and t["valid"] and time.time() < t["expires"])

    def wire(self, craas):
        """Make CRAAS accept only the tokens this Keystone issued, while they are valid."""
        craas.accept_token = self.valid

    def revoke_all(self):
        with self.lock:
            for t in self.tokens.values():
                t["valid"] = False

    def issued(self):
        """The tokens issued so far (every X-Subject-Token value)."""
        with self.lock:
            return list(self.tokens)

    # -- the server -----------------------------------------------------------------------------

    def _reply(self, h, status, obj, headers=()):
        body = json.dumps(obj).encode()
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _error(self, h, status, title, message):
        self._reply(h, status, {"error": {"code": status, "title": title, "message": message}})

    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        record = {"time": time.time(), "status": None, "body": None,
                  "content_type": h.headers.get("Content-Type")}
        with self.lock:
            self.auths.append(record)
        if h.command != "POST" or h.path.split("?")[0] != "/identity/v3/auth/tokens":
            record["status"] = 404
            return self._error(h, 404, "Not Found", "The resource could not be found.")
        status, title, message, token = self._authenticate(raw, record)
        record["status"] = status
        if token is None:
            return self._error(h, status, title, message)
        self._reply(h, 201, message,
                    [] if self.no_subject_token else [("X-Subject-Token", token)])

    def _authenticate(self, raw, record):
        """(status, title, message or body, token or None)."""
        bad = (400, "Bad Request", "Expecting to find auth in request body.", None)
        try:
            body = json.loads(raw)
            auth = body["auth"]
            ident = auth["identity"]
            user = ident["password"]["user"]
            password = user["password"]
        except (ValueError, KeyError, TypeError):
            return bad
        record["body"] = json.loads(raw)
        record["body"]["auth"]["identity"]["password"]["user"]["password"] = "(removed)"
        if "password" not in ident.get("methods", []) or not isinstance(password, str):
            return bad
        domain = user.get("domain", {})
        domain = domain.get("name") or domain.get("id")
        if not user.get("name") or not domain:
            return (400, "Bad Request", "a user by name needs its domain", None)
        scope = auth.get("scope", {}).get("project")
        if not isinstance(scope, dict) or not (scope.get("id") or
                                               (scope.get("name") and scope.get("domain"))):
            return (400, "Bad Request", "scope.project needs an id, or a name and a domain",
                    None)
        unauthorized = (401, "Unauthorized",
                        "The request you have made requires authentication.", None)
        with self.lock:
            u = self.users.get((user["name"], domain))
            if u is None or not secrets.compare_digest(u["password"], password):
                return unauthorized
            pid = scope.get("id")
            if pid is None:
                pdomain = scope["domain"].get("name") or scope["domain"].get("id")
                pid = next((i for i, p in self.projects.items()
                            if p["name"] == scope["name"] and p["domain"] == pdomain), None)
            if pid not in self.projects or pid not in u["projects"]:
                return unauthorized
            lifetime = self.lifetimes.pop(0) if self.lifetimes else DAY
            now = time.time()
            token = self.next_tokens.pop(0) if self.next_tokens else \
                "gAAAAA-keystone-canary-" + secrets.token_hex(24)
            self.tokens[token] = {"expires": now + lifetime, "project": pid,
                                  "valid": not self.refused}
            project = self.projects[pid]
        return (201, None, {"token": {
            "methods": ["password"],
            "user": {"id": u["id"], "name": user["name"],
                     "domain": {"id": domain, "name": domain}, "password_expires_at": None},
            "project": {"id": pid, "name": project["name"],
                        "domain": {"id": project["domain"], "name": project["domain"]}},
            "audit_ids": [secrets.token_urlsafe(16)],
            "issued_at": _iso(now + self.skew), "expires_at": _iso(now + self.skew + lifetime),
            "roles": [{"id": secrets.token_hex(16), "name": "member"}],
            "catalog": []}}, token)


@pytest.fixture
def keystone():
    """A running FakeKeystone; stopped when the test ends."""
    fake = FakeKeystone()
    try:
        yield fake
    finally:
        fake.stop()
