"""The dashboard and the alert rules in examples/monitoring/ against real Prometheus components.

- promtool checks the rule file and runs its unit tests (monitoring/rules_test.yml: every alert
  fires and resolves on synthetic series) and checks the textfile node_exporter serves;
- two runners, each a real prometheus-node-exporter reading a berth.prom from its textfile
  directory, are scraped by a real prometheus (127.0.0.1, free ports, storage in the test's
  temp dir), which also loads the rule file: every rule must evaluate without error, and every
  query of every dashboard panel, evaluated through /api/v1/query, must return series (for
  each runner where the panel breaks down by runner). So no panel queries a metric that does
  not exist;
- the dashboard queries every family berth writes and nothing else, and the Deckhouse
  manifests have the shape of Deckhouse's CRDs (`make lint` checks they are in sync).

Which berth.prom: SOURCE "berth" (the default) runs jobs through the runner harness with
`metrics_dir` set, so the files are berth's own, and checks that the sample still has their
shape; "sample" is monitoring/berth.prom.sample alone, one sample of every family in the exact
format docs/operations.md gives. BERTH_MONITORING_SOURCE overrides SOURCE.
Readiness is polled over HTTP (the servers' endpoints, the queries' results), never slept for.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from lib import runner as rn
from lib.settings import Settings

SOURCE = os.environ.get("BERTH_MONITORING_SOURCE", "berth")

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "monitoring"
SAMPLE = HERE / "berth.prom.sample"
RULES = REPO / "examples" / "monitoring" / "berth-alerts.yml"
DASHBOARD = REPO / "examples" / "monitoring" / "berth-dashboard.json"
DECKHOUSE = REPO / "examples" / "monitoring" / "deckhouse"

PROGRAMS = ("promtool", "prometheus", "prometheus-node-exporter")
READY_TIMEOUT = 60.0  # seconds: a safety net for a loaded machine, not an expected wait
RUNNERS = ("runner-a", "runner-b")

# What Grafana puts in place of its variables: every runner, and a rate window that holds a
# few of the test's 1 s scrapes.
GRAFANA_VARS = {"$instance": ".*", "$__rate_interval": "10s", "$__interval": "1s",
                "$__range": "10s"}


def need_programs():
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: apt-get install prometheus "
                    f"prometheus-node-exporter (or `make deps`)")


def wait_for(what, probe, timeout=READY_TIMEOUT, interval=0.05):
    """PROBE's first truthy result; fails naming WHAT after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def http_get(url):
    """The body of a 200 answer, else None (not listening yet, or not ready)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as res:
            return res.read().decode()
    except (OSError, ValueError):
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A program listening on 127.0.0.1:PORT, its output in DIR/NAME.log, stopped by PID."""

    def __init__(self, name, directory, argv_for_port, ready_path):
        self.name, self.log = name, directory / f"{name}.log"
        for _ in range(3):  # a free port can be taken before the program binds it
            self.port = free_port()
            with open(self.log, "w") as log:
                self.proc = subprocess.Popen(argv_for_port(self.port), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
            self.url = f"http://127.0.0.1:{self.port}"
            if wait_for(f"{name} answering {ready_path} (log: {self.log})",
                        lambda: self.proc.poll() is not None or http_get(self.url + ready_path)):
                if self.proc.poll() is None:
                    return
        pytest.fail(f"{name} did not start: {self.log.read_text()[-2000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- the textfiles ------------------------------------------------------------------------------

def berth_textfile(berth, root, directory, failures):
    """DIRECTORY/berth.prom as berth writes it after a passing job, a failing one, and with
    FAILURES one whose registry login cannot connect (a system failure, retried)."""
    settings = Settings(root, "shell")
    settings.write(metrics_dir=str(directory))
    runner = rn.Runner(berth, root, settings=settings.path)
    try:
        runner.job(9901, scripts={"build_script": "true"}).run_job()
        runner.job(9902, scripts={"build_script": "exit 3"}).run_job()
        if failures:
            port = free_port()  # nothing listens there
            settings.write(registries=[{"host": f"127.0.0.1:{port}", "plain_http": True}],
                           registry_timeout=2)
            runner.job(9903, variables={"WERF_REPO": f"127.0.0.1:{port}/g/app",
                                        "WERF_USERNAME": "u", "WERF_PASSWORD": "p"},
                       masked={"WERF_PASSWORD"}).run_job()
    finally:
        runner.close()
    path = directory / "berth.prom"
    assert path.is_file(), f"berth wrote no {path} with metrics_dir set"
    return path


@pytest.fixture(scope="module")
def textfiles(tmp_path_factory):
    """{runner name: its berth.prom}, each in a textfile directory of its own."""
    files = {}
    for i, name in enumerate(RUNNERS):
        directory = tmp_path_factory.mktemp(f"textfile-{name}")
        if SOURCE == "sample":
            files[name] = Path(shutil.copy(SAMPLE, directory / "berth.prom"))
        elif SOURCE == "berth":
            berth = rn.find_berth()
            if not os.access(berth, os.X_OK):
                pytest.skip(f"berth binary not found at {berth}: run `make` or set BERTH_BIN")
            files[name] = berth_textfile(berth, tmp_path_factory.mktemp(f"jobs-{name}"),
                                         directory, failures=(i == 0))
        else:
            pytest.fail(f"BERTH_MONITORING_SOURCE={SOURCE!r}: use sample or berth")
    return files


def families(text):
    """The metric families a textfile declares (its # TYPE lines)."""
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


# -- the stack ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prometheus(textfiles, tmp_path_factory):
    """The Prometheus API's base URL, once it has scraped every runner's exporter."""
    need_programs()
    for name, textfile in textfiles.items():
        # The readiness check and the dashboard's runner variable both count on it.
        assert "berth_build_info" in families(textfile.read_text()), \
            f"{name}: {textfile} has no berth_build_info: not the metrics of docs/operations.md"
    work = tmp_path_factory.mktemp("prometheus")
    servers = []
    try:
        targets = {}
        for name, textfile in textfiles.items():
            exporter = Server(f"node-exporter-{name}", work, lambda port, d=textfile.parent: [
                "prometheus-node-exporter", "--collector.disable-defaults",
                "--collector.textfile", f"--collector.textfile.directory={d}",
                f"--web.listen-address=127.0.0.1:{port}"], "/metrics")
            servers.append(exporter)
            targets[name] = f"127.0.0.1:{exporter.port}"
        config = work / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "node", "static_configs": [
                {"targets": [address], "labels": {"instance": name}}
                for name, address in targets.items()]}],
        }))
        server = Server("prometheus", work, lambda port: [
            "prometheus", f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"], "/-/ready")
        servers.append(server)
        # Three scrapes of every runner: enough for a rate over the 10 s window.
        scraped = "count_over_time(berth_build_info[10s]) >= 3"
        wait_for("prometheus scraping every runner's berth.prom three times",
                 lambda: len(query(server.url, scraped)) == len(targets))
        yield server.url
    finally:
        for server in reversed(servers):
            server.stop()


def query(base, expr):
    """The result vector of EXPR, evaluated now; an error answer fails the test."""
    body = http_get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if body is None:
        # Prometheus answers 400 for a bad expression: ask again for the reason.
        try:
            urllib.request.urlopen(f"{base}/api/v1/query?" +
                                   urllib.parse.urlencode({"query": expr}), timeout=5)
        except urllib.error.HTTPError as e:
            pytest.fail(f"prometheus refused {expr!r}: {e.read().decode()}")
        return []
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


# -- the dashboard's queries --------------------------------------------------------------------

def dashboard_targets():
    """(panel title, refId, expr) of every query of every panel, rows' nested panels included."""
    dashboard = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels):
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                out.append((panel["title"], target["refId"], target["expr"]))
    walk(dashboard["panels"])
    return out


def grafana_expand(expr):
    for name, value in sorted(GRAFANA_VARS.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a Grafana variable the test does not know: {expr}"
    return expr


TARGETS = dashboard_targets()


@pytest.mark.parametrize("title, ref, expr", TARGETS,
                         ids=[f"{t}/{r}" for t, r, _ in TARGETS])
def test_every_panel_query_returns_series(prometheus, title, ref, expr):
    evaluated = grafana_expand(expr)
    result = query(prometheus, evaluated)
    assert result, f"panel {title!r} ({ref}): no series for {evaluated}"
    if "by (instance" in expr:
        assert {s["metric"].get("instance") for s in result} == set(RUNNERS), result


def test_the_runner_variable_lists_every_runner(prometheus):
    dashboard = json.loads(DASHBOARD.read_text())
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "instance")
    m = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"])
    assert m, variable
    series = query(prometheus, m.group(1))
    assert sorted(s["metric"][m.group(2)] for s in series) == sorted(RUNNERS)


def test_every_alert_rule_evaluates(prometheus):
    """Prometheus loaded the rule file and evaluates each rule on real series without error."""
    def evaluated():
        body = http_get(prometheus + "/api/v1/rules")
        rules = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]] if body else []
        # A rule not evaluated yet has Go's zero time.
        done = rules and all(not r["lastEvaluation"].startswith("0001") for r in rules)
        return rules if done else None
    rules = wait_for("every rule evaluated once", evaluated)
    names = {r["name"] for r in rules}
    assert names == {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"]
                     for r in g["rules"]}
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []


# -- promtool -----------------------------------------------------------------------------------

def promtool(*args, stdin=None):
    need_programs()
    return subprocess.run(["promtool", *map(str, args)], input=stdin, capture_output=True,
                          text=True, check=False)


def test_promtool_checks_the_rules():
    res = promtool("check", "rules", RULES)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS: 7 rules found" in res.stdout, res.stdout


def test_every_alert_fires_and_resolves_in_the_unit_tests():
    tests = yaml.safe_load((HERE / "rules_test.yml").read_text())
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    fired, resolved = set(), set()
    for test in tests["tests"]:
        for case in test["alert_rule_test"]:
            (fired if case["exp_alerts"] else resolved).add(case["alertname"])
    assert fired == alerts and resolved == alerts, (fired, resolved)
    res = promtool("test", "rules", HERE / "rules_test.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout, res.stdout


def test_the_textfiles_are_valid_metrics(textfiles):
    for name, path in textfiles.items():
        res = promtool("check", "metrics", stdin=path.read_text())
        assert res.returncode == 0, f"{name}: {res.stdout}{res.stderr}"


# -- names and manifests ------------------------------------------------------------------------

def shapes(text):
    """{(series name, its label names)} of a textfile: what a query can select."""
    out = set()
    for m in re.finditer(r"^(\w+)(?:\{([^}]*)\})? ", text, re.M):
        out.add((m.group(1), tuple(sorted(re.findall(r"(\w+)=", m.group(2) or "")))))
    return out


def test_the_sample_has_the_shape_of_berths_output(textfiles):
    if SOURCE != "berth":
        pytest.skip("compares the sample with berth's own output: BERTH_MONITORING_SOURCE=berth")
    for name, path in textfiles.items():
        assert shapes(SAMPLE.read_text()) == shapes(path.read_text()), name


def queried_families(text):
    """The berth_* families an expression text names (histogram series folded to the family)."""
    return {re.sub(r"_(bucket|count|sum)$", "", m) for m in re.findall(r"\bberth_\w+", text)}


def test_the_dashboard_shows_every_family_and_only_those(textfiles):
    written = set.union(*(families(p.read_text()) for p in textfiles.values()))
    shown = queried_families(" ".join(expr for _, _, expr in TARGETS))
    assert shown - written == set(), "panels query families berth does not write"
    assert written - shown == set(), "families berth writes that no panel shows"
    alerted = queried_families(RULES.read_text())
    assert alerted - written == set(), "rules use families berth does not write"


def test_the_deckhouse_manifests_have_the_crds_shape():
    dashboard = yaml.safe_load((DECKHOUSE / "berth-dashboard.yaml").read_text())
    assert (dashboard["apiVersion"], dashboard["kind"]) == ("deckhouse.io/v1",
                                                            "GrafanaDashboardDefinition")
    assert dashboard["spec"]["folder"]
    definition = dashboard["spec"]["definition"]
    assert re.fullmatch(r"[ \t\n]*\{(.|\n)*\}[ \t\n]*", definition)  # the CRD's pattern
    assert definition == DASHBOARD.read_text()
    assert "id" not in json.loads(definition)  # Deckhouse: a uid and no local id

    rules = yaml.safe_load((DECKHOUSE / "berth-alerts.yaml").read_text())
    assert (rules["apiVersion"], rules["kind"]) == ("deckhouse.io/v1", "CustomPrometheusRules")
    assert rules["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    for group in rules["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert rule["expr"] and all(isinstance(v, str) for v in rule["labels"].values())

    res = subprocess.run([str(REPO / "scripts" / "monitoring-manifests.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
