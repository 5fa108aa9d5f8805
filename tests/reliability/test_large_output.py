"""T13: a 20 MB output is stored whole; listings never load it; `show --raw` gives it back byte-exact."""

from __future__ import annotations

import io
import json
import subprocess
import tracemalloc

import pytest
from reliability_checks import JOBS_BIN, check_invariants, run_passes
from rich.console import Console

from jobs import render
from jobs.service import SubmitSpec

pytestmark = pytest.mark.slow

SIZE = 20 * 1024 * 1024


def list_peak(service) -> int:
    """Peak Python memory of what `jobs list` and `jobs list --json` do."""
    tracemalloc.start()
    try:
        jobs = service.list_jobs()
        Console(file=io.StringIO(), width=120).print(render.jobs_table(jobs, service.clock.now()))
        labels = service.store.labels_for(j.id for j in jobs)
        json.dumps([render.job_dict(j, labels[j.id]) for j in jobs])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def expected_text(emulator, interaction_id: str) -> str:
    remote = emulator.backend.get(interaction_id)
    return "".join(
        item["text"]
        for step in remote["steps"]
        if step["type"] == "model_output"
        for item in step["content"]
        if item["type"] == "text"
    )


def test_T13_a_20_MB_output_is_stored_whole_and_listings_stay_small(
    service, settings, emulator, clock
):
    small = [service.submit_new(SubmitSpec(prompt=f"small {i}")).id for i in range(5)]
    run_passes(
        service, clock, until=lambda: all(service.get_job(i).job_status.is_terminal for i in small)
    )
    baseline = list_peak(service)

    emulator.backend.configure(output_bytes=SIZE)
    big = service.submit_new(SubmitSpec(prompt="write me a very long report")).id
    run_passes(service, clock, until=lambda: service.get_job(big).job_status.is_terminal, step=5)
    job, result = service.get_job(big), service.get_result(big)
    want = expected_text(emulator, job.interaction_id)
    assert len(want.encode()) == SIZE
    assert job.status == "completed" and result.output_text == want and job.output_chars == SIZE

    with_big = list_peak(service)
    # a listing never reads the output: memory within 1 MB of the listing without the big job
    assert with_big < baseline + 1024 * 1024, (baseline, with_big)

    env = {"JOBS_HOME": str(settings.home), "PATH": "/usr/bin:/bin"}
    raw = subprocess.run(
        [str(JOBS_BIN), "show", "--raw", big], env=env, capture_output=True, timeout=120
    )
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout == want.encode("utf-8")
    listing = subprocess.run([str(JOBS_BIN), "list"], env=env, capture_output=True, timeout=60)
    assert (
        listing.returncode == 0 and big.encode() in listing.stdout and len(listing.stdout) < 20_000
    )
    check_invariants(service.store, emulator.backend.stats(), accepted=[*small, big])
