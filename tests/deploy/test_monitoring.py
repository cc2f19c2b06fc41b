"""The monitoring files of ``deploy/monitoring``: promtool checks, and every metric they name is exposed.

- ``alerts.yml`` passes ``promtool check rules`` and the unit tests of ``alerts_test.yml`` (``promtool test
  rules``); without promtool (``apt-get install prometheus``) those cases skip, unless
  ``HAL9_REQUIRE_PROMTOOL=1``, where they fail.
- A test starts the service (in-process, SQLite), runs jobs, scrapes ``/metrics`` and fails if any query of
  the Grafana dashboard or expression of the alerts names a metric (or a label in a selector) that the
  service does not expose. ``up`` is written by Prometheus itself and is allowed explicitly.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict

from hal9.serve import JobContext, JobKind, JobResult, create_app, default_registry
from hal9.serve.db import make_engine
from hal9.serve.heap import watch_gc
from hal9.serve.migrate import upgrade
from tests.serve.conftest import PASSWORD, Api, make_settings

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
ALERTS = MONITORING / "alerts.yml"
ALERTS_TEST = MONITORING / "alerts_test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"

# Series that Prometheus writes itself for every target: never on /metrics.
PROMETHEUS_METRICS = frozenset({"up"})
# Labels that Prometheus attaches to every scraped series (target labels).
TARGET_LABELS = frozenset({"job", "instance"})
# Identifiers of PromQL that are not metric names when they are not followed by "(".
_PROMQL_WORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_IDENT = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_SELECTOR = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}")
_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')\s*,?')
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.*?)\s*,\s*\w+\s*\)\s*$", re.DOTALL)
_GRAFANA_SUBST = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$job": "hal9",
    "$instance": ".*",
    "${datasource}": "prometheus",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (Grafana variables allowed) selects."""
    text = _GRAFANA_VAR.sub(" ", _STRING.sub('""', expr))
    text = _RANGE.sub(" ", _MATCHERS.sub(" ", _GROUPING.sub(" ", text)))
    return {m for m in _IDENT.findall(text) if m.lower() not in _PROMQL_WORDS}


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """``(metric, {label names of its matchers})`` for every ``metric{...}`` selector of ``expr``."""
    out = []
    for name, body in _SELECTOR.findall(expr):
        if name.lower() in _PROMQL_WORDS:
            continue
        out.append((name, {label for label, _ in _MATCHER.findall(body)}))
    return out


def template_expr(query: Any) -> str | None:
    """The PromQL inside a Grafana query variable (``label_values(<selector>, label)``), if any."""
    if isinstance(query, dict):
        query = query.get("query")
    if not isinstance(query, str):
        return None
    m = _LABEL_VALUES.match(query)
    if m:
        return m.group(1)
    m = re.match(r"^\s*query_result\((.*)\)\s*$", query, re.DOTALL)
    return m.group(1) if m else None


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def load_dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def load_alerts() -> dict[str, Any]:
    return dict(yaml.safe_load(ALERTS.read_text()))


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard: panel targets (rows included) and query variables."""
    exprs = [str(n["expr"]) for n in _walk(dashboard.get("panels", [])) if isinstance(n.get("expr"), str)]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            expr = template_expr(var.get("query"))
            assert expr is not None, f"variable {var.get('name')}: unrecognised query {var.get('query')!r}"
            exprs.append(expr)
    return exprs


def alert_exprs(rules: dict[str, Any]) -> list[str]:
    return [str(rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


def all_queries() -> list[str]:
    return dashboard_queries(load_dashboard()) + alert_exprs(load_alerts())


def missing_metrics(exprs: list[str], exposed: set[str]) -> list[str]:
    """Metric names used by ``exprs`` that are neither in ``exposed`` nor written by Prometheus."""
    used = set().union(*(metric_names(e) for e in exprs))
    return sorted(used - exposed - PROMETHEUS_METRICS)


def missing_labels(exprs: list[str], labels: dict[str, set[str]]) -> list[str]:
    """``metric{label}`` pairs of selectors whose label the exposed metric does not carry."""
    bad = set()
    for expr in exprs:
        for name, used in selector_labels(expr):
            if name in PROMETHEUS_METRICS or name not in labels:
                continue
            bad |= {f"{name}{{{lab}}}" for lab in used - labels[name] - TARGET_LABELS}
    return sorted(bad)


# ---- promtool ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("HAL9_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is required (HAL9_REQUIRE_PROMTOOL=1) but not on PATH")
        pytest.skip(
            "promtool not installed (apt-get install prometheus); HAL9_REQUIRE_PROMTOOL=1 fails instead"
        )
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_check_rules(promtool: str) -> None:
    r = _run(promtool, "check", "rules", str(ALERTS.relative_to(ROOT)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_promtool_unit_tests(promtool: str) -> None:
    r = _run(promtool, "test", "rules", str(ALERTS_TEST.relative_to(ROOT)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    names = {rule["alert"] for group in load_alerts()["groups"] for rule in group["rules"]}
    tested = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    firing, silent = set(), set()
    for case in tested:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert names - firing == set(), "alerts never shown firing"
    assert names - silent == set(), "alerts never shown silent"


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each dashboard query, Grafana variables replaced, as a recording rule checked by promtool."""
    rules = []
    for i, expr in enumerate(dashboard_queries(load_dashboard())):
        for var, value in _GRAFANA_SUBST.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
        rules.append({"record": f"hal9:dashboard_query:{i}", "expr": expr})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    r = _run(promtool, "check", "rules", str(path))
    assert r.returncode == 0, r.stdout + r.stderr


# ---- structure -----------------------------------------------------------------------------------------


def test_alert_rules_are_complete() -> None:
    rules = [rule for group in load_alerts()["groups"] for rule in group["rules"]]
    assert {r["alert"] for r in rules} >= {
        "Hal9TargetDown",
        "Hal9HighErrorRate",
        "Hal9HighLatencyP95",
        "Hal9QueueNearLimit",
        "Hal9QueueOldestJobTooOld",
        "Hal9NoWorkers",
        "Hal9StalledJobsRecovered",
    }
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], rule["alert"]
        assert notes["runbook_url"] == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]


def _anchors(markdown: str) -> set[str]:
    """Anchors of the headings (GitHub / MkDocs slugs) and explicit ``{#id}`` / ``<a id>`` anchors."""
    out = set(re.findall(r"\{#([\w-]+)\}", markdown)) | set(
        re.findall(r'<a (?:id|name)="([\w-]+)"', markdown)
    )
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, re.MULTILINE):
        heading = re.sub(r"\{#[\w-]+\}", "", heading).strip().lower()
        out.add(re.sub(r"\s+", "-", re.sub(r"[^\w\s-]", "", heading)))
    return out


def test_runbook_anchors_exist() -> None:
    if not OPERATIONS.exists():
        pytest.skip("docs/operations.md does not exist (yet): runbook anchors not checked")
    anchors = _anchors(OPERATIONS.read_text())
    urls = [r["annotations"]["runbook_url"] for g in load_alerts()["groups"] for r in g["rules"]]
    assert [u for u in urls if u.split("#", 1)[1] not in anchors] == []


def test_dashboard_structure() -> None:
    d = load_dashboard()
    assert d["schemaVersion"] >= 36 and d["uid"] and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    panels = [p for p in _walk(d["panels"]) if "gridPos" in p]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        if p.get("targets"):
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"]), p["title"]
    used = set().union(*(metric_names(e) for e in dashboard_queries(d)))
    # the panels the issue asks for
    assert used >= {
        "hal9_http_requests_total",  # request rate, 5xx share
        "hal9_http_request_duration_seconds_bucket",  # P50/P95/P99
        "hal9_queue_jobs",  # jobs by state and kind, queue depth
        "hal9_queue_oldest_queued_seconds",
        "hal9_neuron_steps_simulated_total",
        "hal9_queue_workers",
        "hal9_gc_pause_seconds_bucket",
        "up",  # readiness
    }
    text = json.dumps(d)
    assert "pool" in text and not re.search(r"hal9_\w*pool", text), "no pool metric is exported"


# ---- metric-name extraction ----------------------------------------------------------------------------


def test_metric_name_extraction() -> None:
    expr = (
        'sum by (route, le) (rate(hal9_a_bucket{job="$job", route!="/x y", status=~"5.."}[$__rate_interval]))'
        " / on (job) group_left (kind) max without (instance) (hal9_b offset 5m) > 0.5e3"
        " and up == 0 unless absent(hal9_c) or hal9_d[5m:1m] or sum(hal9_e)by(x) or -hal9_f>bool 1"
    )
    assert metric_names(expr) == {"hal9_a_bucket", "hal9_b", "up", "hal9_c", "hal9_d", "hal9_e", "hal9_f"}
    assert metric_names("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))") == {"x_bucket"}
    assert template_expr({"query": 'label_values(hal9_a{job="$job"}, instance)'}) == 'hal9_a{job="$job"}'
    assert selector_labels('rate(hal9_a{job="x", route!="/r", status=~"5.."}[5m])') == [
        ("hal9_a", {"job", "route", "status"})
    ]
    exposed = {"hal9_a_bucket", "hal9_b"}
    assert missing_metrics(["hal9_a_bucket + hal9_b", "up == 0"], exposed) == []
    # a renamed metric (or a suffix mix-up) is reported
    assert missing_metrics(["rate(hal9_renamed_total[5m])", "hal9_a"], exposed) == [
        "hal9_a",
        "hal9_renamed_total",
    ]


def test_every_query_has_metrics() -> None:
    """Guards the extraction itself: each expression of the dashboard and alerts yields a metric."""
    for expr in all_queries():
        assert metric_names(expr), expr


# ---- the running service -------------------------------------------------------------------------------


class _HoldConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Api, threading.Event, threading.Event]]:
    """The app on a fresh SQLite database (in-process jobs) with the default kinds plus ``hold``, a job
    that runs until released; GC pauses are recorded as ``hal9 serve`` does (``watch_gc``)."""
    url = f"sqlite:///{tmp_path.as_posix()}/serve.db"
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    started, release = threading.Event(), threading.Event()

    def hold(cfg: Any, ctx: JobContext) -> JobResult:
        started.set()
        deadline = time.monotonic() + 30
        while not release.is_set() and time.monotonic() < deadline:
            ctx.checkpoint()
            time.sleep(0.01)
        return JobResult(summary={})

    registry = default_registry()
    registry.register(JobKind("hold", "runs until the test releases it", lambda limits: _HoldConfig, hold))
    settings = make_settings(
        url, tmp_path, f"sqlite:///{tmp_path.as_posix()}/mlflow.db", login_rate_per_user=2
    )
    with TestClient(create_app(settings, registry=registry), raise_server_exceptions=False) as client:
        api = Api(client)
        metrics = api.services.metrics
        watch = watch_gc(metrics.gc_pause)
        metrics.flushers.append(watch.flush)
        try:
            yield api, started, release
        finally:
            release.set()
            metrics.flushers.remove(watch.flush)
            watch.stop()


def test_every_queried_metric_is_exposed(service: tuple[Api, threading.Event, threading.Event]) -> None:
    api, started, release = service
    user = api.user()
    run_id = api.client.post(
        "/api/v1/runs/simulation", json={"neurons": 30, "steps": 5}, headers=user.headers
    ).json()["id"]
    assert api.wait(run_id, user.headers)["status"] == "succeeded"
    # auth failures and a rate limit (login_rate_per_user=2)
    api.client.get("/api/v1/runs", headers={"Authorization": "Bearer bad"})
    for _ in range(3):
        api.client.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD + "x"})
    # a job is running while /metrics is scraped, so the queue depth has samples
    hold_id = api.client.post("/api/v1/runs/hold", json={}, headers=user.headers).json()["id"]
    assert started.wait(30)
    gc.collect()
    r = api.client.get("/metrics", headers=user.headers)
    release.set()
    assert api.wait(hold_id, user.headers)["status"] == "succeeded"
    assert r.status_code == 200
    assert 'hal9_queue_jobs{kind="hold",status="running"} 1.0' in r.text

    declared: set[str] = set()  # families and the sample names their type allows
    sampled: set[str] = set()
    labels: dict[str, set[str]] = {}
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
    }
    for family in text_string_to_metric_families(r.text):
        declared |= {family.name + s for s in suffixes.get(family.type, ("",))}
        for sample in family.samples:
            sampled.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
    exprs = all_queries()
    assert missing_metrics(exprs, declared) == [], "named by the dashboard or alerts, not exposed by hal9"
    assert missing_metrics(exprs, sampled) == [], "exposed but without a sample after the jobs of this test"
    assert missing_labels(exprs, labels) == [], "label matchers on labels the metric does not have"
    # the check would catch a renamed metric: rename one in the dashboard text
    renamed = DASHBOARD.read_text().replace("hal9_queue_workers", "hal9_queue_worker_count")
    assert missing_metrics(dashboard_queries(json.loads(renamed)), sampled) == ["hal9_queue_worker_count"]
    assert missing_labels(['hal9_http_requests_total{code="500"}'], labels) == [
        "hal9_http_requests_total{code}"
    ]
