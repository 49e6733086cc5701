"""The libraries berth's end-to-end tests are built on; tests/e2e/conftest.py holds only fixtures.

- runner: GitLab Runner's side of the custom-executor protocol (also runs alone: --demo);
- registry, kubeapi, kubeproxy, limiter, craas_fake, keystone_fake: the real servers berth talks
  to (PEERS.md), or fakes written from an API's reference where the issue says a fake, each a
  pytest plugin with its fixtures (conftest.py loads them through `pytest_plugins`); fakeserver:
  the HTTP server the fakes share;
- settings: berth's settings file for one test; backends: the executors tests run against;
- bad_input: what the tests record for docs/bad-input.md; unprivileged: running as nobody.

Fake tools (a stand-in werf, the LD_PRELOAD shim) are files in tests/e2e/bin/.
"""
