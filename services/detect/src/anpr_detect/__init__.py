"""Schild detect."""
