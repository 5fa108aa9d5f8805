from datetime import UTC, datetime, timedelta

import pytest

from jobs.cli.jobs_cmds import parse_since
from jobs.errors import UsageError
from jobs.models import JobStatus
from jobs.service import JOB_LABEL, parse_labels


def test_labels_parse_and_validate():
    assert parse_labels(["team=research", "run=n-1"]) == {"team": "research", "run": "n-1"}
    for bad in ["noequals", "Upper=x", "k=Has Space", "1key=v", f"{JOB_LABEL}=x", "k=" + "x" * 64]:
        with pytest.raises(UsageError):
            parse_labels([bad])


def test_since_accepts_durations_and_dates():
    now = datetime(2026, 6, 10, 12, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-06-01", now) == datetime(2026, 6, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match="bad --since"):
        parse_since("yesterday-ish", now)


def test_remote_status_mapping_is_open():
    assert JobStatus.from_remote("completed") is JobStatus.COMPLETED
    assert JobStatus.from_remote("paused_for_lunch") is JobStatus.UNKNOWN
    assert JobStatus.from_remote(None) is JobStatus.UNKNOWN
    assert JobStatus.from_remote("requires_continuation") is JobStatus.UNKNOWN
    assert JobStatus.EXPIRED.is_terminal and not JobStatus.UNKNOWN.is_terminal
    assert JobStatus.UNKNOWN.is_pollable and not JobStatus.SUBMIT_UNKNOWN.is_pollable
