"""Alembic's entry point for match's history."""

from anpr_core.migrations import run_env

run_env()
