"""The invariants every reliability test ends with, and the helpers the tests share.

After each fault the store must still satisfy, whatever happened:

1. every accepted submit has a row;
2. at most one remote create per job (the emulator's `creates_by_label`), exactly one for every job
   that has an interaction id, plus one per explicit `jobs resubmit`; no remote interaction without a
   local row;
3. terminal states never change (status, output, usage, finish time) between two snapshots;
4. `PRAGMA integrity_check` is ok (SQLite);
5. the canary API key appears in no output, log, database, -wal or -shm byte.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from waiting import wait_for  # noqa: F401  (re-exported for the reliability tests)

from jobs.models import JobStatus
from jobs.service import JOB_LABEL
from jobs.store import JobStore

REPO = Path(__file__).resolve().parents[2]
JOBS_BIN = Path(sys.executable).with_name("jobs")


@dataclass(frozen=True)
class Snap:
    """What must never change once a job is terminal."""

    status: str
    interaction_id: str | None
    finished_at: datetime | None
    output_sha: str | None
    usage: tuple[Any, ...]


def snapshot(store: JobStore) -> dict[str, Snap]:
    out: dict[str, Snap] = {}
    for job in store.list_jobs():
        sha = None
        if job.job_status.is_terminal:
            result = store.get_result(job.id)
            if result is not None:
                sha = hashlib.sha256(
                    (
                        result.output_text + "\0" + result.usage_json + "\0" + result.raw_json
                    ).encode()
                ).hexdigest()
        usage = (
            job.input_tokens,
            job.output_tokens,
            job.thought_tokens,
            job.total_tokens,
            job.output_chars,
        )
        out[job.id] = Snap(job.status, job.interaction_id, job.finished_at, sha, usage)
    return out


def resubmits(store: JobStore, job_id: str) -> int:
    return sum(1 for e in store.events_for(job_id) if e.kind == "resubmit")


def creates_by_job(stats: dict[str, Any]) -> Counter[str]:
    prefix = f"{JOB_LABEL}="
    return Counter(
        {k[len(prefix) :]: v for k, v in stats["creates_by_label"].items() if k.startswith(prefix)}
    )


def check_invariants(
    store: JobStore,
    stats: dict[str, Any],
    *,
    accepted: Iterable[str] = (),
    before: dict[str, Snap] | None = None,
    canary: str | None = None,
    texts: Iterable[str | bytes] = (),
    files: Iterable[Path] = (),
) -> dict[str, Snap]:
    """Assert the five invariants; returns a fresh snapshot (for the next `before`)."""
    now = snapshot(store)
    # 1. every accepted submit has a row
    missing = [j for j in accepted if j not in now]
    assert not missing, f"accepted jobs without a row: {missing}"
    # 2. at most one create per job (plus explicit resubmits); one for each job with an id
    creates = creates_by_job(stats)
    for job_id, count in creates.items():
        assert job_id in now, f"interaction created for {job_id}, which has no local row"
        allowed = 1 + resubmits(store, job_id)
        assert count <= allowed, f"job {job_id} was created {count} times (allowed {allowed})"
    for job_id, snap in now.items():
        if snap.interaction_id:
            assert creates[job_id] >= 1, (
                f"job {job_id} has interaction {snap.interaction_id} but no create"
            )
    # 3. terminal states are absorbing
    for job_id, old in (before or {}).items():
        if JobStatus(old.status).is_terminal:
            assert now.get(job_id) == old, (
                f"terminal job {job_id} changed: {old} -> {now.get(job_id)}"
            )
    # 4. integrity
    assert store.integrity_check() == [], store.integrity_check()
    # 5. the canary key
    if canary:
        assert_no_canary(canary, texts=texts, files=[*files, *store_files(store)])
    return now


def store_files(store: JobStore) -> list[Path]:
    path = store.db.sqlite_path
    if path is None:
        return []
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def assert_no_canary(
    canary: str, *, texts: Iterable[str | bytes] = (), files: Iterable[Path] = ()
) -> None:
    """The key, or a distinctive 12-character slice of it, appears nowhere."""
    needles = {canary.encode(), canary[4:16].encode()}
    for i, text in enumerate(texts):
        data = text.encode("utf-8", "replace") if isinstance(text, str) else text
        for needle in needles:
            assert needle not in data, (
                f"the API key leaked into output #{i}: ...{_around(data, needle)}..."
            )
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"the API key leaked into {path}"


def _around(data: bytes, needle: bytes) -> str:
    at = data.find(needle)
    return data[max(0, at - 80) : at + 80].decode("utf-8", "replace")


def run_passes(
    service, clock, *, until: Callable[[], bool], step: float = 2.0, limit: int = 2000
) -> int:
    """Advance the fake clock and run worker passes until `until()`; returns the passes made."""
    for n in range(limit):
        if until():
            return n
        clock.advance(step)
        service.run_pass()
    raise AssertionError(f"no convergence after {limit} passes: {service.store.count_by_status()}")


def all_settled(store: JobStore) -> bool:
    """Every job terminal (or submit_unknown, which waits for the user)."""
    return all(
        JobStatus(s).is_terminal or s == JobStatus.SUBMIT_UNKNOWN.value
        for s in store.count_by_status()
    )


def fake_clock_after(seconds: float):
    """A FakeClock `seconds` past the real time: what a survivor sees once a real lease expired."""
    from jobs.clock import FakeClock

    return FakeClock(datetime.now(UTC) + timedelta(seconds=seconds))


# -- subprocesses ------------------------------------------------------------------------------------


@dataclass
class Cli:
    """Runs `jobs` commands and small Python drivers as separate processes against one store."""

    home: Path
    env: dict[str, str]

    def command(
        self, *args: str, crash_at: str | None = None, extra_env: dict[str, str] | None = None
    ) -> tuple[list[str], dict[str, str]]:
        env = {**self.env, **(extra_env or {})}
        if crash_at:
            env["JOBS_CRASH_AT"] = crash_at
        return [str(JOBS_BIN), *args], env

    def run(
        self,
        *args: str,
        crash_at: str | None = None,
        input: str | None = None,
        extra_env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        argv, env = self.command(*args, crash_at=crash_at, extra_env=extra_env)
        return subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            cwd=self.home,
        )

    def python(
        self,
        code: str,
        *args: str,
        crash_at: str | None = None,
        extra_env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        if crash_at:
            env["JOBS_CRASH_AT"] = crash_at
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )

    def popen(
        self,
        code: str,
        *args: str,
        extra_env: dict[str, str] | None = None,
        stdout=None,
        stderr=None,
    ) -> subprocess.Popen:
        env = {**self.env, **(extra_env or {})}
        return subprocess.Popen(
            [sys.executable, "-c", code, *args],
            env=env,
            cwd=self.home,
            stdout=stdout or subprocess.PIPE,
            stderr=stderr or subprocess.PIPE,
            text=True,
        )


def make_cli(
    home: Path,
    base_url: str,
    *,
    key: str = "test-key",
    db_url: str | None = None,
    config: dict[str, dict[str, Any]] | None = None,
) -> Cli:
    """A JOBS_HOME with an optional config.toml (0600), and the environment to use it."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if config:
        lines = []
        for section, values in config.items():
            lines.append(f"[{section}]")
            lines.extend(
                f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"'
                for k, v in values.items()
            )
        path = home / "config.toml"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "GEMINI_", "GOOGLE_"))}
    env.update(
        {
            "JOBS_HOME": str(home),
            "GEMINI_API_KEY": key,
            "GOOGLE_GEMINI_BASE_URL": base_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if db_url:
        env["JOBS_DB_URL"] = db_url
    return Cli(home, env)
