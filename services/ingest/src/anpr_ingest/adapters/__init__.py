"""Ingest's adapters to the outside world: its tables, the dedupe claims, the camera cache, the
image decoding pool and the publish-once batcher. Every SQL statement of the service lives here."""
