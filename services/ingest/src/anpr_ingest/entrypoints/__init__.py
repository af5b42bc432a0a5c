"""Ingest's entrypoints: the REST routes and the ASGI fast path for raw-body frames."""
