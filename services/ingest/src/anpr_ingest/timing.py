"""Where an intake's time goes: one histogram per stage, so an operator (and bench/bench_ingest.py)
can tell body parsing from the credential check, the dedupe claim and the broker's acknowledgement."""

from __future__ import annotations

from prometheus_client import Histogram

STAGE_SECONDS = Histogram(
    "anpr_ingest_stage_seconds",
    "Time spent in each stage of frame and read intake (per request, or per batch for batch stages)",
    ["stage"],
    buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5),
)
INTAKE_BATCH_SIZE = Histogram(
    "anpr_ingest_intake_batch_size",
    "Intakes claimed in one dedupe transaction and published in one round",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)

# Per request, in the order they happen.
BODY = STAGE_SECONDS.labels("body")  # receiving the body; multipart parsing included
CREDENTIALS = STAGE_SECONDS.labels("credentials")  # cached camera record and key hash
IMAGE_CHECK = STAGE_SECONDS.labels("image_check")  # type, dimensions, pixels from the header bytes, clock
IMAGE_DECODE = STAGE_SECONDS.labels("image_decode")  # decoding in the worker pool, its queue included
DIGEST = STAGE_SECONDS.labels("digest")  # SHA-256 of the image, the dedupe key
EVENT = STAGE_SECONDS.labels("event")  # the protobuf record
WAIT = STAGE_SECONDS.labels("wait")  # from hand-over to the batcher until the answer is known
HANDLER = STAGE_SECONDS.labels("handler")  # the whole handler, HTTP server time excluded
# Per batch.
QUEUED = STAGE_SECONDS.labels("queued")  # oldest intake's wait for a free batch slot
CLAIM = STAGE_SECONDS.labels("dedupe_claim")  # INSERT ... ON CONFLICT DO NOTHING RETURNING
PUBLISH = STAGE_SECONDS.labels("publish_ack")  # Kafka send until every acknowledgement (acks=all)
COMMIT = STAGE_SECONDS.labels("commit")  # releasing failed claims and committing
