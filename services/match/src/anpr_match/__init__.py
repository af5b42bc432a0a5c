"""Schild match."""
