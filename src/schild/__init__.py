"""Schild composition root and the `anpr` command."""
