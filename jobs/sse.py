"""Server-sent events, split from a streamed response's bytes (the gateway's streams).

The SDK opens every stream (its transport, auth, headers and errors); only the body's framing is
read here, exactly as google-genai's `eventstreaming.stream_events` reads it (tests/track/
test_sse_parsing.py checks the two against each other on random chunkings), but with the byte scan
done by a regular expression instead of a Python loop: that loop was most of a stream's CPU."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# What ends an SSE event: two line ends of any kind, tried in the SDK's order at each position.
_SSE_BOUNDARY = re.compile(rb"\r\n\r\n|\r\n\r|\r\n\n|\r\r\n|\n\r\n|\r\r|\n\r|\n\n")
_SSE_LINE = re.compile(r"\r?\n|\r")
_UTF8_BOM = b"\xef\xbb\xbf"


def sse_data(response: Any) -> Iterator[str]:
    """The `data` of each server-sent event of `response` (the SDK's httpx response), as text.

    The same splitting as google-genai's `eventstreaming.stream_events` (same boundaries, in the
    same order, searched from the same place after each chunk; a BOM dropped; the rest after the
    last boundary is the last event; an event without data is skipped), with the byte scan done
    by a regular expression instead of a Python loop. The response is closed at the end."""
    try:
        buffer = bytearray()
        position = 0
        for chunk in response.iter_bytes():
            if not buffer and chunk.startswith(_UTF8_BOM):
                chunk = chunk[len(_UTF8_BOM) :]
            old_len = len(buffer)
            buffer += chunk
            start = max(position, old_len - 3)
            while (match := _SSE_BOUNDARY.search(buffer, start)) is not None:
                data = _sse_event_data(buffer[position : match.start()])
                position = match.end()
                start = match.start() + 1  # as the SDK: the next boundary may begin inside this one
                if data is not None:
                    yield data
            if position > 0:
                del buffer[:position]
                position = 0
        data = _sse_event_data(buffer)
        if data is not None:
            yield data
    finally:
        response.close()


def _sse_event_data(block: bytearray) -> str | None:
    """The `data` lines of one event joined by newlines (the SDK's `_parse_event`), or None."""
    if not block:
        return None
    parts = []
    for line in _SSE_LINE.split(block.decode()):
        if line.startswith("data"):
            delim = line.find(":")
            if delim == 4:
                value = line[5:]
                parts.append(value[1:] if value.startswith(" ") else value)
            elif delim == -1 and line == "data":
                parts.append("")
    return "\n".join(parts) if parts else None
