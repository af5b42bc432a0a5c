"""Dashboards and alerts as code, checked against what the services really export.

- deploy/grafana/dashboards/*.json and the chart's copy are what deploy/grafana/build.py makes (all
  checked in), and the chart hands them to Grafana's sidecar as ConfigMaps;
- every metric and label an alert or a panel names is declared by the services (the registry of
  anpr_core.metrics and the services' own metric modules, imported), and every query parses;
- the dashboards show, per service, the golden signals, and the platform's consumer lag, DLQ
  growth, camera silence, audit chain, retention and read rate per camera;
- every alert has a promtool unit test where it fires and one where it stays quiet, and a runbook
  entry in the README (what it means, first checks, what to do).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

import anpr_audit.adapters.anchors
import anpr_core.metrics
import anpr_ingest.timing

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
CHART = REPO / "helm" / "schild"
PROM_DIR = REPO / "deploy" / "prometheus"
README = REPO / "README.md"
SERVICES = ("ingest", "detect", "match", "audit", "access", "share")
TARGET_LABELS = {"job", "instance"}  # what every scrape adds
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m"}
PROMQL_WORDS = {"bool", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "and"}


def _build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("schild_grafana_build", GRAFANA / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _build()


def _series() -> dict[str, set[str]]:
    """Every series name the services export -> its label names (a histogram's _bucket has `le`)."""
    series: dict[str, set[str]] = {"up": set()}
    for module in (anpr_core.metrics, anpr_audit.adapters.anchors, anpr_ingest.timing):
        for metric in vars(module).values():
            if not isinstance(metric, MetricWrapperBase):
                continue
            name, labels, kind = metric._name, set(metric._labelnames), metric._type
            if kind == "counter":
                series[f"{name}_total"] = labels
            elif kind == "histogram":
                series[f"{name}_bucket"] = labels | {"le"}
                series[f"{name}_sum"] = series[f"{name}_count"] = labels
            else:
                series[name] = labels
    return series


SERIES = _series()


def _dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((GRAFANA / "dashboards").glob("*.json"))
    }


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROM_DIR / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _queries() -> list[tuple[str, str, str]]:
    """(where, expr, legend) of every panel query; the legend of an alert is its annotations."""
    found = []
    for file_name, board in _dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                where = f"{file_name}: panel {panel['title']!r}"
                found.append((where, target["expr"], target.get("legendFormat", "")))
    for rule in _rules():
        annotations = " ".join(rule.get("annotations", {}).values())
        found.append((f"alert {rule['alert']}", rule["expr"], annotations))
    return found


def _metrics_and_labels(expr: str) -> tuple[set[str], set[str]]:
    """The series a PromQL expression names, and every label it matches on, groups by or joins on."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings hold no names
    metrics = {
        word
        for word in re.findall(r"\b([a-z_][a-z0-9_]*)\b\s*(?=\{|\[|\)|$|\s|>|<|=|!|\*|/|\+|-)", bare)
        if word.startswith("anpr_") or word == "up"
    }
    labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*\"", bare.replace('""', '"x"')))
    labels = {label for label in labels if label not in PROMQL_WORDS}
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", bare):
        labels |= {label.strip() for label in group.split(",") if label.strip()}
    return metrics, labels


def test_the_dashboards_are_what_the_generator_makes() -> None:
    """For compose's Grafana and the chart's copy alike."""
    made = {file_name: BUILD.render(make) for file_name, make in BUILD.DASHBOARDS.items()}
    for folder in (GRAFANA / "dashboards", CHART / "files" / "dashboards"):
        committed = {path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.json")}
        assert set(committed) == set(made), (
            f"{folder}: a dashboard the generator does not make, or not written"
        )
        for file_name, text in made.items():
            assert committed[file_name] == text, f"{folder / file_name} is stale: run deploy/grafana/build.py"
    assert BUILD.main(["--check"]) == 0


def test_the_chart_gives_grafana_each_dashboard_as_a_configmap(tmp_path: Path) -> None:
    helm = shutil.which("helm") or shutil.which("helm", path=str(REPO / ".tools" / "bin"))
    assert helm, "helm is not installed: run `make tools` (scripts/tools.sh)"
    homes = {
        name: str(tmp_path / name.lower())
        for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
    }
    rendered = subprocess.run(
        [
            helm,
            "template",
            "schild",
            str(CHART),
            "--namespace",
            "anpr",
            "-f",
            str(CHART / "values-production.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **homes},
    )
    assert rendered.returncode == 0, rendered.stderr
    maps = [
        doc
        for doc in yaml.safe_load_all(rendered.stdout)
        if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    shown = {name: json.loads(text) for doc in maps for name, text in doc["data"].items()}
    assert shown == {name: json.loads(BUILD.render(make)) for name, make in BUILD.DASHBOARDS.items()}
    assert {doc["metadata"]["annotations"]["grafana_folder"] for doc in maps} == {"Schild"}


def test_every_metric_and_label_used_is_one_the_services_export() -> None:
    """A renamed metric or label fails here, not silently on a dashboard at night."""
    assert "anpr_http_requests_total" in SERIES and "anpr_audit_anchor_failures_total" in SERIES
    for where, expr, legend in _queries():
        metrics, labels = _metrics_and_labels(expr)
        assert metrics, f"{where}: names no metric: {expr}"
        unknown = metrics - SERIES.keys()
        assert not unknown, f"{where}: {sorted(unknown)} exported by no service"
        known = set().union(*(SERIES[m] for m in metrics)) | TARGET_LABELS
        assert labels <= known, f"{where}: labels {sorted(labels - known)} not on {sorted(metrics)}"
        shown = set(re.findall(r"\{\{\s*([a-zA-Z_]+)\s*\}\}", legend))
        shown |= set(re.findall(r"\$labels\.([a-zA-Z_]+)", legend))
        assert shown <= known, f"{where}: shows labels {sorted(shown - known)} its query does not have"


def test_the_cross_check_catches_an_unknown_metric_or_label() -> None:
    metrics, labels = _metrics_and_labels(
        'sum by (job, route) (rate(anpr_http_requests_total{status=~"5..",job="x"}[5m])) '
        "/ on (job) up unless on (camera) anpr_reads_total > 0"
    )
    assert metrics == {"anpr_http_requests_total", "up", "anpr_reads_total"}
    assert labels == {"job", "route", "status", "camera"}
    assert "anpr_reads_per_camera_total" not in SERIES
    assert "camera" not in SERIES["anpr_http_requests_total"]


def _promtool() -> str:
    found = shutil.which("promtool") or shutil.which("promtool", path=str(REPO / ".tools" / "bin"))
    assert found, "promtool is not installed: run `make tools` (scripts/tools.sh)"
    return found


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    rules = []
    for n, (where, expr, _) in enumerate(q for q in _queries() if not q[0].startswith("alert ")):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{where}: unknown variable in {expr}"
        rules.append({"record": f"schild:dashboard:q{n}", "expr": expr})
    rule_file = tmp_path / "queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    checked = subprocess.run(
        [_promtool(), "check", "rules", str(rule_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, f"a dashboard query does not parse:\n{checked.stdout}\n{checked.stderr}"


def _panels(file_name: str) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = _dashboards()[file_name]["panels"]
    return panels


@pytest.mark.parametrize("file_name", ["schild-overview.json", "schild-services.json"])
def test_panels_are_numbered_once_and_never_overlap(file_name: str) -> None:
    panels = _panels(file_name)
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"{panel['title']!r} overlaps another panel"
        cells |= mine
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}


def test_each_service_shows_its_golden_signals() -> None:
    panels = _panels("schild-services.json")
    for service in SERVICES:
        mine = {p["title"].split(": ")[1]: p for p in panels if p["title"].startswith(f"{service}: ")}
        assert set(mine) == {"requests", "errors", "latency", "saturation"}, service
        exprs = {signal: " ".join(t["expr"] for t in p["targets"]) for signal, p in mine.items()}
        assert all(f'job="{service}"' in expr for expr in exprs.values()), service
        assert "anpr_http_requests_total" in exprs["requests"]
        assert 'status=~"5.."' in exprs["errors"]
        assert "histogram_quantile(0.95" in exprs["latency"]
        assert "anpr_http_requests_in_flight" in exprs["saturation"]
        assert "anpr_consumer_lag" in exprs["saturation"]
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == list(SERVICES)


def test_the_overview_shows_lag_dlq_silence_audit_retention_and_reads_per_camera() -> None:
    exprs = {
        p["title"]: " ".join(t["expr"] for t in p.get("targets", [])) for p in _panels("schild-overview.json")
    }
    wanted = {
        "Consumer lag per group": "sum by (service, topic) (anpr_consumer_lag)",
        "Dead-lettered messages": "increase(anpr_dlq_messages_total",
        "Camera silence": "anpr_camera_last_seen_timestamp_seconds",
        "Cameras marked silent by ingest": "anpr_camera_silent",
        "Audit chain": "anpr_audit_chain_valid",
        "Since the last verification and anchor": "anpr_audit_anchor_last_success_timestamp_seconds",
        "Retention job": "anpr_retention_failures_total",
        "Retention last run": "anpr_retention_last_run_timestamp_seconds",
        "Read rate per camera": "sum by (camera) (rate(anpr_reads_total",
    }
    for title, expr in wanted.items():
        assert expr in exprs.get(title, ""), f"the overview has no {title!r} showing {expr}"


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not() -> None:
    tests = yaml.safe_load((PROM_DIR / "alerts.test.yml").read_text(encoding="utf-8"))["tests"]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert set(_alerts()) <= fired, f"never seen firing: {set(_alerts()) - fired}"
    assert set(_alerts()) <= quiet, f"never seen quiet: {set(_alerts()) - quiet}"


def test_promtool_runs_the_alert_unit_tests() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", "alerts.test.yml"],
        cwd=PROM_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_alerts_cover_what_the_dashboards_show() -> None:
    alerts = _alerts()
    used = {name: " ".join(_metrics_and_labels(rule["expr"])[0]) for name, rule in alerts.items()}
    for metric in (
        "anpr_http_requests_total",
        "anpr_http_request_duration_seconds_bucket",
        "anpr_http_requests_in_flight",
        "anpr_consumer_lag",
        "anpr_dlq_messages_total",
        "anpr_camera_last_seen_timestamp_seconds",
        "anpr_audit_chain_valid",
        "anpr_audit_chain_verified_timestamp_seconds",
        "anpr_audit_anchor_last_success_timestamp_seconds",
        "anpr_retention_last_run_timestamp_seconds",
        "anpr_retention_failures_total",
        "anpr_reads_total",
    ):
        assert any(metric in names for names in used.values()), f"no alert watches {metric}"
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def _runbook() -> dict[str, str]:
    """The README's runbook: alert name -> its entry."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n### Runbook: what each alert means and what to do\n")
    end = text.find("\n## ", start)
    section = text[start : end if end != -1 else len(text)]
    parts = re.split(r"\n#### ([A-Za-z]+)\n", section)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_alert_has_a_runbook_entry_in_the_readme() -> None:
    runbook = _runbook()
    alerts = _alerts()
    assert set(runbook) == set(alerts), (
        f"without an entry: {set(alerts) - set(runbook)}; entries of no alert: {set(runbook) - set(alerts)}"
    )
    for name, rule in alerts.items():
        assert rule["annotations"]["runbook"] == f"README.md, Runbook: {name}"
        entry = runbook[name]
        for part in ("**Means**", "**First checks**", "**Do**"):
            assert part in entry, f"the runbook of {name} has no {part}"
