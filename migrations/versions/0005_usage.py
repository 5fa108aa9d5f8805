"""Usage and cost: price tables, budgets, full-text search.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Reserved so that work on several capabilities at once gets a fixed place in the chain; it is a
no-op until its capability adds its schema here.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
