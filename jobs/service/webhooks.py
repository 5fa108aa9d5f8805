"""Completion pushed by webhook, with polling as the fallback.

With `webhooks.public_url` set, every job is created with a per-request webhook to
`<public_url>/webhooks/interactions` (`user_metadata` names the job), and polled only every
`webhooks.fallback_interval` seconds. A delivery (`receive`) is verified (signature, timestamp,
audience: webhook_verify.py), stored under its `webhook-id` (a second copy is dropped), and the job
is confirmed with one `get` and recorded at once through the service's one terminal-record path.
If that get fails, the delivery is kept as `unconfirmed` and the job is made due for the worker, so
a lost or unconfirmable delivery delays a job, never loses it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from jobs.errors import GatewayError
from jobs.models import Job, JobStatus
from jobs.service.webhook_verify import WebhookRefused, WebhookVerifier
from jobs.store.webhooks import WebhookStore

if TYPE_CHECKING:
    from jobs.service.core import JobService

log = logging.getLogger(__name__)

PATH = "/webhooks/interactions"
METADATA_KEY = "jobs_id"
UNCONFIRMED_GRACE = 30.0  # seconds before an unconfirmed delivery's job is handed to polling


@dataclass(frozen=True)
class Receipt:
    """What `receive` answers: the HTTP status for the sender and a short word for logs."""

    status: int
    outcome: str
    job_id: str | None = None


class WebhookReceiver:
    """The runner's side of webhooks; one per JobService (`service.webhooks`)."""

    def __init__(self, service: JobService) -> None:
        self.service = service
        self.store = WebhookStore(service.store.db)
        self._verifier: WebhookVerifier | None = None
        self._expecting: dict[str, bool] = {}  # job id -> created with a webhook

    @property
    def settings(self) -> Any:
        return self.service.settings

    @property
    def enabled(self) -> bool:
        return bool(self.settings["webhooks.public_url"])

    @property
    def receiver_url(self) -> str:
        return self.settings["webhooks.public_url"].rstrip("/") + PATH

    # -- submitting and pacing -----------------------------------------------------------------

    def request_fields(self, job_id: str) -> dict[str, Any]:
        """What a create adds to ask for a webhook (nothing when no public URL is configured)."""
        if not self.enabled:
            return {}
        return self.service.gateway.webhook_fields(self.receiver_url, {METADATA_KEY: job_id})

    def expects_webhook(self, job: Job) -> bool:
        if not self.enabled:
            return False
        if job.job_status is JobStatus.SUBMITTING:  # being created now, with a webhook
            return True
        known = self._expecting.get(job.id)
        if known is None:  # the claimed row does not load request_json: ask the store once
            if len(self._expecting) > 10_000:
                self._expecting.clear()
            known = self._expecting[job.id] = self.store.created_with_webhook(job.id)
        return known

    def pacing(self, job: Job, delay: float) -> float:
        """The poll delay of a job that expects a webhook: the fallback interval at least."""
        if self.expects_webhook(job):
            return max(delay, float(self.settings["webhooks.fallback_interval"]))
        return delay

    # -- receiving ------------------------------------------------------------------------------

    @property
    def verifier(self) -> WebhookVerifier:
        if self._verifier is None:
            raw = self.settings["webhooks.signing_secret"]
            secrets = [s.strip() for s in raw.split(",") if s.strip()]
            self._verifier = WebhookVerifier(
                secrets,
                fetch_keys=self.service.gateway.signing_keys,
                audience=self.receiver_url if self.enabled else None,
                tolerance=float(self.settings["webhooks.tolerance"]),
                now=lambda: self.service.clock.now().timestamp(),
            )
        return self._verifier

    def receive(self, headers: Mapping[str, str], body: bytes) -> Receipt:
        """Handle one delivery: verify, drop duplicates, confirm with one get, record."""
        now = self.service.clock.now()
        try:
            verified = self.verifier.verify(headers, body)
        except WebhookRefused as refused:
            # The reason names what failed, never a secret or the signature itself.
            log.warning("webhook delivery refused: %s (webhook-id %r)", refused.reason, _header(headers, "webhook-id")[:64])  # fmt: skip
            self.store.refused(refused.reason, now)
            return Receipt(refused.status, "refused")
        payload = verified.payload
        event = str(payload.get("type") or "")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        interaction_id = data.get("id") if isinstance(data.get("id"), str) else None
        job = self._job_for(interaction_id, payload.get("user_metadata"))
        if not self.store.claim(verified.webhook_id, job_id=job.id if job else None, interaction_id=interaction_id, event_type=event, now=now):  # fmt: skip
            log.info("webhook delivery %s seen before: dropped", verified.webhook_id)
            return Receipt(200, "duplicate", job.id if job else None)
        if not event.startswith("interaction.") or job is None or interaction_id is None:
            self.store.set_outcome(verified.webhook_id, "unknown_job" if event.startswith("interaction.") else "ignored")  # fmt: skip
            return Receipt(200, "ignored")
        if job.job_status.is_terminal:
            self.store.set_outcome(verified.webhook_id, "recorded", "already terminal")
            return Receipt(200, "recorded", job.id)
        return self._confirm(verified.webhook_id, job, interaction_id)

    def _confirm(self, webhook_id: str, job: Job, interaction_id: str) -> Receipt:
        try:
            remote = self.service.gateway.get(interaction_id)  # the one get: deliveries are thin
        except GatewayError as exc:
            log.warning("job %s: webhook came, but the get to confirm it failed (left to polling): %s", job.id, exc)  # fmt: skip
            self.store.set_outcome(webhook_id, "unconfirmed", str(exc)[:500])
            self.service.store.poll_soon(job.id, self.service.clock.now())
            return Receipt(200, "unconfirmed", job.id)
        if self.service.recorder.record_remote(job, remote, owner=None):
            self.store.set_outcome(webhook_id, "recorded")
            log.info("job %s: %s, recorded from its webhook", job.id, remote.status)
            return Receipt(200, "recorded", job.id)
        # not terminal (requires_action, or an event ahead of the state): let the worker poll it now
        self.service.store.poll_soon(job.id, self.service.clock.now())
        self.store.set_outcome(webhook_id, "running", f"status {remote.status}")
        return Receipt(200, "running", job.id)

    def _job_for(self, interaction_id: str | None, metadata: Any) -> Job | None:
        if isinstance(metadata, dict) and isinstance(metadata.get(METADATA_KEY), str):
            job = self.service.store.find_job(metadata[METADATA_KEY])
            if job is not None and (interaction_id is None or job.interaction_id in (None, interaction_id)):  # fmt: skip
                return job
        return self.store.job_for_interaction(interaction_id) if interaction_id else None

    # -- the worker's pass ----------------------------------------------------------------------

    def poll_overdue(self, now: datetime) -> int:
        """Make due, for polling, the jobs whose delivery came but could not be confirmed (the get
        failed); jobs whose delivery never came are polled on the fallback schedule (`pacing`)."""
        if not self.enabled and not self.settings["webhooks.signing_secret"]:
            return 0  # nothing can be delivered here: no query on every pass
        ids = self.store.unconfirmed_job_ids(now - timedelta(seconds=UNCONFIRMED_GRACE))
        for job_id in ids:
            self.service.store.poll_soon(job_id, now)
        self.store.settle_unconfirmed(ids)
        return len(ids)

    def health(self, now: datetime) -> dict[str, Any]:
        """Figures for `jobs doctor`: deliveries of the last day, refusals, missed deliveries."""
        since = now - timedelta(days=1)
        counts = self.store.counts_since(since)
        ended = self.store.webhook_jobs_ended_since(since)
        delivered = self.store.delivered_job_ids(ended)
        refusal = self.store.last_refusal()
        return {
            "enabled": self.enabled,
            "receiver": self.receiver_url if self.enabled else None,
            "counts": counts,
            "last_received": self.store.last_received(),
            "missed": sorted(j for j in ended if j not in delivered),
            "ended_with_webhook": len(ended),
            "last_refusal": refusal.reason if refusal else None,
        }


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""
