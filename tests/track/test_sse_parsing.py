"""The gateway's SSE reader splits a stream exactly as google-genai's own parser does.

`gateway.sse_data` replaces the SDK's byte-at-a-time `stream_events` loop (most of a stream's
CPU); these tests feed both the same bytes, cut into chunks anywhere, and compare the data of
every event they hand on."""

from __future__ import annotations

import json

from google.genai._gaos.utils.eventstreaming import stream_events
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.gateway import sse_data


class FakeResponse:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def iter_bytes(self):
        yield from self.chunks

    def close(self) -> None:
        self.closed = True


def sdk_data(chunks: list[bytes]) -> list[str]:
    """What the SDK's parser hands on as each event's data, as text."""
    out = []
    for item in stream_events(FakeResponse(chunks), json.loads, sentinel=None):
        data = item["data"]
        out.append(data if isinstance(data, str) else json.dumps(data))
    return out


def ours(chunks: list[bytes]) -> list[str]:
    out = []
    for text in sse_data(FakeResponse(chunks)):
        try:
            data = json.loads(text)
        except ValueError:
            out.append(text)
        else:
            out.append(data if isinstance(data, str) else json.dumps(data))
    return out


def cut(body: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % (len(body) + 1) for p in points} | {0, len(body)})
    return [body[a:b] for a, b in zip(points, points[1:], strict=False)] or [b""]


LINE_ENDS = [b"\n", b"\r\n", b"\r"]
FIELDS = st.sampled_from(
    [
        b'data: {"event_type": "content.delta", "delta": {"text": "h\xc3\xa9"}}',
        b"data:[DONE]",
        b"data: plain text",
        b"data",
        b"data:",
        b"data:  two spaces",
        b"id: evt_1",
        b"event: message",
        b": a comment",
        b"retry: 100",
        b"dat: not data",
        b"data2: not data",
        b'data: {"a": 1,',
        b'data: "b": 2}',
    ]
)


@st.composite
def sse_bodies(draw) -> bytes:
    body = b""
    if draw(st.booleans()):
        body += b"\xef\xbb\xbf"
    for _ in range(draw(st.integers(0, 6))):
        for line in draw(st.lists(FIELDS, min_size=0, max_size=4)):
            body += line + draw(st.sampled_from(LINE_ENDS))
        body += draw(st.sampled_from(LINE_ENDS + [b"\n\n", b"\r\n\r\n", b"\r\r"]))
    return body


@settings(max_examples=400, deadline=None)
@given(sse_bodies(), st.lists(st.integers(0, 10_000), max_size=8))
def test_same_events_as_the_sdk_however_the_bytes_are_cut(body: bytes, points: list[int]) -> None:
    chunks = cut(body, points)
    assert ours(chunks) == sdk_data(chunks)


def test_events_multiline_data_done_and_a_last_event_without_a_blank_line() -> None:
    body = (
        b'\xef\xbb\xbfdata: {"event_type": "a",\ndata: "n": 1}\n\n'
        b": keep-alive\n\n"
        b"id: 7\nevent: x\n\n"  # no data: skipped
        b'data: {"event_type": "b"}\r\n\r\n'
        b"data: [DONE]\r\r"
        b'data: {"event_type": "tail"}'
    )
    for size in (3, 5, len(body)):  # (a BOM cut in two is kept by the SDK too: compared below)
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        got = list(sse_data(FakeResponse(chunks)))
        assert got == [
            '{"event_type": "a",\n"n": 1}',
            '{"event_type": "b"}',
            "[DONE]",
            '{"event_type": "tail"}',
        ]
    for size in (1, 2, 3, 5, len(body)):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        assert ours(chunks) == sdk_data(chunks)


def test_the_response_is_closed_when_the_reader_stops_early() -> None:
    response = FakeResponse([b"data: 1\n\ndata: 2\n\n"])
    reader = sse_data(response)
    assert next(reader) == "1"
    reader.close()
    assert response.closed
