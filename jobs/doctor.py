"""`jobs doctor`: what an operator needs to know about a store and its workers."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
from dataclasses import dataclass
from datetime import timedelta

from jobs.app import App
from jobs.models import JobStatus
from jobs.models import Worker as WorkerRow
from jobs.render import human_duration
from jobs.store import JobFilter
from jobs.store.health import StoreHealth

# SQLite 3.7.0 to 3.51.2 can corrupt a WAL database when several connections write and checkpoint
# at once (https://sqlite.org/wal.html#walresetbug); fixed in 3.51.3.
WAL_RESET_FIXED = (3, 51, 3)
FREE_TIER_RETENTION = timedelta(days=1)


@dataclass
class Check:
    name: str
    level: str  # ok | info | warn | fail
    detail: str


def alive_workers(app: App, workers: list[WorkerRow] | None = None) -> list[WorkerRow]:
    """Workers that have not stopped and show a sign of life: a heartbeat within a few ticks (at
    least 30 s), or a lease they still hold (a long pass does not beat). A worker of this host
    whose process is gone is dead whatever its row says (SIGKILL leaves no `stopped_at`)."""
    now = app.service.clock.now()
    tick = float(app.settings["worker.tick"])
    beat_after = now - timedelta(seconds=max(30.0, 3 * tick))
    workers = app.store.list_workers() if workers is None else workers
    leasing = {owner for _job, owner, until in app.store.leases() if until and until >= now}
    return [
        w
        for w in workers
        if w.stopped_at is None
        and (w.heartbeat_at >= beat_after or w.id in leasing)
        and _process_may_live(w)
    ]


def _process_may_live(worker: WorkerRow) -> bool:
    if worker.hostname != socket.gethostname():
        return True  # another machine: only its heartbeat can tell
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process of that pid exists
        return True
    return True


def run_checks(app: App) -> list[Check]:
    store, service = app.store, app.service
    now = service.clock.now()
    checks: list[Check] = []
    database = app.database
    checks.append(Check("store", "info", f"{database.display_url} ({database.dialect})"))
    if database.read_only:
        checks.append(Check("writable", "warn", f"read-only: {database.read_only}"))

    path = database.sqlite_path
    if path is not None:
        modes = {
            p: stat.S_IMODE(p.stat().st_mode)
            for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
            if p.exists()
        }
        loose = [f"{p.name} is {m:o} (chmod 600 {p})" for p, m in modes.items() if m & 0o077]
        dir_mode = stat.S_IMODE(path.parent.stat().st_mode)
        if dir_mode & 0o077:
            loose.append(f"directory {path.parent} is {dir_mode:o} (chmod 700 {path.parent})")
        if loose:
            checks.append(
                Check("permissions", "warn", "others may read the store: " + "; ".join(loose))
            )
        else:
            checks.append(Check("permissions", "ok", f"files 0600, directory {dir_mode:o}"))

    integrity = StoreHealth(database).integrity()
    checks.append(
        Check(
            "integrity",
            "ok" if not integrity.problems else "fail",
            ("ok" if not integrity.problems else "; ".join(integrity.problems[:5]))
            + f" (checked: {'; '.join(integrity.checked)})",
        )
    )

    from jobs.migrate import SCHEMA_HEAD, current_revision

    revision = current_revision(database.engine)
    checks.append(
        Check(
            "migrations",
            "ok" if revision == SCHEMA_HEAD else "fail",
            f"at revision {revision} (code expects {SCHEMA_HEAD})",
        )
    )

    workers = store.list_workers()
    alive = alive_workers(app, workers)
    if database.dialect == "sqlite":
        version = tuple(int(x) for x in sqlite3.sqlite_version.split("."))
        if version < WAL_RESET_FIXED:
            level = "warn" if len(alive) > 1 else "info"
            checks.append(
                Check(
                    "sqlite",
                    level,
                    f"SQLite {sqlite3.sqlite_version} has the WAL-reset race (fixed in 3.51.3) "
                    "when several processes write; with many workers prefer PostgreSQL (JOBS_DB_URL)",
                )
            )
        else:
            checks.append(Check("sqlite", "ok", f"SQLite {sqlite3.sqlite_version}"))

    counts = store.count_by_status()
    active = sum(n for s, n in counts.items() if not JobStatus(s).is_terminal)
    if alive:
        names = ", ".join(
            f"{w.id} (beat {int((now - w.heartbeat_at).total_seconds())}s ago)" for w in alive
        )
        checks.append(Check("workers", "ok", f"{len(alive)} alive: {names}"))
    else:
        detail = "no worker alive"
        if workers:  # `jobs poll --once` from cron stops after each pass: say when one last ran
            last = workers[0]
            detail += (
                f" (last pass {int((now - last.heartbeat_at).total_seconds())}s ago by {last.id})"
            )
        if active:
            detail += "; active jobs wait: run `gjobs worker`"
        checks.append(Check("workers", "warn" if active else "info", detail))
    recently = now - timedelta(days=1)
    died = [
        w for w in workers if w.stopped_at is None and w not in alive and w.heartbeat_at >= recently
    ]
    if died:
        names = ", ".join(
            f"{w.id} ({human_duration((now - w.heartbeat_at).total_seconds())} ago)"
            for w in died[:5]
        )
        checks.append(
            Check(
                "dead workers",
                "info",
                f"{len(died)} ended without stopping (killed?) in the last day, last heartbeat: "
                f"{names}{' ...' if len(died) > 5 else ''}; their leases expire, others take over",
            )
        )

    leases = store.leases()
    expired = [job_id for job_id, _owner, until in leases if until and until < now]
    checks.append(
        Check(
            "leases",
            "warn" if expired else "ok",
            f"{len(leases)} held, {len(expired)} expired"
            + (f": {', '.join(expired[:10])}" if expired else ""),
        )
    )

    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no jobs"
    checks.append(Check("jobs", "info", summary))

    unknown = store.list_jobs(JobFilter(statuses=[JobStatus.SUBMIT_UNKNOWN.value]))
    if unknown:
        checks.append(
            Check(
                "submit_unknown",
                "warn",
                f"{len(unknown)} job(s) may exist remotely without their id: {', '.join(j.id for j in unknown[:10])}; "
                "see `gjobs show ID`, then `gjobs resubmit ID` or `gjobs cancel ID`",
            )
        )
    waiting = store.list_jobs(JobFilter(statuses=[JobStatus.REQUIRES_ACTION.value]))
    if waiting:
        checks.append(
            Check(
                "requires_action",
                "warn",
                f"{len(waiting)} job(s) wait for you: {', '.join(j.id for j in waiting[:10])}",
            )
        )

    live = store.list_jobs(JobFilter(statuses=[s.value for s in JobStatus if s.is_pollable]))
    stuck = [j for j in live if j.next_poll_at and now - j.next_poll_at > timedelta(minutes=10)]
    if stuck:
        checks.append(
            Check(
                "stuck",
                "warn",
                f"{len(stuck)} job(s) overdue for a poll by 10+ min: {', '.join(j.id for j in stuck[:10])}",
            )
        )
    stalled = [
        j for j in live if j.remote_updated_at and now - j.remote_updated_at > timedelta(hours=1)
    ]
    if stalled:
        checks.append(
            Check(
                "stalled",
                "warn",
                f"{len(stalled)} job(s) not updated by the API for 1h+: {', '.join(j.id for j in stalled[:10])}",
            )
        )
    checks.append(webhook_check(app, now))
    near = [j for j in live if j.submitted_at and now - j.submitted_at > FREE_TIER_RETENTION * 0.75]
    if near:
        checks.append(
            Check(
                "retention",
                "warn",
                f"{len(near)} unfinished job(s) older than 18h; the free tier forgets interactions after 1 day: {', '.join(j.id for j in near[:10])}",
            )
        )
    checks.extend(_schedule_and_notify_checks(app, now))
    return checks


def _schedule_and_notify_checks(app: App, now) -> list[Check]:
    """Failed schedule firings (last 24 h) and failed notification hooks (issue 11)."""
    service = app.service
    checks: list[Check] = []
    failed = service.schedules.store.failed_since(now - timedelta(days=1))
    if failed:
        shown = "; ".join(
            f"{name} at {f.fire_time:%Y-%m-%d %H:%M}Z: {f.detail[:200]}" for name, f in failed[:5]
        )
        checks.append(
            Check(
                "schedules",
                "warn",
                f"{len(failed)} firing(s) failed in the last 24h: {shown} "
                "(see `gjobs schedule history NAME`)",
            )
        )
    hooks = service.notify.store.failed(limit=5)
    if hooks:
        total = service.notify.store.count_failed()
        shown = "; ".join(f"{n.subject_kind} {n.subject_id}: {n.detail[:160]}" for n in hooks)
        checks.append(Check("notifications", "warn", f"{total} hook(s) failed: {shown}"))
    return checks


def webhook_check(app: App, now) -> Check:
    """Webhooks: off, or how deliveries fared over the last day (refused, missed: polled instead)."""
    health = app.service.webhooks.health(now)
    if not health["enabled"]:
        return Check("webhooks", "info", "off (webhooks.public_url unset): jobs are polled")
    counts = health["counts"]
    parts = [f"{n} {outcome}" for outcome, n in sorted(counts.items())] or ["no deliveries"]
    detail = f"receiver {health['receiver']}; last 24h: {', '.join(parts)}"
    last = health["last_received"]
    detail += (
        f"; last accepted {int((now - last).total_seconds())}s ago"
        if last
        else "; none accepted yet"
    )
    level = "ok"
    if counts.get("refused"):
        level = "warn"
        detail += f"; last refusal: {health['last_refusal']}"
    if health["missed"]:
        level = "warn"
        missed = health["missed"]
        detail += (
            f"; {len(missed)} of {health['ended_with_webhook']} job(s) ended without a delivery "
            f"(found by polling): {', '.join(missed[:10])}"
        )
    return Check("webhooks", level, detail)
