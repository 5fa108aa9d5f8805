"""Batches, schedules, their firings, and notifications.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Reserved so that work on several capabilities at once gets a fixed place in the chain; it is a
no-op until its capability adds its schema here.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
