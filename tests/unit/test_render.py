"""T15: model text cannot drive the terminal; --json/--raw keep it exact."""

import io
from datetime import UTC, datetime

from rich.console import Console

from jobs import render
from jobs.models import Job, JobResult

HOSTILE = (
    "clear\x1b[2J\x1b[H"  # CSI clear screen + home
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # OSC 8 hyperlink
    "\x1b]52;c;aGFja2Vk\x07"  # OSC 52 clipboard write
    "\x9b31m c1-csi \x85 nel"  # 8-bit CSI, C1 NEL
    "\u202eevil-bidi\u202c \u2066iso\u2069"  # bidi override / isolate
    " [link=https://evil.example]rich markup[/link] [bold red]x[/]"
)


def test_safe_text_removes_every_control_and_keeps_the_words():
    cleaned = render.safe_text(HOSTILE)
    assert all(ch in "\n\t" or (0x20 <= ord(ch) < 0x7F) or ord(ch) > 0x9F for ch in cleaned)
    for bad in ("\x1b", "\x9b", "\x85", "\u202e", "\u2066", "\x07"):
        assert bad not in cleaned
    assert "clear" in cleaned and "click" in cleaned and "evil-bidi" in cleaned


def _render(renderable) -> str:
    out = io.StringIO()
    Console(file=out, width=100, force_terminal=True, color_system=None).print(renderable)
    return out.getvalue()


def test_show_prints_no_raw_control_bytes_and_no_live_markup():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    job = Job(
        id="abc234",
        model="m",
        status="completed",
        created_at=now,
        prompt_excerpt=HOSTILE,
        total_tokens=5,
    )
    result = JobResult(
        job_id="abc234", output_text=HOSTILE, thoughts_json='["' + "think\\u001b[2J" + '"]'
    )
    text = _render(
        render.show_job(job, result, now, chain=[job], events=[], labels={}, thoughts=True)
    )
    text += _render(render.jobs_table([job], now))
    # rich emits its own styling sequences only when asked (color_system=None: none at all).
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
    assert "[link=https://evil.example]" in text  # shown literally, not turned into a link


def test_job_detail_json_keeps_the_text_exact():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    job = Job(id="abc234", model="m", status="completed", created_at=now)
    result = JobResult(job_id="abc234", output_text=HOSTILE)
    assert render.job_detail_dict(job, result, {}, [])["output_text"] == HOSTILE


def test_human_durations():
    assert [render.human_duration(s) for s in (5, 75, 3700, 90000)] == [
        "5s",
        "1m15s",
        "1h01m",
        "1d01h",
    ]
