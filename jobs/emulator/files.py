"""The Files API: resumable uploads, get, list and delete, with the limits the API states.

`client.files.upload` speaks Google's resumable upload protocol (google-genai 3.4.0, files.py and
_api_client.py `upload_file`): a `start` POST to `upload/{v}/files` with the file's metadata and
`X-Goog-Upload-*` headers, answered with an `x-goog-upload-url`; then the bytes, in chunks of up
to 8 MB, POSTed there with `X-Goog-Upload-Command: upload` (`upload, finalize` on the last one)
and `X-Goog-Upload-Offset`. Every reply to the upload URL says `x-goog-upload-status`: `active`
until the last, `final` with the File. (A reply without that header makes the SDK retry the chunk
after 1, 2 and 4 real seconds, so even errors carry it.) The upload URL is the credential: its
requests carry no API key, as the SDK sends none.

A File is PROCESSING for a while (simulated seconds: it scales with the emulator's speed), then
ACTIVE (or FAILED when a fault says so), and is gone 48 hours after its creation by the emulator's
clock (`expirationTime`, which the File shows, is when that happens). A missing or expired file
answers 403 PERMISSION_DENIED, as the service does (the `missing_file_status` knob makes it 404).
Limits: 2 GB per file, 20 GB per project, 100 MB of inline data per request, 50 MB per inline
PDF; each is a knob, so tests need not send gigabytes.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jobs.emulator import media
from jobs.emulator.errors import EmulatorError, invalid_argument

GB, MB = 1024**3, 1024**2
DEFAULTS: dict[str, Any] = {
    "file_ttl": 48 * 3600.0,  # seconds of the emulator's clock
    "file_limit_bytes": 2 * GB,
    "project_limit_bytes": 20 * GB,
    "inline_limit_bytes": 100 * MB,
    "inline_pdf_limit_bytes": 50 * MB,
    "file_processing": None,  # simulated seconds; None: by size and kind (see processing_seconds)
    "missing_file_status": 403,
}
KNOBS = frozenset(DEFAULTS)
CHUNK_GRANULARITY = 8 * MB  # what the SDK sends per chunk
PAGE_SIZE, PAGE_SIZE_MAX = 10, 100
SERVICE_FILES = "https://generativelanguage.googleapis.com/v1beta/files/"
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def stamp(moment: datetime) -> str:
    """RFC 3339, Z-normalised, with microseconds (as the Files API writes its times)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def processing_seconds(mime_type: str, size: int) -> float:
    """Simulated seconds a file stays PROCESSING: a second plus one per 10 MB (video: five, plus
    one per 2 MB)."""
    if mime_type.startswith("video/"):
        return 5.0 + size / (2 * MB)
    return 1.0 + size / (10 * MB)


@dataclass
class StoredFile:
    id: str
    display_name: str | None
    mime_type: str
    size: int
    sha256: str  # hex digest
    created: datetime
    ready_at: datetime
    expires: datetime
    fails: bool
    pages: int | None
    seconds: float | None
    head: str

    def state(self, now: datetime) -> str:
        if now < self.ready_at:
            return "PROCESSING"
        return "FAILED" if self.fails else "ACTIVE"

    def resource(self, now: datetime) -> dict[str, Any]:
        """The File as the service writes it: camelCase, int64 as a string, the digest base64."""
        state = self.state(now)
        out: dict[str, Any] = {"name": f"files/{self.id}"}
        if self.display_name:
            out["displayName"] = self.display_name
        out |= {
            "mimeType": self.mime_type,
            "sizeBytes": str(self.size),
            "createTime": stamp(self.created),
            "updateTime": stamp(self.created if state == "PROCESSING" else self.ready_at),
            "expirationTime": stamp(self.expires),
            "sha256Hash": base64.b64encode(self.sha256.encode()).decode(),
            "uri": SERVICE_FILES + self.id,
            "state": state,
            "source": "UPLOADED",
        }
        if state == "FAILED":
            out["error"] = {"code": 13, "message": "The file could not be processed."}
        return out

    def facts(self) -> media.FileFacts:
        return media.FileFacts(
            f"files/{self.id}", self.display_name, self.mime_type, self.size, self.pages,
            self.seconds, self.head,
        )  # fmt: skip


@dataclass
class Upload:
    """One resumable upload session."""

    id: str
    file_id: str
    display_name: str | None
    mime_type: str
    size: int  # declared
    speed: float
    received: int = 0
    chunks: int = 0
    status: str = "active"  # active | final | cancelled
    digest: Any = field(default_factory=hashlib.sha256)
    pages: media.PageCounter = field(default_factory=media.PageCounter)
    head: bytes = b""


@dataclass
class UploadReply:
    """What the upload URL answers: a status, headers (always x-goog-upload-status), a body."""

    status_code: int
    headers: dict[str, str]
    body: dict[str, Any] | None = None


class FileStore:
    """Files and upload sessions; thread-safe; time from the clock the backend hands it."""

    def __init__(self, clock: Any, faults: Any, speed: Callable[[], float]) -> None:
        self.clock, self.faults, self._speed = clock, faults, speed
        self._lock = threading.RLock()
        self.reset(clock)

    def reset(self, clock: Any = None) -> None:
        """Forget every file, session, counter and knob."""
        with self._lock:
            if clock is not None:
                self.clock = clock
            self.knobs = dict(DEFAULTS)
            self._files: dict[str, StoredFile] = {}
            self._uploads: dict[str, Upload] = {}
            self._requests: Counter[str] = Counter()
            self._responses: Counter[str] = Counter()
            self._counts: Counter[str] = Counter()

    # --- knobs -------------------------------------------------------------------------------------

    @staticmethod
    def validated(knobs: Mapping[str, Any]) -> dict[str, Any]:
        """The knobs given, checked (ValueError); -1 (or null) puts one back to its default."""
        out: dict[str, Any] = {}
        for name, value in knobs.items():
            if value is None or value == -1:
                out[name] = DEFAULTS[name]
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if name == "missing_file_status":
                if value not in (403, 404):
                    raise ValueError(f"missing_file_status must be 403 or 404, got {value!r}")
            elif value < 0 or (name != "file_processing" and value == 0):
                raise ValueError(f"{name} must be > 0, got {value!r}")
            out[name] = int(value) if name.endswith("bytes") or name.endswith("status") else value
        return out

    def apply(self, knobs: Mapping[str, Any]) -> None:
        with self._lock:
            self.knobs.update(knobs)

    def config(self) -> dict[str, Any]:
        return dict(self.knobs)

    @property
    def limits(self) -> media.Limits:
        return media.Limits(self.knobs["inline_limit_bytes"], self.knobs["inline_pdf_limit_bytes"])

    # --- the API -----------------------------------------------------------------------------------

    def start(self, metadata: Any, headers: Mapping[str, str], upload_url: str) -> UploadReply:
        """The `start` request: check the file's metadata and size, open an upload session."""
        self._count("start")
        file = metadata.get("file") if isinstance(metadata, dict) else None
        file = file if isinstance(file, dict) else {}
        if headers.get("x-goog-upload-protocol", "").lower() != "resumable":
            raise invalid_argument("Only the resumable upload protocol is supported here.")
        if headers.get("x-goog-upload-command", "").lower() != "start":
            raise invalid_argument("The first request of an upload must be X-Goog-Upload-Command: start.")  # fmt: skip
        declared = headers.get("x-goog-upload-header-content-length") or file.get("sizeBytes") or file.get("size_bytes")  # fmt: skip
        try:
            size = int(declared)
        except (TypeError, ValueError):
            raise invalid_argument("X-Goog-Upload-Header-Content-Length must give the file's size in bytes.") from None  # fmt: skip
        mime = headers.get("x-goog-upload-header-content-type") or file.get("mimeType") or file.get("mime_type")  # fmt: skip
        if not mime:
            raise invalid_argument("The file's MIME type is required.", field="file.mime_type")
        display = file.get("displayName") or file.get("display_name")
        if display is not None and (not isinstance(display, str) or len(display) > 512):
            raise invalid_argument("display_name must be a string of at most 512 characters.", field="file.display_name")  # fmt: skip
        with self._lock:
            now = self.clock.now()
            self._sweep(now)
            file_id = self._new_id(file.get("name"))
            limit = self.knobs["file_limit_bytes"]
            if size > limit:
                raise invalid_argument(f"The file is {size} bytes; a file may be at most {limit} bytes.", field="file.size_bytes")  # fmt: skip
            used = sum(f.size for f in self._files.values())
            quota = self.knobs["project_limit_bytes"]
            if used + size > quota:
                raise EmulatorError(429, "RESOURCE_EXHAUSTED", f"Files storage quota exceeded: the project holds {used} bytes of files and may hold {quota}.")  # fmt: skip
            upload = Upload(uuid.uuid4().hex, file_id, display, str(mime), size, self._speed())
            self._uploads[upload.id] = upload
            self._counts["uploads_started"] += 1
            url = f"{upload_url}?upload_id={upload.id}&upload_protocol=resumable"
            return UploadReply(200, {
                "x-goog-upload-status": "active",
                "x-goog-upload-url": url,
                "x-goog-upload-control-url": url,
                "x-goog-upload-chunk-granularity": str(CHUNK_GRANULARITY),
                "x-guploader-uploadid": upload.id,
            })  # fmt: skip

    def chunk(self, upload_id: str, command: str, offset: str | None, data: bytes) -> UploadReply:
        """One request to the upload URL: `upload`, `upload, finalize`, `finalize`, `query` or
        `cancel`. Errors end the session and say `final`."""
        self._count("upload")
        words = {w.strip() for w in command.lower().split(",") if w.strip()}
        with self._lock:
            upload = self._uploads.get(upload_id)
            if upload is None or upload.status != "active":
                return self._refuse(upload, 404, "NOT_FOUND", "The upload session was not found or has ended.")  # fmt: skip
            if words == {"query"}:
                return self._reply(200, upload, "active")
            if words == {"cancel"}:
                upload.status = "cancelled"
                return self._reply(200, upload, "cancelled")
            if not words or not words <= {"upload", "finalize"}:
                return self._refuse(upload, 400, None, f"Unknown X-Goog-Upload-Command {command!r}.")  # fmt: skip
            if "upload" in words:
                upload.chunks += 1
                rule = self.faults.take("upload_refused", "upload", match=lambda r: int(r.after_events or 1) == upload.chunks)  # fmt: skip
                if rule is not None:
                    self._counts["uploads_refused"] += 1
                    status = int(rule.status or 503)
                    return self._refuse(upload, status, None, rule.message or "The upload was refused (injected fault).")  # fmt: skip
                if offset is None or not offset.isdigit() or int(offset) != upload.received:
                    return self._refuse(upload, 400, None, f"X-Goog-Upload-Offset {offset!r} does not match the {upload.received} bytes received.")  # fmt: skip
                if upload.received + len(data) > upload.size:
                    return self._refuse(upload, 400, None, f"More bytes were sent than the {upload.size} declared at the start.")  # fmt: skip
                upload.received += len(data)
                upload.digest.update(data)
                if upload.mime_type == "application/pdf":
                    upload.pages.feed(data, final=False)
                if len(upload.head) < 512:
                    upload.head += data[: 512 - len(upload.head)]
            if "finalize" not in words:
                return self._reply(200, upload, "active")
            if upload.received != upload.size:
                return self._refuse(upload, 400, None, f"The upload ended after {upload.received} of the {upload.size} bytes declared.")  # fmt: skip
            stored = self._store(upload)
            return self._reply(200, upload, "final", {"file": stored.resource(self.clock.now())})

    def get(self, file_id: str) -> dict[str, Any]:
        self._count("get")
        with self._lock:
            now = self.clock.now()
            return self._find(file_id, now).resource(now)

    def list(self, page_size: int | None = None, page_token: str | None = None) -> dict[str, Any]:
        """Newest first; pageSize defaults to 10 and is capped at 100, as the API documents."""
        self._count("list")
        if page_size is not None and page_size < 0:
            raise invalid_argument("page_size must not be negative.", field="page_size")
        size = min(page_size or PAGE_SIZE, PAGE_SIZE_MAX)
        with self._lock:
            now = self.clock.now()
            self._sweep(now)
            ordered = sorted(self._files.values(), key=lambda f: (f.created, f.id), reverse=True)
            if page_token:
                after = _decode_token(page_token)
                ordered = [f for f in ordered if (stamp(f.created), f.id) < after]
            page, rest = ordered[:size], ordered[size:]
            out: dict[str, Any] = {}
            if page:
                out["files"] = [f.resource(now) for f in page]
            if rest:
                out["nextPageToken"] = _encode_token(page[-1])
            return out

    def delete(self, file_id: str) -> dict[str, Any]:
        self._count("delete")
        with self._lock:
            now = self.clock.now()
            self._find(file_id, now)
            del self._files[file_id]
            self._counts["deleted"] += 1
            return {}

    def facts(self, file_id: str) -> media.FileFacts:
        """What an interaction's input may use of a file: 403 when it is gone, 400
        FAILED_PRECONDITION while it is not ACTIVE (both what the service answers)."""
        with self._lock:
            now = self.clock.now()
            stored = self._find(file_id, now)
            if stored.state(now) != "ACTIVE":
                raise EmulatorError(400, "FAILED_PRECONDITION", f"The File {file_id} is not in an ACTIVE state and usage is not allowed.")  # fmt: skip
            return stored.facts()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock.now()
            self._sweep(now)
            states = Counter(f.state(now).lower() for f in self._files.values())
            return {
                "requests": dict(self._requests),
                "responses": dict(self._responses),
                "live": len(self._files),
                "processing": states["processing"],
                "active": states["active"],
                "failed": states["failed"],
                "bytes": sum(f.size for f in self._files.values()),
                "uploads": {k[8:]: v for k, v in self._counts.items() if k.startswith("uploads_")},
                "expired": self._counts["expired"],
                "deleted": self._counts["deleted"],
            }

    def note_response(self, status_code: int) -> None:
        with self._lock:
            self._responses[str(status_code)] += 1

    # --- internals -------------------------------------------------------------------------------

    def _count(self, op: str) -> None:
        with self._lock:
            self._requests[op] += 1

    def _new_id(self, asked: Any) -> str:
        if asked in (None, ""):
            return uuid.uuid4().hex[:12]
        name = str(asked).removeprefix("files/")
        if not 0 < len(name) <= 40 or not set(name) <= _ID_CHARS or name[0] == "-" or name[-1] == "-":  # fmt: skip
            raise invalid_argument(f"Invalid file name {asked!r}: up to 40 lowercase letters, digits or dashes, not starting or ending with a dash.", field="file.name")  # fmt: skip
        if name in self._files or any(u.file_id == name for u in self._uploads.values() if u.status == "active"):  # fmt: skip
            raise EmulatorError(409, "ALREADY_EXISTS", f"A file named files/{name} already exists.")
        return name

    def _store(self, upload: Upload) -> StoredFile:
        now = self.clock.now()
        upload.status = "final"
        fails = self.faults.take("file_failed", "upload") is not None
        knob = self.knobs["file_processing"]
        simulated = processing_seconds(upload.mime_type, upload.size) if knob is None else knob
        kind = next((k for k, types in media.MIME_TYPES.items() if upload.mime_type in types), "document")  # fmt: skip
        pages = seconds = None
        head = ""
        if upload.mime_type == "application/pdf":
            upload.pages.feed(b"", final=True)
            pages = upload.pages.pages(upload.size)
        elif upload.mime_type in media.TEXT_DOCUMENTS:
            head = media.first_line(upload.head)
        elif kind in ("audio", "video"):
            seconds = media.seconds_of(kind, upload.mime_type, upload.size, upload.head[:64])
        elif kind == "document":
            pages, _, _ = media.measure("document", upload.mime_type, upload.size, "")
        stored = StoredFile(
            upload.file_id, upload.display_name, upload.mime_type, upload.size,
            upload.digest.hexdigest(), now, now + timedelta(seconds=simulated / upload.speed),
            now + timedelta(seconds=self.knobs["file_ttl"]), fails, pages, seconds, head,
        )  # fmt: skip
        self._files[stored.id] = stored
        del self._uploads[upload.id]
        self._counts["uploads_finished"] += 1
        if fails:
            self._counts["uploads_failed_files"] += 1
        return stored

    def _find(self, file_id: str, now: datetime) -> StoredFile:
        self._sweep(now)
        stored = self._files.get(file_id.removeprefix("files/"))
        if stored is None:
            status = self.knobs["missing_file_status"]
            message = f"You do not have permission to access the File {file_id.removeprefix('files/')} or it may not exist."  # fmt: skip
            if status == 404:
                message = f"File {file_id.removeprefix('files/')} was not found."
            raise EmulatorError(status, None, message)
        return stored

    def _sweep(self, now: datetime) -> None:
        gone = [f for f in self._files.values() if now >= f.expires]
        for f in gone:
            del self._files[f.id]
            self._counts["expired"] += 1

    def _reply(self, code: int, upload: Upload, status: str, body: dict[str, Any] | None = None) -> UploadReply:  # fmt: skip
        self._responses[str(code)] += 1
        headers = {"x-goog-upload-status": status, "x-guploader-uploadid": upload.id}
        if status == "active":
            headers["x-goog-upload-size-received"] = str(upload.received)
        return UploadReply(code, headers, body)

    def _refuse(self, upload: Upload | None, code: int, status: str | None, message: str) -> UploadReply:  # fmt: skip
        if upload is not None:
            upload.status = "cancelled"
            self._uploads.pop(upload.id, None)
        self._responses[str(code)] += 1
        error = EmulatorError(code, status, message)
        return UploadReply(code, {"x-goog-upload-status": "final"}, error.body())

    def list_all(self) -> list[dict[str, Any]]:
        """Every live file (a debugging aid, as /_emulator/interactions)."""
        with self._lock:
            now = self.clock.now()
            self._sweep(now)
            return [f.resource(now) for f in self._files.values()]


def _encode_token(last: StoredFile) -> str:
    return base64.urlsafe_b64encode(f"{stamp(last.created)}|{last.id}".encode()).decode()


def _decode_token(token: str) -> tuple[str, str]:
    try:
        created, _, file_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
    except (ValueError, UnicodeDecodeError):
        raise invalid_argument("Invalid page_token.", field="page_token") from None
    if not file_id:
        raise invalid_argument("Invalid page_token.", field="page_token")
    return created, file_id
