"""Reliability fixes: what a submitter knows survives it; conversations are lines.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Reserved so that work on several capabilities at once gets a fixed place in the chain. It stays a
no-op for good: existing stores have applied it, so a store at a later revision would never run
schema added here. New schema goes into a new revision at the head (e.g. 0007).
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
