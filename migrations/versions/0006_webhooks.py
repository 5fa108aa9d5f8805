"""Webhooks: deliveries received, and per-job webhook state.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Reserved so that work on several capabilities at once gets a fixed place in the chain; it is a
no-op until its capability adds its schema here.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
