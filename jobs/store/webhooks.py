"""Queries about webhook deliveries: the dedupe insert, outcomes, and health figures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import select

from jobs.db import Database
from jobs.models import Job, JobRequest, WebhookDelivery


class WebhookStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(
        self,
        webhook_id: str,
        *,
        job_id: str | None,
        interaction_id: str | None,
        event_type: str,
        now: datetime,
    ) -> bool:
        """Store a verified delivery as `received`; False when its webhook_id was stored already
        (the same delivery again: drop it)."""
        try:
            with self.db.write() as session:
                seen = session.exec(
                    select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == webhook_id)
                ).first()
                if seen is not None:
                    return False
                session.add(
                    WebhookDelivery(
                        webhook_id=webhook_id,
                        job_id=job_id,
                        interaction_id=interaction_id,
                        event_type=event_type,
                        outcome="received",
                        received_at=now,
                    )
                )
        except sa.exc.IntegrityError:  # a concurrent receiver stored it first
            return False
        return True

    def set_outcome(self, webhook_id: str, outcome: str, reason: str | None = None) -> None:
        with self.db.write() as session:
            session.exec(
                sa.update(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == webhook_id)  # type: ignore[arg-type]
                .values(outcome=outcome, reason=reason)
            )

    def refused(self, reason: str, now: datetime, event_type: str = "") -> None:
        """Keep a refused delivery (no id: a forged id must not block the real delivery)."""
        with self.db.write() as session:
            session.add(
                WebhookDelivery(
                    outcome="refused", reason=reason, event_type=event_type, received_at=now
                )  # fmt: skip
            )

    def job_for_interaction(self, interaction_id: str) -> Job | None:
        with self.db.read() as session:
            return session.exec(select(Job).where(Job.interaction_id == interaction_id)).first()

    def unconfirmed_job_ids(self, before: datetime) -> list[str]:
        """Jobs whose delivery came but could not be confirmed with a get before `before`."""
        with self.db.read() as session:
            rows = session.exec(
                select(WebhookDelivery.job_id).where(
                    WebhookDelivery.outcome == "unconfirmed",
                    WebhookDelivery.received_at < before,
                    WebhookDelivery.job_id.is_not(None),  # type: ignore[union-attr]
                )
            ).all()
            return sorted({r for r in rows if r})

    def settle_unconfirmed(self, job_ids: Iterable[str]) -> None:
        """Those jobs were handed to polling: their deliveries are no longer waiting."""
        ids = list(job_ids)
        if not ids:
            return
        with self.db.write() as session:
            session.exec(
                sa.update(WebhookDelivery)
                .where(WebhookDelivery.outcome == "unconfirmed", WebhookDelivery.job_id.in_(ids))  # type: ignore[union-attr]
                .values(outcome="polled")
            )

    def counts_since(self, since: datetime) -> dict[str, int]:
        with self.db.read() as session:
            rows = session.exec(
                select(WebhookDelivery.outcome, sa.func.count())
                .where(WebhookDelivery.received_at >= since)
                .group_by(WebhookDelivery.outcome)
            ).all()
            return {outcome: int(n) for outcome, n in rows}

    def last_received(self, *, accepted: bool = True) -> datetime | None:
        with self.db.read() as session:
            query = select(sa.func.max(WebhookDelivery.received_at))
            if accepted:
                query = query.where(WebhookDelivery.outcome != "refused")
            return session.exec(query).first()

    def last_refusal(self) -> WebhookDelivery | None:
        with self.db.read() as session:
            return session.exec(
                select(WebhookDelivery)
                .where(WebhookDelivery.outcome == "refused")
                .order_by(WebhookDelivery.id.desc())  # type: ignore[union-attr]
                .limit(1)
            ).first()

    def created_with_webhook(self, job_id: str) -> bool:
        with self.db.read() as session:
            found = session.exec(
                select(JobRequest.job_id).where(
                    JobRequest.job_id == job_id,
                    JobRequest.request_json.like('%"webhook_config"%'),  # type: ignore[attr-defined]
                )
            ).first()
            return found is not None

    def webhook_jobs_ended_since(self, since: datetime) -> list[str]:
        """Jobs created with a webhook that ended since then."""
        with self.db.read() as session:
            rows = session.exec(
                select(Job.id)
                .join(JobRequest, JobRequest.job_id == Job.id)
                .where(
                    Job.finished_at >= since,  # type: ignore[operator]
                    JobRequest.request_json.like('%"webhook_config"%'),  # type: ignore[attr-defined]
                )
            ).all()
            return list(rows)

    def delivered_job_ids(self, job_ids: Iterable[str]) -> set[str]:
        ids = list(job_ids)
        if not ids:
            return set()
        with self.db.read() as session:
            rows = session.exec(
                select(WebhookDelivery.job_id).where(
                    WebhookDelivery.job_id.in_(ids),  # type: ignore[union-attr]
                    WebhookDelivery.outcome != "refused",
                )
            ).all()
            return {r for r in rows if r}
