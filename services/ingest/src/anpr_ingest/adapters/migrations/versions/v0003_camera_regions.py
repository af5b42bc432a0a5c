"""Camera regions: each camera's region of interest (a polygon in frame pixels) and expected plate
width, which detect reads its frames by. Cameras registered before have neither: the whole frame.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa

from anpr_core.migrations import add_columns

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_columns(
        "cameras",
        "ingest",
        sa.Column("region", sa.JSON(), nullable=True),
        sa.Column("min_plate_width", sa.Integer(), nullable=True),
        sa.Column("max_plate_width", sa.Integer(), nullable=True),
    )
