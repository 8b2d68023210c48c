"""Fuzzy-stage keys on crash groups: the top frame (indexed) and the first frame keys.

Groups created before this revision have none and are not compared by the fuzzy stage until
``crashpilot resign`` runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("crash_groups") as batch:
        batch.add_column(sa.Column("fuzzy_top", sa.Text(), nullable=True))
        batch.add_column(sa.Column("fuzzy_keys", sa.JSON(), nullable=True))
        batch.create_index(batch.f("ix_crash_groups_fuzzy_top"), ["fuzzy_top"])


def downgrade() -> None:
    with op.batch_alter_table("crash_groups") as batch:
        batch.drop_index(batch.f("ix_crash_groups_fuzzy_top"))
        batch.drop_column("fuzzy_keys")
        batch.drop_column("fuzzy_top")
