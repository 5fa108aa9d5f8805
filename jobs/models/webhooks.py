"""Webhook deliveries received: the dedupe key (`webhook_id`) and what became of each one.

A delivery is stored before it is acted on, under a unique `webhook_id`, so a delivery sent twice
(at-least-once) is recognised and dropped. Refused deliveries (forged, stale, replayed) are kept
too, without an id (a forged id must not block the real one) and with the reason, for
`jobs doctor`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from jobs.models.job import UTCDateTime


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: str | None = Field(default=None, max_length=255, unique=True)
    job_id: str | None = Field(default=None, max_length=16, index=True)
    interaction_id: str | None = Field(default=None, max_length=255)
    event_type: str = Field(default="", max_length=64)
    # recorded | running | unknown_job | unconfirmed | refused
    outcome: str = Field(max_length=32)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    received_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
