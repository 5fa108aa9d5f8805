"""Notifications: a hook run once when a job or a batch ends.

A target is a shell command (the subject's JSON on stdin) or an http(s) URL (the same JSON POSTed,
signed the Standard Webhooks way: `webhook-id`, `webhook-timestamp` and `webhook-signature:
v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the `whsec_` secret from the config).

`run_due(now)` is the worker's one call per pass: it claims each due notification with a
compare-and-set (so one process runs it), runs the hooks side by side within `notify.timeout`, and
records `sent` or `failed` with what the hook said. The job or batch itself is never touched.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from jobs.errors import ConfigError, UsageError
from jobs.models import Notification, NotifyState
from jobs.store.notifications import NotificationStore

PER_PASS = 20  # hooks started per pass at most
PARALLEL = 4


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def signing_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (`whsec_` + base64)."""
    if not secret:
        raise ConfigError(
            "a URL hook needs a signing secret: set notify.secret (whsec_ + base64) in the config "
            "or JOBS_NOTIFY_SECRET"
        )
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("notify.secret must be whsec_ followed by base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class NotifyService:
    def __init__(self, service) -> None:
        self.service = service
        self.store = NotificationStore(service.store.db)

    def check_target(self, target: str) -> str:
        """A usable target, or a UsageError/ConfigError now (not at the end of a long job)."""
        target = target.strip()
        if not target:
            raise UsageError("--notify needs a command or an http(s) URL")
        if is_url(target):
            signing_key(self.service.settings["notify.secret"])
        return target

    def default_target(self) -> str | None:
        return self.service.settings["notify.default"].strip() or None

    def attach(self, subject_kind: str, subject_id: str, target: str) -> None:
        self.store.add(
            subject_kind, subject_id, self.check_target(target), self.service.clock.now()
        )

    def for_subject(self, subject_kind: str, subject_id: str) -> Notification | None:
        return self.store.get(subject_kind, subject_id)

    # -- the per-pass call -------------------------------------------------------------------------

    def run_due(self, now: datetime) -> int:
        """Run the hooks of jobs and batches that have ended; returns how many ran."""
        timeout = float(self.service.settings["notify.timeout"])
        self.store.fail_interrupted(now - timedelta(seconds=timeout + 60.0), now)
        due = self.store.due(PER_PASS)
        if not due:
            return 0
        owner = self.service.owner
        claimed = [n for n in due if self.store.claim(n.id, owner, now)]
        if not claimed:
            return 0
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(claimed))) as pool:
            outcomes = list(pool.map(lambda n: self._run(n, timeout), claimed))
        finished = self.service.clock.now()
        for notification, (state, detail) in zip(claimed, outcomes, strict=True):
            self.store.finish(notification.id, owner, state, detail, finished)
        return len(claimed)

    def _run(self, notification: Notification, timeout: float) -> tuple[NotifyState, str]:
        try:
            body = json.dumps(self.payload(notification), ensure_ascii=False).encode("utf-8")
            if is_url(notification.target):
                return self._post(notification, body, timeout)
            return _run_command(notification.target, body, timeout)
        except Exception as exc:  # a hook never breaks the pass, whatever it does
            return NotifyState.FAILED, f"{type(exc).__name__}: {exc}"

    def payload(self, notification: Notification) -> dict[str, Any]:
        from jobs import render

        if notification.subject_kind == "batch":
            from jobs.service.batches import batch_dict

            summary = self.service.batches.summary(notification.subject_id)
            return {"type": "batch.ended", "batch": batch_dict(summary)}
        job = self.service.store.get_job(notification.subject_id)
        result = self.service.store.get_result(job.id)
        data = render.job_dict(job, self.service.store.labels_for([job.id])[job.id])
        data["output_text"] = result.output_text if result else None
        data["error"] = (
            {"code": job.error_code, "message": job.error_message}
            if (job.error_code or job.error_message)
            else None
        )
        return {"type": "job.ended", "job": data}

    def _post(self, notification: Notification, body: bytes, timeout: float):
        msg_id = f"msg_{notification.subject_kind}_{notification.subject_id}"
        timestamp = int(self.service.clock.now().timestamp())
        request = urllib.request.Request(
            notification.target,
            data=body,
            method="POST",
            headers={
                "content-type": "application/json",
                "user-agent": "gjobs-notify",
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(
                    self.service.settings["notify.secret"], msg_id, timestamp, body
                ),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                reply = response.read(2000).decode("utf-8", "replace")
                return NotifyState.SENT, f"HTTP {response.status} {reply}".strip()
        except urllib.error.HTTPError as exc:
            return NotifyState.FAILED, f"HTTP {exc.code} from {notification.target}"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return NotifyState.FAILED, f"POST to {notification.target} failed: {reason}"


def _run_command(command: str, body: bytes, timeout: float) -> tuple[NotifyState, str]:
    """Run a shell command with the JSON on stdin; its whole process group dies at the timeout."""
    process = subprocess.Popen(
        command,
        shell=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(body, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return NotifyState.FAILED, f"timed out after {timeout:g}s (killed)"
    text = output.decode("utf-8", "replace").strip()
    if process.returncode != 0:
        return NotifyState.FAILED, f"exit {process.returncode}: {text[-1500:]}".strip()
    return NotifyState.SENT, f"exit 0: {text[-1500:]}".strip()
