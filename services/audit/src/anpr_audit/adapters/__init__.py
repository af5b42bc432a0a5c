"""What the audit service reads and writes outside itself: its PostgreSQL tables (all of its SQL),
the anchor file and topic, the signing key, and the event and export formats."""
