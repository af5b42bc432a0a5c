"""Measuring the plate readers on labelled photos (`anpr eval`): offline, never imported by the service."""
