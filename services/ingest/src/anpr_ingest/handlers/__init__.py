"""Ingest's handlers: one named function per command (register a camera, accept a frame, ...), its
ports passed in; they return domain records or raise domain refusals."""
