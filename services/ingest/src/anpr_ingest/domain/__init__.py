"""Ingest's rules: what a camera, a frame and a camera-side read must be to be accepted. No I/O."""
