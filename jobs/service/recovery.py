"""What a submitter must never lose: an interaction id the API gave it.

A create that the API ran but whose id the store refused (a full disk, a locked or unreachable
database) leaves a paid run that nothing tracks; the API has no list, so the id is the only handle
on it. Three layers keep it:

1. The process retries the write while it lives (`JobService._write_or_defer`, and `submit` waits
   a while for the store before giving up).
2. `Spool` writes the id to a small file under `$JOBS_HOME/spool/` the moment the store refuses it.
   A file of a few hundred bytes fits where a database transaction did not (SQLite needs whole
   pages, a journal and a WAL frame), and it survives the process. Every later worker pass, and
   `gjobs adopt` / `gjobs resubmit`, replays it into the store.
3. `Recovery.adopt` attaches an id the user has (the error line printed it) to its job, checked
   against the `jobs-id` label the API echoes on `get`, so a `submit_unknown` job is resolved
   without paying again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.errors import InvalidTransition, JobNotFound, StoreError, UsageError
from jobs.gateway import RemoteInteraction
from jobs.models import Job, JobStatus

if TYPE_CHECKING:
    from jobs.service.core import JobService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpooledId:
    """An interaction id the API returned for a job, not yet in the store."""

    store: str  # which store it belongs to (one JOBS_HOME can serve several JOBS_DB_URLs)
    job_id: str
    interaction_id: str
    remote_status: str | None


class Spool:
    """One small file per job under `directory` (0700; files 0600), written atomically."""

    def __init__(self, directory: Path, store: str) -> None:
        self.directory = directory
        self.store = store

    def keep(self, job_id: str, interaction_id: str, remote_status: str | None) -> Path | None:
        """Write the id down; the path, or None when even that failed (then only stderr has it)."""
        entry = SpooledId(self.store, job_id, interaction_id, remote_status)
        path = self.directory / f"{job_id}.json"
        tmp = path.with_suffix(".tmp")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(entry), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            log.error(
                "job %s: could not keep interaction %s in %s: %s", job_id, interaction_id, path, exc
            )
            with contextlib.suppress(OSError):
                tmp.unlink()
            return None
        return path

    def entries(self) -> list[SpooledId]:
        """This store's entries (an unreadable file is skipped and left for a human)."""
        if not self.directory.is_dir():  # the common case: one stat, nothing to do
            return []
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                entry = SpooledId(**json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("spool file %s is unreadable, left alone: %s", path, exc)
                continue
            if entry.store == self.store:
                found.append(entry)
        return found

    def get(self, job_id: str) -> SpooledId | None:
        return next((e for e in self.entries() if e.job_id == job_id), None)

    def drop(self, job_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / f"{job_id}.json").unlink()


class Recovery:
    """Puts interaction ids back on their jobs: from the spool, or from the user."""

    def __init__(self, service: JobService) -> None:
        self.service = service
        self.spool = Spool(service.settings.home / "spool", service.store.db.display_url)

    def replay_spool(self) -> list[str]:
        """Record every spooled id whose job still waits for it; returns the jobs recorded. A
        StoreError (the store still refuses) leaves the files for the next try."""
        recorded = []
        for entry in self.spool.entries():
            job = self.service.store.find_job(entry.job_id)
            if job is None or job.interaction_id or job.job_status not in _AWAITING_ID:
                # Deleted, cancelled here meanwhile, or recorded by another path: nothing to attach.
                if job is None or job.interaction_id != entry.interaction_id:
                    log.warning(
                        "job %s is %s; spooled interaction %s not attached (it may still run on "
                        "the API)",
                        entry.job_id,
                        job.status if job else "deleted",
                        entry.interaction_id,
                    )
                self.spool.drop(entry.job_id)
                continue
            if self._attach(job, entry.interaction_id, entry.remote_status, source="spool"):
                recorded.append(job.id)
            self.spool.drop(entry.job_id)
        return recorded

    def adopt(self, job_id: str | None, interaction_id: str) -> Job:
        """Attach an interaction to its `submit_unknown` job. The job is named by the user or, when
        omitted, by the interaction's `jobs-id` label (as `get` returns it); a label naming
        another job, or no label at all, is refused: the id must be this job's run."""
        from jobs.service.core import JOB_LABEL

        service = self.service
        if not interaction_id.strip():
            raise UsageError("give the interaction id (e.g. int_...)")
        with contextlib.suppress(StoreError):
            self.replay_spool()
        owner = service.store.find_job(interaction_id)
        if owner is not None and owner.interaction_id == interaction_id:
            if job_id is None or owner.id == job_id:
                return owner  # already attached: nothing to do (idempotent)
            raise InvalidTransition(f"interaction {interaction_id} is already job {owner.id}'s")
        service.gateway_ready()
        remote = service.gateway.get(interaction_id)
        label = (remote.raw.get("labels") or {}).get(JOB_LABEL)
        if label is None:
            raise InvalidTransition(
                f"interaction {interaction_id} has no {JOB_LABEL} label: it was not created by jobs"
            )
        if job_id is not None and label != job_id:
            found = service.store.find_job(job_id)
            if found is None or found.id != label:
                raise InvalidTransition(
                    f"interaction {interaction_id} was created for job {label}, not {job_id}"
                )
        job = service.store.find_job(label)
        if job is None:
            raise JobNotFound(label)
        if job.interaction_id:
            raise InvalidTransition(
                f"job {job.id} already has interaction {job.interaction_id}; nothing to adopt"
            )
        if job.job_status not in _AWAITING_ID:
            raise InvalidTransition(
                f"job {job.id} is {job.status}; only a submit_unknown job can adopt an interaction"
            )
        if not self._attach(job, remote.id, remote.status, source="adopted", remote=remote):
            raise InvalidTransition(f"job {job.id} changed meanwhile; see `gjobs show {job.id}`")
        return service.store.get_job(job.id)

    def _attach(
        self,
        job: Job,
        interaction_id: str,
        remote_status: str | None,
        *,
        source: str,
        remote: RemoteInteraction | None = None,
    ) -> bool:
        service = self.service
        now = service.clock.now()
        status = JobStatus.from_remote(remote_status)
        attached = service.store.attach_interaction(
            job.id,
            interaction_id=interaction_id,
            remote_status=remote_status,
            # A terminal status is recorded by the poll that fetches its output (due at once).
            status=JobStatus.UNKNOWN if status.is_terminal else status,
            now=now,
            next_poll_at=now + timedelta(seconds=0),
            awaiting=[s.value for s in _AWAITING_ID],
            detail=f"interaction {interaction_id} ({source})",
        )
        if attached and remote is not None and status.is_terminal:
            service.recorder.record_remote_unowned(service.store.get_job(job.id), remote)
        return attached


# States of a job that was (maybe) created remotely but has no interaction id in the store.
_AWAITING_ID = (JobStatus.SUBMITTING, JobStatus.SUBMIT_UNKNOWN)
