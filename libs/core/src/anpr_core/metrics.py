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
READS = Counter("anpr_reads_total", "Plate reads published", ["source"])
HITS = Counter("anpr_hits_total", "Hotlist hits published", ["list_name", "match_kind"])
READS_STORED = Counter("anpr_reads_stored_total", "Reads stored by access (new rows only)")
AUDIT_APPENDED = Counter("anpr_audit_events_appended_total", "Audit rows appended to the chain")
AUDIT_CHAIN_VALID = Gauge("anpr_audit_chain_valid", "1 when the last verification found the chain intact")
