"""The Grafana dashboard and the Prometheus alert rules name only what the code exports.

The exported series come from the code itself: every module under ``streams/`` that defines
a prometheus_client metric is imported, and ``prometheus_client.REGISTRY`` (the one
registry ``/metrics`` serves, streams/health.py) is collected. Each PromQL expression is
parsed with a real PromQL parser (promql-parser, the Rust crate's Python binding); its
metric names, label matchers, ``by``/``on`` labels, the label values it compares with and
the ``$labels`` its annotations use are checked against that. ``promtool`` (Debian package
``prometheus``) checks the rules and runs unit tests of them when it is on PATH.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser as pq
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from tests.fixtures.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "emr-streams.json"
ALERTS = ROOT / "deploy" / "prometheus" / "emr-streams-alerts.yml"

#: Labels the scrape adds to every series.
TARGET_LABELS = frozenset({"job", "instance"})
#: Series Prometheus makes itself, with their labels.
PROMETHEUS_SERIES = {"up": TARGET_LABELS}
#: Series names of a metric family, by type (as the text exposition writes them).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}
#: Panels operators rely on (the issue's list), by exact title.
REQUIRED_PANELS = {
    "Throughput by outcome",
    "Consumer lag per partition",
    "Batch latency p50 / p99",
    "Database transaction latency p50 / p99",
    "DLQ rate (dead letters per minute)",
    "Outbox backlog",
    "Audit partitions ahead (months)",
    "Poison breaker open",
}
#: Alerts the rules file must have.
REQUIRED_ALERTS = {
    "EmrStreamsConsumerLagGrowing", "EmrStreamsDeadLetters", "EmrStreamsDeadLettersHigh",
    "EmrStreamsOutboxStuck", "EmrStreamsWorkerDown", "EmrStreamsAuditPartitionsExhausted",
    "EmrStreamsPoisonBreakerOpen",
}
SEVERITIES = {"warning", "critical"}
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: A Prometheus duration as rule files take it (model.ParseDuration): units required.
DURATION = re.compile(r"0|(?=\d)(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")
#: Grafana's interval variables: replaced by a duration before parsing.
GRAFANA_INTERVAL = re.compile(r"\$(?:__rate_interval|__interval|__range)\b"
                              r"|\$\{(?:__rate_interval|__interval|__range)\}")
GRAFANA_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
LABEL_VALUES = re.compile(r"label_values\((?P<selector>.+),\s*(?P<label>\w+)\s*\)")
#: Functions after which the labels of a series are not known from its selectors.
RELABELLING = {"label_replace", "label_join"}
#: Functions whose result keeps no label of their argument.
LABEL_DROPPING = {"absent", "absent_over_time", "vector", "scalar", "time"}

_IMPORTS = re.compile(r"^\s*from\s+prometheus_client\s+import\s+(\([^)]*\)|[^\n]*)",
                      re.MULTILINE)
_METRIC_CLASS = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary|Info|Enum)\b")
_QUALIFIED = re.compile(r"\bprometheus_client\.(?:Counter|Gauge|Histogram|Summary|Info|Enum)\(")


# ---- what the code exports ---------------------------------------------------------------

def metric_modules() -> list[str]:
    """The modules under streams/ that define prometheus_client metrics."""
    found = []
    for path in sorted((ROOT / "streams").rglob("*.py")):
        text = path.read_text()
        imported = " ".join(m.group(1) for m in _IMPORTS.finditer(text))
        if _METRIC_CLASS.search(imported) or _QUALIFIED.search(text):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


@cache
def exported() -> dict[str, frozenset[str]]:
    """Every series name /metrics serves, with the label names it can carry."""
    label_names: dict[str, set[str]] = {}
    for module in map(importlib.import_module, metric_modules()):
        for metric in vars(module).values():
            if isinstance(metric, MetricWrapperBase):
                # A labelled metric has no sample before its first .labels(): its label
                # names are only on the object (prometheus_client keeps no public accessor).
                for family in metric.describe():
                    label_names.setdefault(family.name, set()).update(metric._labelnames)
    series: dict[str, frozenset[str]] = {}
    for family in REGISTRY.collect():
        labels = (label_names.get(family.name, set()) | TARGET_LABELS
                  | {k for sample in family.samples for k in sample.labels})
        for suffix in SUFFIXES[family.type]:
            extra = {"le"} if suffix == "_bucket" else set()
            if family.type == "summary" and not suffix:
                extra = {"quantile"}
            series[family.name + suffix] = frozenset(labels | extra)
        for sample in family.samples:
            series.setdefault(sample.name, frozenset(labels | set(sample.labels)))
    return series


@cache
def code_strings() -> frozenset[str]:
    """Every string literal in streams/: the label values the code can write."""
    found: set[str] = set()
    for path in (ROOT / "streams").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return frozenset(found)


def known_series() -> dict[str, frozenset[str]]:
    return {**PROMETHEUS_SERIES, **exported()}


# ---- PromQL --------------------------------------------------------------------------

def parse(expr: str) -> pq.Expr:
    return pq.parse(GRAFANA_INTERVAL.sub("5m", expr))


def nodes(tree: pq.Expr) -> Iterator[Any]:
    found: list[Any] = []
    pq.walk(tree, found.append)
    return iter(found)


def metric_name(selector: pq.VectorSelector) -> str | None:
    if selector.name:
        return str(selector.name)
    for matcher in selector.matchers.matchers:
        if matcher.name == "__name__" and matcher.op == pq.MatchOp.Equal:
            return str(matcher.value)
    return None


def metric_names(expr: str) -> set[str]:
    """The metric names *expr* selects (a selector without one is an error)."""
    names = set()
    for node in nodes(parse(expr)):
        if isinstance(node, pq.VectorSelector):
            name = metric_name(node)
            assert name is not None, f"a selector without a metric name in {expr!r}"
            names.add(name)
    return names


def labels_below(tree: pq.Expr) -> frozenset[str] | None:
    """The labels the series under *tree* can carry (None: relabelled, unknown)."""
    labels: set[str] = set()
    for node in nodes(tree):
        if isinstance(node, pq.Call) and node.func.name in RELABELLING:
            return None
        if isinstance(node, pq.VectorSelector):
            labels |= known_series().get(metric_name(node) or "", frozenset())
    return frozenset(labels)


def output_labels(tree: Any) -> frozenset[str] | None:
    """The labels every result series of *tree* carries, approximately (None: unknown)."""
    if isinstance(tree, pq.VectorSelector):
        return known_series().get(metric_name(tree) or "", frozenset()) - {"le", "quantile"}
    if isinstance(tree, pq.MatrixSelector):
        return output_labels(tree.vector_selector)
    if isinstance(tree, (pq.ParenExpr, pq.UnaryExpr, pq.SubqueryExpr)):
        return output_labels(tree.expr)
    if isinstance(tree, (pq.NumberLiteral, pq.StringLiteral)):
        return frozenset()
    if isinstance(tree, pq.AggregateExpr):
        inner = output_labels(tree.expr)
        if str(tree.op) in {"topk", "bottomk", "limitk", "limit_ratio"}:
            return inner
        if tree.modifier is None:
            return frozenset()
        if tree.modifier.type == pq.AggModifierType.By:
            return frozenset(tree.modifier.labels)
        return None if inner is None else inner - set(tree.modifier.labels)
    if isinstance(tree, pq.Call):
        if tree.func.name in RELABELLING:
            return None
        if tree.func.name in LABEL_DROPPING:
            return frozenset()
        vectors = [a for a in tree.args if isinstance(a, pq.Expr)
                   and not isinstance(a, (pq.NumberLiteral, pq.StringLiteral))]
        return output_labels(vectors[-1]) if vectors else frozenset()
    if isinstance(tree, pq.BinaryExpr):
        lhs, rhs = output_labels(tree.lhs), output_labels(tree.rhs)
        if str(tree.op) == "or":
            return None if lhs is None or rhs is None else lhs & rhs
        side = rhs if isinstance(tree.lhs, pq.NumberLiteral) else lhs
        matching = tree.modifier.matching if tree.modifier else None
        if (side is not None and matching is not None and str(tree.op) not in {"and", "unless"}
                and matching.type == pq.LabelModifierType.Include
                and tree.modifier.card == pq.VectorMatchCardinality.OneToOne):
            return side & set(matching.labels)
        return side
    return None


def problems(expr: str, where: str) -> list[str]:
    """What *expr* uses that the code does not export (empty: nothing)."""
    try:
        tree = parse(expr)
    except ValueError as exc:
        return [f"{where}: not PromQL ({exc}): {expr!r}"]
    series = known_series()
    found = []
    for node in nodes(tree):
        if isinstance(node, pq.VectorSelector):
            name = metric_name(node)
            if name is None or name not in series:
                found.append(f"{where}: metric {name!r} is not exported by streams/")
                continue
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    continue
                if matcher.name not in series[name]:
                    found.append(f"{where}: {name} has no label {matcher.name!r} "
                                 f"(it has {sorted(series[name])})")
                elif name in exported() and matcher.name not in TARGET_LABELS | {"le"}:
                    found += [f"{where}: {name}{{{matcher.name}=...}}: no code writes {v!r}"
                              for v in label_values(matcher) if v not in code_strings()]
        elif (isinstance(node, pq.AggregateExpr) and node.modifier is not None
              and node.modifier.type == pq.AggModifierType.By):
            below = labels_below(node.expr)
            if below is not None and below:
                found += [f"{where}: {node.op!s} by ({label}): no series below has it"
                          for label in node.modifier.labels if label not in below]
        elif (isinstance(node, pq.BinaryExpr) and node.modifier is not None
              and node.modifier.matching is not None
              and node.modifier.matching.type == pq.LabelModifierType.Include):
            for operand in (node.lhs, node.rhs):
                below = labels_below(operand)
                if below:  # vector(0) and literals have no labels to match on
                    found += [f"{where}: on ({label}): an operand has no such label"
                              for label in node.modifier.matching.labels if label not in below]
    return found


def label_values(matcher: pq.Matcher) -> list[str]:
    """The literal values a matcher compares with (none for a variable or a real regex)."""
    value = str(matcher.value)
    if "$" in value:
        return []
    if matcher.op in (pq.MatchOp.Equal, pq.MatchOp.NotEqual):
        return [value] if value else []
    if re.fullmatch(r"[\w.-]+(\|[\w.-]+)*", value):
        return value.split("|")
    return []


# ---- the files -----------------------------------------------------------------------

def load_dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def all_panels(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in container.get("panels", []):
        yield panel
        yield from all_panels(panel)  # a collapsed row holds its panels


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} target {target.get('refId')}", target["expr"]


def load_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def markdown_anchors(path: Path) -> set[str]:
    """GitHub's anchors of the headings of *path*."""
    anchors = set()
    for line in path.read_text().splitlines():
        if heading := re.match(r"#{1,6}\s+(.*)", line):
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(slug.replace(" ", "-"))
    return anchors


# ---- the exporter side -----------------------------------------------------------------

def test_metrics_are_found_in_the_code() -> None:
    assert "streams.metrics" in metric_modules()
    series = exported()
    # The families streams/metrics.py defines, in each exposition shape.
    assert {"emr_streams_events_total", "emr_streams_batch_seconds_bucket",
            "emr_streams_outbox_pending"} <= set(series)
    assert series["emr_streams_events_total"] >= {"topic", "outcome"}
    assert "le" in series["emr_streams_db_transaction_seconds_bucket"]
    assert "emr_streams_events" not in series  # a counter is only exported as _total


def test_the_checker_refuses_what_is_not_exported() -> None:
    def complaint(expr: str) -> str:
        return "\n".join(problems(expr, "x"))

    assert problems("rate(emr_streams_events_total[5m])", "ok") == []
    assert "not exported" in complaint("rate(emr_streams_events[5m])")  # no _total
    assert "not exported" in complaint("emr_streams_batch_seconds")  # histogram, no suffix
    assert "not exported" in complaint('{__name__="emr_streams_nonexistent"}')
    assert "not exported" in complaint('up or emr_streams_consumer_lag_total')
    assert "no label 'outcom'" in complaint('emr_streams_events_total{outcom="applied"}')
    assert "no code writes 'dead_letterd'" in complaint(
        'emr_streams_events_total{outcome=~"applied|dead_letterd"}')
    assert "by (outcome)" in complaint("sum by (outcome) (emr_streams_consumer_lag)")
    assert "on (outcome)" in complaint(
        "emr_streams_outbox_pending and on (outcome) emr_streams_events_total")
    assert "not PromQL" in complaint("sum(rate(emr_streams_events_total[5m]")
    assert metric_names("up == 0 or absent(up) and histogram_quantile(0.5, "
                        "rate(emr_streams_batch_seconds_bucket[$__rate_interval]))") == {
        "up", "emr_streams_batch_seconds_bucket"}


# ---- the dashboard ---------------------------------------------------------------------

def test_dashboard_uses_only_exported_metrics() -> None:
    dashboard = load_dashboard()
    exprs = list(dashboard_exprs(dashboard))
    assert exprs
    found = [p for where, expr in exprs for p in problems(expr, where)]
    assert not found, "\n".join(found)
    used = set().union(*(metric_names(expr) for _, expr in exprs))
    assert {n for n in used if n.startswith("emr_streams_")} >= {
        "emr_streams_events_total", "emr_streams_consumer_lag",
        "emr_streams_batch_seconds_bucket", "emr_streams_db_transaction_seconds_bucket",
        "emr_streams_outbox_pending", "emr_streams_audit_partitions_ahead_months",
        "emr_streams_poison_breaker_open"}


def test_dashboard_has_the_panels_and_every_panel_a_prometheus_datasource() -> None:
    dashboard = load_dashboard()
    panels = list(all_panels(dashboard))
    titles = {p["title"] for p in panels}
    assert titles >= REQUIRED_PANELS, sorted(REQUIRED_PANELS - titles)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel.get("datasource") == DATASOURCE, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", DATASOURCE) == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_dashboard_model_and_variables() -> None:
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    assert dashboard["id"] is None  # importable into any Grafana
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    source = variables["datasource"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    for variable in variables.values():
        if variable["type"] != "query":
            continue
        assert variable["datasource"] == DATASOURCE, variable["name"]
        query = variable["query"]
        query = query["query"] if isinstance(query, dict) else query
        match = LABEL_VALUES.fullmatch(query)
        assert match, f"variable {variable['name']}: {query!r}"
        where = f"variable {variable['name']}"
        assert not problems(match["selector"], where), problems(match["selector"], where)
        (name,) = metric_names(match["selector"])
        assert match["label"] in known_series()[name], where
    # Every variable an expression uses is defined (or one of Grafana's own).
    for where, expr in dashboard_exprs(dashboard):
        for braced, plain in GRAFANA_VARIABLE.findall(expr):
            name = braced or plain
            assert name.startswith("__") or name in variables, f"{where}: ${name}"


# ---- the alert rules -------------------------------------------------------------------

def test_alert_rules_file_structure() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    groups = document["groups"]
    assert isinstance(groups, list) and groups
    names = [g["name"] for g in groups]
    assert len(names) == len(set(names)), "group names repeat"
    seen = set()
    for group in groups:
        assert set(group) <= {"name", "interval", "limit", "rules"}, group["name"]
        if "interval" in group:
            assert DURATION.fullmatch(group["interval"]), group["name"]
        assert isinstance(group["rules"], list) and group["rules"], group["name"]
        for rule in group["rules"]:
            assert set(rule) <= RULE_KEYS, rule
            name = rule["alert"]
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), name
            assert isinstance(rule["expr"], str) and rule["expr"].strip(), name
            assert isinstance(rule["for"], str) and DURATION.fullmatch(rule["for"]), name
            assert rule["labels"]["severity"] in SEVERITIES, name
            annotations = rule["annotations"]
            assert annotations["summary"].strip() and annotations["description"].strip(), name
            assert (name, rule["labels"]["severity"]) not in seen, f"{name} twice"
            seen.add((name, rule["labels"]["severity"]))
            if "runbook_url" in annotations:
                path, _, anchor = annotations["runbook_url"].partition("#")
                assert (ROOT / path).is_file(), f"{name}: {path}"
                assert not anchor or anchor in markdown_anchors(ROOT / path), (
                    f"{name}: no heading #{anchor} in {path}")
    assert {name for name, _ in seen} >= REQUIRED_ALERTS


def test_alert_rules_use_only_exported_metrics() -> None:
    rules = load_rules()
    found = [p for rule in rules for p in problems(rule["expr"], rule["alert"])]
    assert not found, "\n".join(found)
    for rule in rules:
        tree = parse(rule["expr"])
        for node in nodes(tree):  # one job: never another application's series
            if isinstance(node, pq.VectorSelector):
                assert any(m.name == "job" for m in node.matchers.matchers), rule["alert"]
        # An annotation names only labels its alerts carry.
        carried = output_labels(tree)
        text = " ".join(rule["annotations"].values()) + " ".join(rule["labels"].values())
        for label in re.findall(r"\$labels\.(\w+)", text):
            assert carried is None or label in carried, f"{rule['alert']}: $labels.{label}"


def test_the_alert_rules_checker_sees_a_broken_rule() -> None:
    rules = load_rules()
    rules[0] = {**rules[0], "expr": "rate(emr_streams_dead_letters_total[5m]) > 0"}
    assert problems(rules[0]["expr"], rules[0]["alert"])


# ---- promtool --------------------------------------------------------------------------

def promtool() -> str:
    """promtool's path: make setup installs it as root (deploy/local/check-tools); without
    it, a visible skip on a laptop and a failure in CI, like a missing service."""
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool is not on PATH (Debian: apt-get install prometheus); the "
                    "rules were checked by the schema and PromQL tests only")
    assert found is not None
    return found


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(ALERTS)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(load_rules())} rules found" in result.stdout


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    labels = {"job": "emr-streams", "instance": "w1:8088", **labels}
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def fires(alert: str, at: str, *expected: dict[str, str]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert,
            "exp_alerts": [{"exp_labels": labels} for labels in expected]}


#: Scenarios: series over time and the alerts expected (labels only: the unit tests run on
#: a copy of the rules without annotations).
RULE_TESTS: list[dict[str, Any]] = [
    {  # dead letters: 2 a minute, then 30 a minute
        "interval": "1m",
        "input_series": [series("emr_streams_events_total", "0+2x15 30+30x15",
                                topic="emr.tasks.v1", outcome="dead_lettered")],
        "alert_rule_test": [
            fires("EmrStreamsDeadLetters", "12m",
                  {"severity": "warning", "topic": "emr.tasks.v1"}),
            fires("EmrStreamsDeadLettersHigh", "12m"),
            fires("EmrStreamsDeadLettersHigh", "28m",
                  {"severity": "critical", "topic": "emr.tasks.v1"}),
        ],
    },
    {  # a lag that grows on three workers reporting the same group: one alert per topic
        "interval": "1m",
        "input_series": [series("emr_streams_consumer_lag", "0+200x40", topic="emr.tasks.v1",
                                partition="0", instance=f"w{i}:8088") for i in (1, 2, 3)],
        "alert_rule_test": [
            fires("EmrStreamsConsumerLagGrowing", "8m"),
            fires("EmrStreamsConsumerLagGrowing", "30m",
                  {"severity": "warning", "topic": "emr.tasks.v1"}),
        ],
    },
    {  # lag, nothing consumed: stalled; a topic that consumes is not
        "interval": "1m",
        "input_series": [
            series("emr_streams_consumer_lag", "50x30", topic="emr.tasks.v1", partition="0"),
            series("emr_streams_consumer_lag", "50x30", topic="emr.handovers.v1",
                   partition="0"),
            series("emr_streams_events_total", "0+100x30", topic="emr.handovers.v1",
                   outcome="consumed"),
        ],
        "alert_rule_test": [
            fires("EmrStreamsConsumptionStalled", "25m",
                  {"severity": "critical", "topic": "emr.tasks.v1"}),
        ],
    },
    {  # the breaker opens
        "interval": "1m",
        "input_series": [series("emr_streams_poison_breaker_open", "0 0 1x10",
                                topic="emr.tasks.v1")],
        "alert_rule_test": [
            fires("EmrStreamsPoisonBreakerOpen", "3m"),
            fires("EmrStreamsPoisonBreakerOpen", "6m",
                  {"severity": "critical", "topic": "emr.tasks.v1"}),
        ],
    },
    {  # an outbox backlog and no state ever published: stuck
        "interval": "1m",
        "input_series": [series("emr_streams_outbox_pending", "40x30")],
        "alert_rule_test": [fires("EmrStreamsOutboxStuck", "25m", {"severity": "warning"})],
    },
    {  # a backlog that is being published is not stuck
        "interval": "1m",
        "input_series": [
            series("emr_streams_outbox_pending", "40x30"),
            series("emr_streams_state_published_total", "0+50x30", aggregate="task"),
        ],
        "alert_rule_test": [fires("EmrStreamsOutboxStuck", "25m")],
    },
    {  # states set aside for good
        "interval": "1m",
        "input_series": [series("emr_streams_outbox_set_aside", "0x5 3x30")],
        "alert_rule_test": [fires("EmrStreamsOutboxSetAside", "10m"),
                            fires("EmrStreamsOutboxSetAside", "25m", {"severity": "warning"})],
    },
    {  # one worker down, then every one
        "interval": "1m",
        "input_series": [series("up", "1x5 0x10", instance="w1:8088"),
                         series("up", "1x10 0x5", instance="w2:8088")],
        "alert_rule_test": [
            fires("EmrStreamsWorkerDown", "9m",
                  {"severity": "warning", "job": "emr-streams", "instance": "w1:8088"}),
            fires("EmrStreamsAllWorkersDown", "9m"),
            fires("EmrStreamsAllWorkersDown", "14m", {"severity": "critical"}),
        ],
    },
    {  # no target scraped at all
        "interval": "1m",
        "input_series": [series("up", "1x10", job="other")],
        "alert_rule_test": [fires("EmrStreamsAllWorkersDown", "5m", {"severity": "critical"})],
    },
    {  # the audit margin shrinks to 2, then to 1
        "interval": "1m",
        "input_series": [series("emr_streams_audit_partitions_ahead_months",
                                "12x60 2x120 1x60")],
        "alert_rule_test": [
            fires("EmrStreamsAuditPartitionsLow", "50m"),
            fires("EmrStreamsAuditPartitionsLow", "170m", {"severity": "warning"}),
            fires("EmrStreamsAuditPartitionsExhausted", "170m"),
            fires("EmrStreamsAuditPartitionsExhausted", "230m", {"severity": "critical"}),
        ],
    },
    {  # a worker restarting every 5 minutes
        "interval": "1m",
        "input_series": [series("process_start_time_seconds",
                                " ".join(str(1000 + 300 * (i // 5)) for i in range(31)))],
        "alert_rule_test": [fires("EmrStreamsRestarting", "30m", {
            "severity": "warning", "job": "emr-streams", "instance": "w1:8088"})],
    },
    {  # batches between 5 and 10 s
        "interval": "1m",
        "input_series": [series("emr_streams_batch_seconds_bucket", values, topic="t",
                                le=le) for le, values in
                         (("2.5", "0x30"), ("5.0", "0x30"), ("10.0", "0+10x30"),
                          ("+Inf", "0+10x30"))],
        "alert_rule_test": [fires("EmrStreamsBatchLatencyHigh", "25m",
                                  {"severity": "warning", "topic": "t"})],
    },
]


def test_promtool_unit_tests_of_the_alert_rules(tmp_path: Path) -> None:
    binary = promtool()
    document = yaml.safe_load(ALERTS.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(document))
    tested = {t["alertname"] for case in RULE_TESTS for t in case["alert_rule_test"]}
    assert tested == {rule["alert"] for rule in load_rules()}, "an alert without a scenario"
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": RULE_TESTS}))
    result = subprocess.run([binary, "test", "rules", "tests.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
