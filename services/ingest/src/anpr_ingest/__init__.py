"""Schild ingest."""
