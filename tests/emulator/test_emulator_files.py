"""The Files API through the real SDK (google-genai 3.4.0): the resumable upload, get, list with
paging, delete, processing on emulated time, the 48-hour expiry, the limits, and the faults (an
upload refused mid-way, a file that ends FAILED). A few checks speak the upload protocol raw, to
see the headers the SDK relies on."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from datetime import timedelta

import httpx2
import pytest
from emulator_checks import API_KEY, make_client
from google.genai import errors as genai_errors
from google.genai import types

from jobs.emulator.files import CHUNK_GRANULARITY

MODEL = "gemini-3-flash-preview"
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] /Count 3 >> endobj\n"
    b"3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n4 0 obj << /Type /Page /Parent 2 0 R >> endobj\n"
    b"5 0 obj << /Type /Page /Parent 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)


def upload(client, data: bytes = PDF, **config):
    config.setdefault("mime_type", "application/pdf")
    return client.files.upload(file=io.BytesIO(data), config=config)


def test_upload_answers_a_processing_file_that_turns_active(client, emulator, clock):
    made = upload(client, display_name="Quarterly report")
    assert made.name.startswith("files/") and len(made.name) > len("files/")
    assert made.display_name == "Quarterly report" and made.mime_type == "application/pdf"
    assert made.size_bytes == len(PDF) and made.source == types.FileSource.UPLOADED
    digest = hashlib.sha256(PDF).hexdigest()
    assert base64.b64decode(made.sha256_hash).decode() == digest  # the service's bytes field
    assert made.uri == "https://generativelanguage.googleapis.com/v1beta/files/" + made.name[6:]
    assert made.state == types.FileState.PROCESSING
    assert made.expiration_time - made.create_time == timedelta(hours=48)
    clock.advance(0.5)
    assert client.files.get(name=made.name).state == types.FileState.PROCESSING
    clock.advance(1)
    ready = client.files.get(name=made.name)
    assert ready.state == types.FileState.ACTIVE and ready.update_time > ready.create_time
    assert emulator.backend.stats()["files"]["requests"] == {"start": 1, "upload": 1, "get": 2}


def test_processing_time_follows_the_emulators_speed(client, emulator, clock):
    emulator.backend.configure(speed=600, file_processing=600)  # ten simulated minutes
    made = upload(client)
    clock.advance(0.9)
    assert client.files.get(name=made.name).state == types.FileState.PROCESSING
    clock.advance(0.2)
    assert client.files.get(name=made.name).state == types.FileState.ACTIVE


def test_a_file_is_gone_48_hours_after_its_creation(client, emulator, clock):
    made = upload(client)
    clock.advance(48 * 3600 - 1)
    assert client.files.get(name=made.name).state == types.FileState.ACTIVE
    clock.advance(1)
    with pytest.raises(genai_errors.ClientError) as gone:
        client.files.get(name=made.name)
    # what the service answers for a missing file (python-genai issue 1218), not 404
    assert gone.value.code == 403 and gone.value.status == "PERMISSION_DENIED"
    assert f"access the File {made.name[6:]} or it may not exist" in gone.value.message
    assert emulator.backend.stats()["files"]["expired"] == 1
    emulator.backend.configure(missing_file_status=404)
    with pytest.raises(genai_errors.ClientError) as missing:
        client.files.get(name=made.name)
    assert missing.value.code == 404


def test_an_interaction_may_not_use_an_expired_unknown_or_unready_file(client, emulator, clock):
    made = upload(client)
    document = {"type": "document", "uri": made.uri, "mime_type": "application/pdf"}
    with pytest.raises(Exception) as processing:  # the Interactions errors are not genai errors
        client.interactions.create(model=MODEL, input=[{"type": "text", "text": "x"}, document])
    assert processing.value.status_code == 400
    assert "not in an ACTIVE state" in str(processing.value)
    clock.advance(5)
    done = client.interactions.create(model=MODEL, input=[{"type": "text", "text": "x"}, document])
    assert done.status == "completed"
    clock.advance(48 * 3600)
    for uri in (made.uri, "https://generativelanguage.googleapis.com/v1beta/files/nosuchfile"):
        with pytest.raises(Exception) as refused:
            client.interactions.create(
                model=MODEL,
                input=[{"type": "document", "uri": uri, "mime_type": "application/pdf"}],
            )
        assert refused.value.status_code == 403
        assert "or it may not exist" in str(refused.value)
    assert emulator.backend.stats()["creates"] == 1  # refused creates create nothing


def test_list_pages_newest_first_and_delete(client, emulator, clock):
    names = []
    for n in range(5):
        names.append(upload(client, b"hello %d" % n, mime_type="text/plain").name)
        clock.advance(1)
    pager = client.files.list(config={"page_size": 2})
    assert [f.name for f in pager.page] == names[::-1][:2]
    assert [f.name for f in pager] == names[::-1]  # the pager follows nextPageToken
    assert emulator.backend.stats()["files"]["requests"]["list"] == 3
    client.files.delete(name=names[2])
    assert [f.name for f in client.files.list()] == [names[4], names[3], names[1], names[0]]
    with pytest.raises(genai_errors.ClientError):
        client.files.delete(name=names[2])
    assert emulator.backend.stats()["files"]["deleted"] == 1


def test_a_name_can_be_chosen_once(client):
    made = upload(client, name="my-notes", mime_type="text/plain")
    assert made.name == "files/my-notes"
    with pytest.raises(genai_errors.ClientError) as taken:
        upload(client, name="my-notes", mime_type="text/plain")
    assert taken.value.code == 409
    with pytest.raises(genai_errors.ClientError) as bad:
        upload(client, name="Not_Valid", mime_type="text/plain")
    assert bad.value.code == 400


def test_file_and_project_limits(client, emulator, tmp_path):
    emulator.backend.configure(file_limit_bytes=1000, project_limit_bytes=1500)
    with pytest.raises(genai_errors.ClientError) as big:
        upload(client, b"x" * 1001, mime_type="text/plain")
    assert big.value.code == 400 and "at most 1000 bytes" in big.value.message
    upload(client, b"x" * 1000, mime_type="text/plain")
    with pytest.raises(genai_errors.ClientError) as full:
        upload(client, b"x" * 501, mime_type="text/plain")
    assert full.value.code == 429 and full.value.status == "RESOURCE_EXHAUSTED"
    # the real 2 GB limit, with a sparse file: refused at the start, before any byte is sent
    emulator.backend.configure(file_limit_bytes=-1, project_limit_bytes=-1)
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as f:
        f.truncate(2 * 1024**3 + 1)
    with pytest.raises(genai_errors.ClientError) as over:
        client.files.upload(file=huge)
    assert over.value.code == 400 and "at most 2147483648 bytes" in over.value.message
    assert emulator.backend.stats()["files"]["requests"]["upload"] == 1  # the 1000-byte one


def test_an_upload_refused_mid_way(client, emulator):
    emulator.backend.faults.add(kind="upload_refused", after_events=2, times=1)
    data = b"%PDF" + b"x" * CHUNK_GRANULARITY  # two chunks: the second is refused
    with pytest.raises(genai_errors.ServerError) as refused:
        upload(client, data)
    assert refused.value.code == 503
    stats = emulator.backend.stats()["files"]
    assert stats["requests"]["upload"] == 2 and stats["live"] == 0
    assert stats["uploads"] == {"started": 1, "refused": 1}
    assert upload(client, data).size_bytes == len(data)  # the next one goes through


def test_an_upload_whose_file_ends_failed(client, emulator, clock):
    emulator.backend.faults.add(kind="file_failed", times=1)
    made = upload(client)
    clock.advance(10)
    failed = client.files.get(name=made.name)
    assert failed.state == types.FileState.FAILED and failed.error.message
    with pytest.raises(Exception) as refused:
        client.interactions.create(
            model=MODEL,
            input=[{"type": "document", "uri": made.uri, "mime_type": "application/pdf"}],
        )
    assert refused.value.status_code == 400


def test_the_raw_protocol_headers(emulator):
    base = emulator.base_url
    start = httpx2.post(
        f"{base}/upload/v1beta/files",
        json={"file": {"displayName": "raw"}},
        headers={
            "x-goog-api-key": API_KEY,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "10",
            "X-Goog-Upload-Header-Content-Type": "text/plain",
        },
    )
    assert start.status_code == 200 and start.headers["x-goog-upload-status"] == "active"
    url = start.headers["x-goog-upload-url"]
    assert url.startswith(f"{base}/upload/v1beta/files?upload_id=")

    def send(command, offset, data=b""):
        headers = {"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)}
        return httpx2.post(url, content=data, headers=headers)  # no key: the URL is the credential

    first = send("upload", 0, b"hello")
    assert first.status_code == 200 and first.headers["x-goog-upload-status"] == "active"
    assert first.headers["x-goog-upload-size-received"] == "5"
    query = send("query", 0)
    assert query.headers["x-goog-upload-size-received"] == "5"
    last = send("upload, finalize", 5, b"world")
    assert last.headers["x-goog-upload-status"] == "final"
    file = last.json()["file"]
    assert (
        file["sizeBytes"] == "10" and file["displayName"] == "raw" and file["state"] == "PROCESSING"
    )
    again = send("upload", 10, b"more")
    assert again.status_code == 404 and again.headers["x-goog-upload-status"] == "final"


def test_a_wrong_offset_or_size_ends_the_upload(emulator):
    def start(size):
        return httpx2.post(
            f"{emulator.base_url}/upload/v1beta/files",
            headers={
                "x-goog-api-key": API_KEY,
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(size),
                "X-Goog-Upload-Header-Content-Type": "text/plain",
            },
        ).headers["x-goog-upload-url"]

    url = start(4)
    wrong = httpx2.post(url, content=b"ab", headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "2"})  # fmt: skip
    assert wrong.status_code == 400 and wrong.headers["x-goog-upload-status"] == "final"
    url = start(4)
    short = httpx2.post(url, content=b"ab", headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"})  # fmt: skip
    assert short.status_code == 400 and "2 of the 4 bytes" in short.json()["error"]["message"]
    nokey = httpx2.post(f"{emulator.base_url}/upload/v1beta/files", headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"})  # fmt: skip
    assert nokey.status_code == 401


def test_the_async_sdk_uploads_lists_and_deletes(emulator):
    async def main():
        client = make_client(emulator.base_url)
        made = await client.aio.files.upload(
            file=io.BytesIO(b"hello world"), config={"mime_type": "text/plain"}
        )
        listed = [f.name async for f in await client.aio.files.list()]
        await client.aio.files.delete(name=made.name)
        return made, listed

    made, listed = asyncio.run(main())
    assert made.size_bytes == 11 and listed == [made.name]
    assert emulator.backend.stats()["files"]["deleted"] == 1
