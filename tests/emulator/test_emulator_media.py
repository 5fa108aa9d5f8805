"""Documents, images, audio and video in the input, through the real SDK: checked as the service
checks them, counted in `usage` by modality, and named in the answer so a test sees they arrived."""

from __future__ import annotations

import base64
import io
import struct

import pytest
from emulator_checks import assert_known, strict_interaction
from google.genai import _interactions as errors

from jobs.emulator import media

MODEL = "gemini-3-flash-preview"
AGENT = "deep-research-preview-04-2026"


def pdf(pages: int) -> bytes:
    objects = b"".join(b"%d 0 obj << /Type /Page /Parent 2 0 R >> endobj\n" % (n + 3) for n in range(pages))  # fmt: skip
    return b"%PDF-1.4\n2 0 obj << /Type /Pages /Count " + str(pages).encode() + b" >> endobj\n" + objects + b"%%EOF\n"  # fmt: skip


def wav(seconds: float, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV file of silence: its header says 2 * rate bytes a second."""
    data = bytes(int(seconds * rate) * 2)
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)  # fmt: skip
    return header + b"data" + struct.pack("<I", len(data)) + data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def modalities(usage) -> dict[str, int]:
    return {m.modality: m.tokens for m in usage.input_tokens_by_modality}


def test_documents_images_and_audio_are_counted_and_named(client, emulator):
    csv = b"region,revenue\nnorth,10\nsouth,12\n"
    done = client.interactions.create(
        model=MODEL,
        input=[
            {"type": "text", "text": "Compare these"},
            {"type": "document", "data": b64(pdf(3)), "mime_type": "application/pdf"},
            {"type": "document", "data": b64(csv), "mime_type": "text/csv"},
            {"type": "image", "data": b64(b"\x89PNG fake"), "mime_type": "image/png"},
            {"type": "audio", "data": b64(wav(10)), "mime_type": "audio/wav"},
        ],
    )
    assert done.status == "completed"
    assert_known(done)
    counted = modalities(done.usage)
    assert counted["document"] == 3 * media.TOKENS_PER_PAGE + -(-len(csv) // 4)  # ceil(len / 4)
    assert counted["image"] == media.TOKENS_PER_IMAGE
    assert counted["audio"] == 10 * media.AUDIO_TOKENS_PER_SECOND  # the WAV header's length
    assert done.usage.total_input_tokens == sum(counted.values())
    text = done.output_text
    assert "document 1 (application/pdf, 3 pages" in text
    assert 'document 2 (text/csv, 33 B, inline), beginning "region,revenue"' in text
    assert "image 3 (image/png" in text and "audio 4 (audio/wav, 10 s" in text


def test_an_uploaded_file_is_named_by_its_display_name(client, clock):
    made = client.files.upload(
        file=io.BytesIO(pdf(2)), config={"mime_type": "application/pdf", "display_name": "q3.pdf"}
    )
    clock.advance(5)
    done = client.interactions.create(
        model=MODEL,
        input=[{"type": "text", "text": "Summarise"}, {"type": "document", "uri": made.uri}],
    )
    assert 'document "q3.pdf" (application/pdf, 2 pages, ' in done.output_text
    assert f"uploaded as {made.name}" in done.output_text
    assert modalities(done.usage)["document"] == 2 * media.TOKENS_PER_PAGE


def test_a_research_report_lists_its_material(client, emulator, clock):
    emulator.backend.configure(speed=600)
    created = client.interactions.create(
        agent=AGENT,
        input=[
            {"type": "text", "text": "What changed in glass recycling?"},
            {"type": "document", "data": b64(pdf(4)), "mime_type": "application/pdf"},
        ],
        background=True,
    )
    clock.advance(5)
    raw = client.interactions.with_raw_response.get(created.id).json()
    report = strict_interaction(raw).output_text
    assert "## Material provided\n\n- document 1 (application/pdf, 4 pages" in report


@pytest.mark.parametrize(
    ("block", "says"),
    [
        (
            {"type": "document", "data": "not base64!", "mime_type": "application/pdf"},
            "Base64 decoding failed",
        ),  # fmt: skip
        (
            {"type": "document", "data": "QUJD=", "mime_type": "application/pdf"},
            "Base64 decoding failed",
        ),  # fmt: skip
        (
            {"type": "image", "data": "QUJD", "mime_type": "image/x-unknown"},
            "Unsupported MIME type: image/x-unknown",
        ),  # fmt: skip
        (
            {"type": "image", "data": "QUJD", "mime_type": "application/pdf"},
            "Unsupported MIME type: application/pdf",
        ),  # fmt: skip
        ({"type": "audio", "mime_type": "audio/wav"}, "needs data or uri"),
        (
            {
                "type": "video",
                "data": "QUJD",
                "uri": "https://x.example/v.mp4",
                "mime_type": "video/mp4",
            },
            "only one of data or uri",
        ),  # fmt: skip
        ({"type": "document", "data": "QUJD"}, "mime_type' is required"),
    ],
)
def test_bad_media_blocks_are_refused(client, emulator, block, says):
    with pytest.raises(errors.BadRequestError) as refused:
        client.interactions.create(model=MODEL, input=[{"type": "text", "text": "x"}, block])
    assert says in refused.value.body["error"]["message"]
    assert emulator.backend.stats()["creates"] == 0


def test_url_safe_and_unpadded_base64_are_accepted(client):
    for data in ("QUI", "_-_-", "QUJD"):
        done = client.interactions.create(
            model=MODEL, input=[{"type": "document", "data": data, "mime_type": "text/plain"}]
        )
        assert done.status == "completed"


def test_the_inline_limits(client, emulator):
    emulator.backend.configure(inline_limit_bytes=1000, inline_pdf_limit_bytes=500)
    big = {"type": "document", "data": b64(b"x" * 800), "mime_type": "text/plain"}  # 1068 chars
    with pytest.raises(errors.BadRequestError) as refused:
        client.interactions.create(model=MODEL, input=[big])
    assert "Request payload size exceeds the limit: 1000 bytes." in str(refused.value)
    document = {
        "type": "document",
        "data": b64(pdf(1) + b" " * 500),
        "mime_type": "application/pdf",
    }
    with pytest.raises(errors.BadRequestError) as too_big:
        client.interactions.create(model=MODEL, input=[document])
    assert "Upload it with the Files API" in str(too_big.value)


def test_an_outside_url_counts_one_of_each(client):
    done = client.interactions.create(
        model=MODEL,
        input=[
            {"type": "text", "text": "Watch and read"},
            {"type": "video", "uri": "https://media.example/talk.mp4", "mime_type": "video/mp4"},
            {"type": "document", "uri": "gs://bucket/paper.pdf", "mime_type": "application/pdf"},
        ],
    )
    counted = modalities(done.usage)
    assert counted["video"] == 60 * media.VIDEO_TOKENS_PER_SECOND
    assert counted["document"] == media.TOKENS_PER_PAGE
    assert 'video "https://media.example/talk.mp4" (video/mp4, 60 s, url)' in done.output_text


def test_page_counting_across_chunk_boundaries():
    data = pdf(7) + b"/Type /Pages"  # a Pages object at the very end is not a page
    for cut in range(1, len(data)):
        counter = media.PageCounter()
        counter.feed(data[:cut], final=False)
        counter.feed(data[cut:], final=False)
        counter.feed(b"", final=True)
        assert counter.count == 7, cut
