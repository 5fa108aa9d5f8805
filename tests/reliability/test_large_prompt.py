"""Issue 8: a 50 MB prompt took 820 MB of RSS and grew the store by 150 MB for one job. A prompt
is written to the store once, with the request exactly as it is sent: never rewritten, not again
inside the stored interaction resource, and not again in the stored timeline (`steps`), whose
user_input step names the request instead (readers get it back as the API returned it)."""

from __future__ import annotations

import sqlalchemy as sa

from jobs import render
from jobs.service import JOB_LABEL, SubmitSpec

SIZE = 3_000_000


def test_a_large_prompt_is_written_to_the_store_once(service, emulator, clock):
    prompt = ("lorem ipsum dolor sit amet " * (SIZE // 27 + 1))[:SIZE]
    written: list[int] = []

    def count(_conn, _cursor, _statement, params, _context, _executemany):
        values = params.values() if isinstance(params, dict) else (params or ())
        written.extend(len(v) for v in values if isinstance(v, str) and len(v) >= SIZE)

    sa.event.listen(service.store.db.engine, "before_cursor_execute", count)
    try:
        job = service.submit_new(SubmitSpec(prompt=prompt))
        for _ in range(20):
            clock.advance(5)
            service.run_pass()
    finally:
        sa.event.remove(service.store.db.engine, "before_cursor_execute", count)
    assert service.get_job(job.id).status == "completed"
    # Today: 4 writes (the request rewritten when sent, the API's timeline repeating it in the
    # steps, and the resource's `input` echo and steps again inside raw_json).
    assert len(written) == 1, f"the prompt was written {len(written)} times"
    job = service.get_job(job.id)
    assert f'"{JOB_LABEL}": "{job.id}"' in job.request_json  # what is stored is what was sent
    assert len(job.prompt_excerpt) <= 200
    # ... and readers still see the timeline as the API returned it
    detail = render.job_detail_dict(job, service.get_result(job.id), {}, [])
    first = detail["steps"][0]
    assert first == {"type": "user_input", "content": [{"type": "text", "text": prompt}]}
    assert detail["output_text"]
