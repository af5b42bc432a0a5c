"""Ingest settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from anpr_core.bus.kafka import MAX_MESSAGE_BYTES
from anpr_core.settings import CoreSettings
from anpr_ingest.domain.images import DEFAULT_MAX_IMAGE_PIXELS


class IngestSettings(CoreSettings):
    # Below the broker's message limit, leaving room for the event envelope.
    max_frame_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=MAX_MESSAGE_BYTES - 64 * 1024)
    min_frame_side: int = Field(default=64, ge=1)
    max_frame_side: int = Field(default=8192, ge=64)
    max_clock_skew_s: float = Field(default=300.0, gt=0)
    # Plate crops of camera-side reads: small JPEGs.
    max_crop_bytes: int = Field(default=512 * 1024, ge=1024, le=MAX_MESSAGE_BYTES // 4)
    min_crop_side: int = Field(default=8, ge=1)
    max_crop_side: int = Field(default=2048, ge=16)
    # Frames and crops declaring more pixels are refused (413) from their header, before decoding;
    # detect refuses them too (the same ANPR_MAX_IMAGE_PIXELS), so memory stays bounded.
    max_image_pixels: int = Field(default=DEFAULT_MAX_IMAGE_PIXELS, ge=64 * 64)
    # decode: every image is decoded (JPEG: every compressed block) before it is accepted, by at
    # most image_check_workers threads with image_check_queue more waiting (then 503). header: the
    # header checks alone (type, size, pixels, end marker): the bench's baseline.
    image_check: Literal["decode", "header"] = "decode"
    image_check_workers: int = Field(default=2, ge=1, le=64)
    image_check_queue: int = Field(default=256, ge=0, le=10_000)
    # A resent frame (same camera, capture time and bytes) within this window gets its first
    # event id back and is not published again. Keep it above twice the clock skew allowed.
    dedupe_window_s: float = Field(default=900.0, gt=0)
    # An active camera with no frame, read or heartbeat for this long is marked silent.
    silent_after_s: float = Field(default=600.0, gt=0)
    silent_check_interval_s: float = Field(default=30.0, gt=0)
    # Camera credentials are cached per replica; rotation and revocation clear this replica's
    # entry at once and reach the other replicas within this many seconds.
    credential_cache_ttl_s: float = Field(default=5.0, ge=0)
    # The register's last-seen column is written at most this often per camera and replica;
    # the last-seen metric is set on every frame.
    last_seen_write_interval_s: float = Field(default=10.0, ge=0)
    # Frames and reads arriving together are claimed in one dedupe transaction and published in one
    # round (anpr_ingest.adapters.publish_once). Each batch holds one connection of intake's own pool
    # until the broker acknowledges it; at most this many batches run at once, and under load the
    # batches grow.
    intake_pool_size: int = Field(default=4, ge=1, le=500)
    intake_max_batch: int = Field(default=64, ge=1, le=1000)
    # A vendor camera's whole push (XML or JSON with its images, base64 included); a refused one is
    # kept whole as a dead letter, so it stays below the broker's message limit.
    max_vendor_body_bytes: int = Field(
        default=6 * 1024 * 1024, ge=64 * 1024, le=MAX_MESSAGE_BYTES - 64 * 1024
    )
    # How long a Digest challenge's nonce is good for; an older one is answered stale=true.
    digest_nonce_lifetime_s: float = Field(default=300.0, gt=0, le=3600)
