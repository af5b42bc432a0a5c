"""Schild audit."""
