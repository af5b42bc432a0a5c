"""Schild access."""
