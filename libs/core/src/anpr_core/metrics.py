"""Every Prometheus metric of the platform, declared once so the embedded mode can host all services.

Names here are what deploy/grafana and deploy/prometheus alert rules use.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_CONSUMED = Counter(
    "anpr_messages_consumed_total", "Records a consumer processed", ["service", "topic"]
)
DLQ_MESSAGES = Counter(
    "anpr_dlq_messages_total", "Records sent to the dead-letter topic", ["service", "topic"]
)
CONSUMER_LAG = Gauge(
    "anpr_consumer_lag", "Records not yet consumed, per partition", ["service", "topic", "partition"]
)
CONSUMER_RESTARTS = Counter(
    "anpr_consumer_restarts_total", "Consumer loops restarted after an error", ["service"]
)
FRAMES_RECEIVED = Counter("anpr_frames_received_total", "Frames accepted by ingest", ["camera"])
FRAMES_REJECTED = Counter("anpr_frames_rejected_total", "Frames refused by ingest", ["reason"])
CAMERA_LAST_SEEN = Gauge(
    "anpr_camera_last_seen_timestamp_seconds", "Last frame, read or heartbeat per camera", ["camera"]
)
DETECT_LATENCY = Histogram(
    "anpr_detect_latency_seconds",
    "Time to read the plates of one frame",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2),
)
READS = Counter("anpr_reads_total", "Plate reads published, per source and camera", ["source", "camera"])
PASSAGES = Counter("anpr_passages_total", "Passages (reads of one vehicle fused) published by detect")
HITS = Counter("anpr_hits_total", "Hotlist hits published", ["list_name", "match_kind"])
READS_STORED = Counter("anpr_reads_stored_total", "Reads stored by access (new rows only)")
AUDIT_APPENDED = Counter("anpr_audit_events_appended_total", "Audit rows appended to the chain")
AUDIT_CHAIN_VALID = Gauge("anpr_audit_chain_valid", "1 when the last verification found the chain intact")
AUDIT_VERIFIED_AT = Gauge(
    "anpr_audit_chain_verified_timestamp_seconds",
    "When the audit chain watch last finished a verification (intact or not); stale: it no longer runs",
)
AUDIT_ANCHORED_AT = Gauge(
    "anpr_audit_anchor_last_success_timestamp_seconds",
    "When an anchor store (file, topic) last held the newest signed checkpoint (took it, or owed none)",
    ["store"],
)
RETENTION_LAST_RUN = Gauge(
    "anpr_retention_last_run_timestamp_seconds", "When access's retention job last completed"
)
RETENTION_FAILURES = Counter(
    "anpr_retention_failures_total", "Retention runs of access that failed (scheduled or asked for)"
)
RETENTION_ROWS_DELETED = Counter(
    "anpr_retention_rows_deleted_total",
    "Reads deleted by access's retention job (rows of dropped partitions too)",
)
READS_OLDEST_AGE = Gauge(
    "anpr_reads_oldest_age_seconds", "Age of the oldest read access still holds, after the last retention run"
)
CAMERA_SILENT = Gauge(
    "anpr_camera_silent",
    "1 while an active camera has sent nothing for longer than the silence gap",
    ["camera"],
)
CAMERA_CLOCK_SKEW = Gauge(
    "anpr_camera_clock_skew_seconds",
    "Last captured_at minus server time per camera (positive: ahead)",
    ["camera"],
)
INTAKE_DUPLICATES = Counter(
    "anpr_intake_duplicates_total", "Frames and reads resent by a camera and not published again", ["kind"]
)
CAMERA_READS_RECEIVED = Counter(
    "anpr_camera_reads_received_total", "Camera-side reads accepted by ingest", ["camera"]
)
HITS_SUPPRESSED = Counter(
    "anpr_hits_suppressed_total",
    "Hits not raised again: same entry and camera within the duplicate window",
    ["list_name"],
)
HIT_ACKS = Counter(
    "anpr_hit_acks_total",
    "Hits acknowledged by an operator, by outcome (confirmed, false_alarm, not_seen)",
    ["list_name", "camera", "outcome"],
)
HIT_FALSE_ALARM_RATIO = Gauge(
    "anpr_hit_false_alarm_ratio",
    "False alarms over acknowledged hits, per list and camera (from the database at each ack)",
    ["list_name", "camera"],
)
HOTLIST_ENTRIES_INDEXED = Gauge("anpr_hotlist_entries_indexed", "Entries in this match replica's index")
AUDIT_CHECKPOINTS = Counter("anpr_audit_checkpoints_total", "Signed checkpoints of the audit chain head")
AUDIT_UNKNOWN_ACTIONS = Counter(
    "anpr_audit_unknown_actions_total", "Audit rows whose action the log does not know", ["service"]
)
OUTBOX_PUBLISHED = Counter("anpr_outbox_published_total", "Outbox rows published by the relay", ["service"])
OUTBOX_PENDING = Gauge("anpr_outbox_pending", "Outbox rows staged and not yet published", ["service"])
SHARED_RECORDS = Counter(
    "anpr_shared_records_total",
    "Records shared with a neighbour zone (direction out) or taken in from one (in), by kind",
    ["direction", "zone", "kind"],
)
HTTP_REQUESTS = Counter(
    "anpr_http_requests_total",
    "HTTP requests answered, per route template and status (health, readiness and /metrics excluded)",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "anpr_http_request_duration_seconds",
    "Time from a request to the start of its answer (an event stream's start, not its end), per route",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_FLIGHT = Gauge(
    "anpr_http_requests_in_flight", "HTTP requests being answered now, event streams included", ["service"]
)
