"""Documents, images, audio and video in an interaction's input: checked, described and counted.

A media block is `{"type": "document"|"image"|"audio"|"video", "data": BASE64 | "uri": ...,
"mime_type": ...}`. `check_block` refuses what the service refuses (both or neither of data and
uri, a MIME type the block's kind does not take, data that is not base64, inline data without a
MIME type); `describe` turns every block of an input into an `Attachment`: what it is, how big,
where it came from (inline, the Files API, an outside URL) and how many tokens it costs. The
fake model names them in its answer, so a test can see that they arrived, and `usage` counts
them by modality.

Token figures (Gemini's token-counting docs): 258 per image, 258 per PDF page, 32 per second of
audio, 263 per second of video; text documents as text (4 characters a token). What the bytes
do not say is estimated: PDF pages are counted from the file's `/Type /Page` objects, a WAV's
length from its header, other audio at 16 KB a second, video at 250 KB a second, an office
document at a page per 50 KB; an outside URL (size unknown) counts one image, one page, or a
minute. docs/emulator.md lists the figures and the limits with their sources.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from jobs.emulator.errors import EmulatorError, invalid_argument

KINDS = ("image", "audio", "video", "document")
# The MIME types each kind takes: google-genai 3.4.0's enums (ImageContentMimeType, ...), plus the
# text formats Gemini's document-understanding docs list, which are read as text.
TEXT_DOCUMENTS = frozenset(
    [
        "text/plain",
        "text/csv",
        "text/markdown",
        "text/md",
        "text/html",
        "text/css",
        "text/javascript",
        "application/x-javascript",
        "text/xml",
        "application/xml",
        "text/rtf",
        "text/x-python",
        "application/x-python",
        "application/json",
    ]
)
MIME_TYPES = {
    "image": frozenset(
        [
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/heic",
            "image/heif",
            "image/gif",
            "image/bmp",
            "image/tiff",
        ]
    ),
    "audio": frozenset(
        [
            "audio/wav",
            "audio/mp3",
            "audio/aiff",
            "audio/aac",
            "audio/ogg",
            "audio/flac",
            "audio/mpeg",
            "audio/m4a",
            "audio/l16",
            "audio/opus",
            "audio/alaw",
            "audio/mulaw",
            "audio/webm",
        ]
    ),
    "video": frozenset(
        [
            "video/mp4",
            "video/mpeg",
            "video/mpg",
            "video/mov",
            "video/avi",
            "video/x-flv",
            "video/webm",
            "video/wmv",
            "video/3gpp",
        ]
    ),
    "document": TEXT_DOCUMENTS
    | frozenset(
        [
            "application/pdf",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.ms-powerpoint",
            "application/vnd.oasis.opendocument.presentation",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-excel",
            "application/vnd.oasis.opendocument.spreadsheet",
        ]
    ),
}
TOKENS_PER_IMAGE = 258
TOKENS_PER_PAGE = 258
AUDIO_TOKENS_PER_SECOND = 32
VIDEO_TOKENS_PER_SECOND = 263
AUDIO_BYTES_PER_SECOND = 16_000  # 128 kbit/s, when the bytes do not say
VIDEO_BYTES_PER_SECOND = 250_000  # 2 Mbit/s
OFFICE_BYTES_PER_PAGE = 50_000
PDF_BYTES_PER_PAGE = 100_000  # a PDF whose page objects cannot be found (compressed object streams)
UNKNOWN_SECONDS = 60.0  # an outside URL's audio or video, whose length is unknown
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}|[A-Za-z0-9_-]*={0,2}")
_PAGE = re.compile(rb"/Type\s{0,3}/Page(?=[^A-Za-z])")
# A Files API URI: the service's own host (or the emulator's, on loopback), .../files/{id}
FILE_URI = re.compile(
    r"https?://(?:generativelanguage\.googleapis\.com|127\.0\.0\.1|localhost|\[::1\])(?::\d+)?"
    r"/[^/]+/files/([a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?)"
)


@dataclass(frozen=True)
class FileFacts:
    """What the Files API knows of an uploaded file (files.py answers these)."""

    name: str  # files/...
    display_name: str | None
    mime_type: str
    size: int
    pages: int | None = None
    seconds: float | None = None
    head: str = ""  # the first line of a text document


@dataclass(frozen=True)
class Limits:
    """The request-size limits the API states (files.py holds the configured values)."""

    inline_bytes: int  # base64 characters of inline data in one request
    inline_pdf_bytes: int  # decoded bytes of one inline PDF


@dataclass(frozen=True)
class Attachment:
    """One media block as the fake model sees it."""

    kind: str  # image | audio | video | document (the usage modality)
    mime_type: str
    source: str  # inline | file | url
    size: int | None  # bytes, None when unknown (an outside URL)
    name: str | None  # the file's display name or files/ name, or the URL
    pages: int | None = None
    seconds: float | None = None
    tokens: int = 0
    head: str = ""
    file: str | None = None  # files/... when it came from the Files API

    def describe(self, number: int) -> str:
        """'document "q3.pdf" (application/pdf, 4 pages, 12.3 KB, uploaded as files/abc)'."""
        name = self.name or self.file
        label = f'{self.kind} "{name}"' if name else f"{self.kind} {number}"
        facts = [self.mime_type]
        if self.pages is not None:
            facts.append(f"{self.pages} page{'s' if self.pages != 1 else ''}")
        if self.seconds is not None:
            facts.append(f"{self.seconds:.0f} s")
        if self.size is not None:
            facts.append(human_size(self.size))
        if self.file and self.file != name:
            facts.append(f"uploaded as {self.file}")
        elif self.source != "file":
            facts.append(self.source)
        text = f"{label} ({', '.join(facts)})"
        return f'{text}, beginning "{self.head}"' if self.head else text


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024**2:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024**2:.1f} MB"


# --- checks ------------------------------------------------------------------------------------


def unsupported(mime_type: str, where: str) -> EmulatorError:
    return invalid_argument(f"Unsupported MIME type: {mime_type}", field=f"{where}.mime_type")


def check_block(item: dict[str, Any], where: str) -> None:
    """Refuse a media block the service would refuse (400 INVALID_ARGUMENT)."""
    kind, mime = item["type"], item.get("mime_type")
    data, uri = item.get("data") or None, item.get("uri") or None  # empty is unset, as in proto3
    if data is None and uri is None:
        raise invalid_argument(f"'{where}' needs data or uri.", where)
    if data is not None and uri is not None:
        raise invalid_argument(f"'{where}' takes only one of data or uri.", where)
    if mime is not None and not isinstance(mime, str):
        raise invalid_argument(f"Invalid value at '{where}.mime_type': expected a string.", where)
    if mime is not None and mime.lower() not in MIME_TYPES[kind]:
        raise unsupported(mime, where)
    if data is not None:
        if not isinstance(data, str) or not is_base64(data):
            shown = str(data)[:20]
            raise invalid_argument(
                f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed for "
                f'"{shown}"',
                field=f"{where}.data",
            )
        if mime is None:
            raise invalid_argument(f"'{where}.mime_type' is required with inline data.", where)
    elif not isinstance(uri, str) or not uri:
        raise invalid_argument(f"Invalid value at '{where}.uri': expected a URI.", where)


def is_base64(text: str) -> bool:
    """Standard or URL-safe base64, padded or not (what proto3 JSON accepts for bytes)."""
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1 or not _BASE64.fullmatch(text):
        return False
    return len(text) % 4 == 0 or text == stripped


def decode(text: str, limit: int | None = None) -> bytes:
    """The bytes of base64 `text` (or of its first `limit`-ish bytes)."""
    if limit is not None:
        text = text[: (limit // 3 + 1) * 4]
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # checked before, so only a cut in the middle
        return b""


def decoded_size(text: str) -> int:
    stripped = text.rstrip("=")
    return len(stripped) * 3 // 4


# --- describing --------------------------------------------------------------------------------


def blocks(value: Any) -> Iterator[dict[str, Any]]:
    """The media blocks of an `input` (a content object, content list or steps), in order."""
    items = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
    for item in items:
        if not isinstance(item, dict):
            continue
        if item.get("type") in KINDS:
            yield item
        elif item.get("type") in ("user_input", "model_output"):
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") in KINDS:
                    yield part


def describe(
    value: Any, lookup: Callable[[str], FileFacts], limits: Limits
) -> tuple[Attachment, ...]:
    """Every media block of an input as an Attachment; raises what the service answers for a
    request too large, an inline PDF over its limit, or a Files API URI it cannot use."""
    found = list(blocks(value))
    inline = sum(len(b["data"]) for b in found if isinstance(b.get("data"), str))
    if inline > limits.inline_bytes:
        raise invalid_argument(
            f"Request payload size exceeds the limit: {limits.inline_bytes} bytes."
        )
    return tuple(_attachment(block, lookup, limits) for block in found)


def _attachment(block: dict[str, Any], lookup: Callable[[str], FileFacts], limits: Limits) -> Attachment:  # fmt: skip
    kind = block["type"]
    mime = (block.get("mime_type") or "").lower()
    data, uri = block.get("data") or None, block.get("uri") or None
    if isinstance(data, str):
        size = decoded_size(data)
        if mime == "application/pdf" and size > limits.inline_pdf_bytes:
            raise invalid_argument(
                f"An inline PDF may be at most {limits.inline_pdf_bytes} bytes; this one is "
                f"{size} bytes. Upload it with the Files API."
            )
        pages, seconds, head = measure(kind, mime, size, data)
        return _counted(Attachment(kind, mime, "inline", size, None, pages, seconds, head=head))
    match = FILE_URI.fullmatch(uri or "")
    if match is None:  # an outside URL (or gs://): fetched by the service, size unknown
        pages = 1 if kind == "document" else None
        seconds = UNKNOWN_SECONDS if kind in ("audio", "video") else None
        return _counted(Attachment(kind, mime or "application/octet-stream", "url", None, uri, pages, seconds))  # fmt: skip
    facts = lookup(match.group(1))
    file_mime = mime or facts.mime_type.lower()
    if file_mime not in MIME_TYPES[kind]:
        raise unsupported(file_mime, "input")
    made = Attachment(kind, file_mime, "file", facts.size, facts.display_name, facts.pages, facts.seconds, head=facts.head, file=facts.name)  # fmt: skip
    return _counted(made)


def measure(kind: str, mime: str, size: int, data: str) -> tuple[int | None, float | None, str]:
    """(pages, seconds, first line) of inline data, decoding only what is needed."""
    if kind == "document" and mime == "application/pdf":
        counter = PageCounter()
        counter.feed(decode(data))
        return counter.pages(size), None, ""
    if kind == "document" and mime in TEXT_DOCUMENTS:
        return None, None, first_line(decode(data, 512))
    if kind == "document":
        return max(1, math.ceil(size / OFFICE_BYTES_PER_PAGE)), None, ""
    if kind in ("audio", "video"):
        return None, seconds_of(kind, mime, size, decode(data, 64)), ""
    return None, None, ""


def _counted(a: Attachment) -> Attachment:
    if a.kind == "image":
        tokens = TOKENS_PER_IMAGE
    elif a.kind == "audio":
        tokens = math.ceil((a.seconds or 0) * AUDIO_TOKENS_PER_SECOND)
    elif a.kind == "video":
        tokens = math.ceil((a.seconds or 0) * VIDEO_TOKENS_PER_SECOND)
    elif a.mime_type in TEXT_DOCUMENTS and a.size is not None:
        tokens = math.ceil(a.size / 4)
    else:
        tokens = (a.pages or 1) * TOKENS_PER_PAGE
    return replace(a, tokens=max(1, tokens))


def seconds_of(kind: str, mime: str, size: int, head: bytes) -> float:
    """How long audio or video lasts: a WAV header's byte rate, else the assumed bit rate."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" and len(head) >= 32:
        byte_rate = int.from_bytes(head[28:32], "little")
        if byte_rate:
            return max(0.0, (size - 44) / byte_rate)
    per_second = AUDIO_BYTES_PER_SECOND if kind == "audio" else VIDEO_BYTES_PER_SECOND
    return size / per_second


def first_line(head: bytes) -> str:
    text = head.decode("utf-8", errors="replace").strip()
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= 60 else line[:59].rstrip() + "…"


class PageCounter:
    """Counts a PDF's page objects in bytes that arrive in pieces (an upload's chunks)."""

    TAIL = 16  # longer than any match with its look-ahead byte

    def __init__(self) -> None:
        self.count = 0
        self._tail = b""

    def feed(self, chunk: bytes, final: bool = True) -> None:
        buf = self._tail + chunk + (b"\n" if final else b"")
        # a match is new when its look-ahead byte is (the one before it was counted last time)
        self.count += sum(1 for m in _PAGE.finditer(buf) if m.end() >= len(self._tail))
        self._tail = buf[-self.TAIL :] if not final else b""

    def pages(self, size: int) -> int:
        return self.count or max(1, math.ceil(size / PDF_BYTES_PER_PAGE))
