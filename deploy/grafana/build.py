"""Schild's Grafana dashboards, as code: `python deploy/grafana/build.py` writes dashboards/*.json
and the chart's copy, helm/schild/files/dashboards/*.json.

Both forms are checked in: compose's Grafana provisions the JSON, and
deploy/tests/test_deploy_observability.py fails when the JSON is not what this file makes, when a
query names a metric or label the services do not declare, or when PromQL does not parse.

Services are told apart by `job` (the scrape job in compose, the component label in Kubernetes via
the chart's ServiceMonitor), never by a metric's own `service` label, which the Prometheus operator
renames when it adds the Kubernetes Service's name. Standard library only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
# The chart's copy (its ConfigMaps for Grafana's dashboard sidecar): Helm reads files in the chart only.
CHART_OUT = HERE.parents[1] / "helm" / "schild" / "files" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SERVICES = ("ingest", "detect", "match", "audit", "access", "share")
ALL_JOBS = "|".join(SERVICES)
WIDTH = 24  # Grafana's grid

Panel = dict[str, Any]


def target(expr: str, legend: str = "__auto", ref: str = "A", *, instant: bool = False) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "refId": ref,
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
    }


def _targets(queries: list[tuple[str, str]], *, instant: bool = False) -> list[dict[str, Any]]:
    return [
        target(expr, legend, chr(ord("A") + i), instant=instant) for i, (expr, legend) in enumerate(queries)
    ]


def _thresholds(steps: list[tuple[str, float | None]]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for color, value in steps]}


def stat(
    title: str, description: str, expr: str, *, unit: str, steps: list[tuple[str, float | None]]
) -> Panel:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "targets": _targets([(expr, "__auto")], instant=True),
        "fieldConfig": {
            "defaults": {"unit": unit, "mappings": [], "thresholds": _thresholds(steps)},
            "overrides": [],
        },
        "options": {
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "textMode": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    }


def timeseries(
    title: str,
    description: str,
    queries: list[tuple[str, str]],
    *,
    unit: str = "short",
    threshold: float | None = None,
) -> Panel:
    """A graph; `threshold` draws the line its alert fires at (red above)."""
    steps: list[tuple[str, float | None]] = [("green", None)]
    custom: dict[str, Any] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    if threshold is not None:
        steps.append(("red", threshold))
        custom["thresholdsStyle"] = {"mode": "line"}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "targets": _targets(queries),
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": custom, "thresholds": _thresholds(steps)},
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def heatmap(title: str, description: str, expr: str) -> Panel:
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "targets": [{**target(expr, "{{le}}"), "format": "heatmap"}],
        "options": {
            "calculate": False,
            "yAxis": {"unit": "s"},
            "color": {"mode": "scheme", "scheme": "Oranges"},
            "cellGap": 1,
        },
    }


def row(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


class Grid:
    """Places panels left to right in rows of 24 columns; numbers them in order."""

    def __init__(self) -> None:
        self.panels: list[Panel] = []
        self._x = self._y = self._row_h = 0

    def add(self, panel: Panel, w: int, h: int = 8) -> None:
        if self._x + w > WIDTH:
            self._newline()
        panel = {"id": len(self.panels) + 1, **panel, "datasource": DATASOURCE}
        panel["gridPos"] = {"x": self._x, "y": self._y, "w": w, "h": h}
        self.panels.append(panel)
        self._x += w
        self._row_h = max(self._row_h, h)

    def row(self, title: str) -> None:
        self._newline()
        self.add(row(title), WIDTH, 1)
        self._newline()

    def _newline(self) -> None:
        if self._x:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0


def dashboard(uid: str, title: str, description: str, grid: Grid) -> dict[str, Any]:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["schild", "anpr"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": [
            {"title": "Schild dashboards", "type": "dashboards", "tags": ["schild"], "asDropdown": True}
        ],
        "panels": grid.panels,
    }


def _age(metric: str) -> str:
    return f"time() - max({metric})"


def overview() -> dict[str, Any]:
    g = Grid()
    g.add(
        stat(
            "Services up",
            f"ANPR services Prometheus can scrape (of {len(SERVICES)}). Alert: ServiceDown.",
            f'sum(up{{job=~"{ALL_JOBS}"}})',
            unit="short",
            steps=[("red", None), ("orange", 1), ("green", len(SERVICES))],
        ),
        4,
        4,
    )
    g.add(
        stat(
            "Audit chain",
            "1: the last verification found the audit log's hash chain intact; 0: broken. "
            "Alert: AuditChainBroken.",
            'min(anpr_audit_chain_valid{job="audit"})',
            unit="short",
            steps=[("red", None), ("green", 1)],
        ),
        4,
        4,
    )
    g.add(
        stat(
            "Audit chain last verified",
            "Since the audit service last finished a verification of the chain. Alert: AuditChainUnverified.",
            _age('anpr_audit_chain_verified_timestamp_seconds{job="audit"}'),
            unit="s",
            steps=[("green", None), ("orange", 300), ("red", 900)],
        ),
        4,
        4,
    )
    g.add(
        stat(
            "Retention last run",
            "Since access's retention job last completed (hourly). Alert: RetentionStale.",
            _age('anpr_retention_last_run_timestamp_seconds{job="access"}'),
            unit="s",
            steps=[("green", None), ("orange", 5400), ("red", 10800)],
        ),
        4,
        4,
    )
    g.add(
        stat(
            "Silent cameras (> 15 min)",
            "Cameras with no frame, read or heartbeat for 15 minutes. Alert: CameraSilent.",
            "count(time() - anpr_camera_last_seen_timestamp_seconds > 900) or vector(0)",
            unit="short",
            steps=[("green", None), ("orange", 1)],
        ),
        4,
        4,
    )
    g.add(
        stat(
            "Hits in range",
            "Hotlist hits published in the dashboard's time range.",
            "sum(increase(anpr_hits_total[$__range]))",
            unit="short",
            steps=[("blue", None)],
        ),
        4,
        4,
    )

    g.row("Cameras and reads")
    g.add(
        timeseries(
            "Frames in",
            "Frames accepted by ingest per second, per camera (anpr_frames_received_total).",
            [("sum by (camera) (rate(anpr_frames_received_total[$__rate_interval]))", "{{camera}}")],
            unit="reqps",
        ),
        12,
    )
    g.add(
        timeseries(
            "Plate reads",
            "Plate reads published per second, per source (anpr_reads_total): detect's reads of "
            "frames, smart cameras' own reads.",
            [("sum by (source) (rate(anpr_reads_total[$__rate_interval]))", "{{source}}")],
            unit="reqps",
        ),
        12,
    )
    g.add(
        timeseries(
            "Read rate per camera",
            "Plate reads per second per camera, whatever read them. A camera that sends frames and "
            "has no reads here is misaimed, dirty or blinded. Alert: CameraFramesWithoutReads.",
            [("sum by (camera) (rate(anpr_reads_total[$__rate_interval]))", "{{camera}}")],
            unit="reqps",
        ),
        12,
    )
    g.add(
        timeseries(
            "Camera silence",
            "Since each camera's last frame, read or heartbeat; the line is CameraSilent's 15 minutes.",
            [("time() - max by (camera) (anpr_camera_last_seen_timestamp_seconds)", "{{camera}}")],
            unit="s",
            threshold=900,
        ),
        12,
    )
    g.add(
        timeseries(
            "Cameras marked silent by ingest",
            "1 while ingest's check of the register finds an active camera past its silence gap. "
            "Alert: CameraMarkedSilent.",
            [("max by (camera) (anpr_camera_silent) == 1", "{{camera}}")],
        ),
        12,
    )
    g.add(
        timeseries(
            "Camera clock skew",
            "A camera's captured_at minus ingest's clock. Alert: CameraClockSkew (30 s).",
            [("max by (camera) (anpr_camera_clock_skew_seconds)", "{{camera}}")],
            unit="s",
            threshold=30,
        ),
        12,
    )

    g.row("Pipeline")
    g.add(
        timeseries(
            "Hotlist hits",
            "Hits published per second, per list and kind of match.",
            [
                (
                    "sum by (list_name, match_kind) (rate(anpr_hits_total[$__rate_interval]))",
                    "{{list_name}} ({{match_kind}})",
                )
            ],
            unit="reqps",
        ),
        12,
    )
    g.add(
        timeseries(
            "Dead-lettered messages",
            "Records sent to anpr.dlq.v1 per interval, by service and source topic. Alert: DLQGrowing.",
            [
                (
                    "sum by (service, topic) (increase(anpr_dlq_messages_total[$__rate_interval]))",
                    "{{service}} ← {{topic}}",
                )
            ],
        ),
        12,
    )
    g.add(
        heatmap(
            "Detection latency (heatmap)",
            "Time to read the plates of one frame.",
            "sum by (le) (increase(anpr_detect_latency_seconds_bucket[$__rate_interval]))",
        ),
        12,
    )
    g.add(
        timeseries(
            "Detection latency (quantiles)",
            "p50, p95 and p99 of the time to read one frame.",
            [
                (
                    f"histogram_quantile({q}, sum by (le) (rate(anpr_detect_latency_seconds_bucket"
                    "[$__rate_interval])))",
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
            unit="s",
        ),
        12,
    )
    g.add(
        timeseries(
            "Consumer lag per group",
            "Records not yet consumed, per consuming service and topic (one consumer group each), "
            "summed over partitions. Alert: ConsumerLagGrowing.",
            [("sum by (service, topic) (anpr_consumer_lag)", "{{service}} ← {{topic}}")],
        ),
        24,
    )

    g.row("Audit")
    g.add(
        timeseries(
            "Chain verdict",
            "1 intact, 0 broken (AuditChainBroken).",
            [('min(anpr_audit_chain_valid{job="audit"})', "intact")],
        ),
        8,
    )
    g.add(
        timeseries(
            "Since the last verification and anchor",
            "Since the chain was last verified (AuditChainUnverified) and since each anchor store "
            "last held the newest signed checkpoint (AuditAnchorBehind).",
            [
                (_age('anpr_audit_chain_verified_timestamp_seconds{job="audit"}'), "verified"),
                (
                    'time() - max by (store) (anpr_audit_anchor_last_success_timestamp_seconds{job="audit"})',
                    "anchor {{store}}",
                ),
            ],
            unit="s",
            threshold=900,
        ),
        8,
    )
    g.add(
        timeseries(
            "Audit rows and checkpoints",
            "Rows appended to the chain and signed checkpoints, per second.",
            [
                ('sum(rate(anpr_audit_events_appended_total{job="audit"}[$__rate_interval]))', "rows"),
                ('sum(rate(anpr_audit_checkpoints_total{job="audit"}[$__rate_interval]))', "checkpoints"),
            ],
            unit="reqps",
        ),
        8,
    )

    g.row("Retention")
    g.add(
        timeseries(
            "Retention job",
            "Since the last completed run (RetentionStale) and failed runs per interval (RetentionFailing).",
            [
                (_age('anpr_retention_last_run_timestamp_seconds{job="access"}'), "since last run"),
                (
                    'sum(increase(anpr_retention_failures_total{job="access"}[$__rate_interval]))',
                    "failed runs",
                ),
            ],
            unit="s",
            threshold=10800,
        ),
        8,
    )
    g.add(
        timeseries(
            "Reads deleted by retention",
            "Reads deleted per interval (rows of dropped partitions too).",
            [('sum(increase(anpr_retention_rows_deleted_total{job="access"}[$__rate_interval]))', "deleted")],
        ),
        8,
    )
    g.add(
        timeseries(
            "Oldest read held",
            "Age of the oldest read access holds, after the last run: past the legal period only "
            "under a legal hold.",
            [('max(anpr_reads_oldest_age_seconds{job="access"})', "oldest read")],
            unit="s",
        ),
        8,
    )
    return dashboard(
        "schild-overview",
        "Schild overview",
        "ANPR platform overview: services, cameras and reads, pipeline (hits, DLQ, detection latency, "
        "consumer lag), audit chain, retention. Golden signals per service: Schild services.",
        g,
    )


def _share(job: str, statuses: str) -> str:
    """The share of a service's answers whose status matches `statuses`."""
    answered = f"rate(anpr_http_requests_total{{{job}}}[$__rate_interval])"
    matching = f'rate(anpr_http_requests_total{{{job},status=~"{statuses}"}}[$__rate_interval])'
    return f"sum({matching}) / sum({answered})"


def services() -> dict[str, Any]:
    g = Grid()
    for name in SERVICES:
        job = f'job="{name}"'
        g.row(name)
        g.add(
            timeseries(
                f"{name}: requests",
                "Requests answered per second, per route template (health, readiness and /metrics left out).",
                [
                    (
                        f"sum by (route) (rate(anpr_http_requests_total{{{job}}}[$__rate_interval]))",
                        "{{route}}",
                    )
                ],
                unit="reqps",
            ),
            6,
        )
        g.add(
            timeseries(
                f"{name}: errors",
                "Share of answers that are server errors (5xx: ServiceErrors alerts past 5%) and "
                "refusals (4xx).",
                [
                    (_share(job, "5.."), "5xx"),
                    (_share(job, "4.."), "4xx"),
                ],
                unit="percentunit",
                threshold=0.05,
            ),
            6,
        )
        g.add(
            timeseries(
                f"{name}: latency",
                "Time to the start of the answer (ServiceSlow alerts on p95 past 1 s).",
                [
                    (
                        f"histogram_quantile({q}, sum by (le) (rate(anpr_http_request_duration_seconds_bucket"
                        f"{{{job}}}[$__rate_interval])))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
                unit="s",
                threshold=1,
            ),
            6,
        )
        g.add(
            timeseries(
                f"{name}: saturation",
                "Requests in flight (event streams included; ServiceSaturated), records its "
                "consumers have not yet read, consumer loops restarted.",
                [
                    (f"sum(anpr_http_requests_in_flight{{{job}}})", "requests in flight"),
                    (f"sum(anpr_consumer_lag{{{job}}})", "consumer lag"),
                    (
                        f"sum(increase(anpr_consumer_restarts_total{{{job}}}[$__rate_interval]))",
                        "consumer restarts",
                    ),
                ],
            ),
            6,
        )
    return dashboard(
        "schild-services",
        "Schild services",
        "The golden signals of each service: traffic, errors, latency and saturation.",
        g,
    )


DASHBOARDS = {"schild-overview.json": overview, "schild-services.json": services}


def render(make: Any) -> str:
    return json.dumps(make(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Writes every dashboard; with --check, writes nothing and fails when one differs."""
    check = "--check" in argv
    stale = []
    for file_name, make in DASHBOARDS.items():
        text = render(make)
        for path in (OUT / file_name, CHART_OUT / file_name):
            if path.exists() and path.read_text(encoding="utf-8") == text:
                continue
            stale.append(str(path.relative_to(HERE.parents[1])))
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if check and stale:
        print(f"stale: {', '.join(stale)}; run python deploy/grafana/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
