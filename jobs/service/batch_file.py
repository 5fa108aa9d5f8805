"""Reading a batch file: JSON Lines or plain text, validated whole before anything is recorded.

JSON Lines: one object per line with `prompt` and optional `model` | `agent`, `system`, `labels`,
`service_tier`, `key`. Plain text: one prompt per line. Blank lines are skipped (they keep the line
numbers). Every bad line is reported with its number and why; one bad line refuses the whole file.

A line's identity is `key:<key>` when it has a key, else `pos:<n>:<sha256 of the line>` (n: its
position among the prompts), so the same file submitted again is recognised line by line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from jobs.errors import UsageError
from jobs.service.core import SubmitSpec, check_spec, parse_labels

FIELDS = ("prompt", "model", "agent", "system", "labels", "service_tier", "key")
SERVICE_TIERS = ("flex", "standard", "priority", "deferred")
MAX_KEY = 128


@dataclass
class LineError:
    line_no: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.message}"


class BatchFileError(UsageError):
    """The file has bad lines (all of them listed in `errors`); nothing was recorded."""

    def __init__(self, source: str, errors: list[LineError]) -> None:
        count = len(errors)
        super().__init__(
            f"{source}: {count} bad line{'s' if count != 1 else ''}; nothing recorded or sent"
        )
        self.source = source
        self.errors = errors


@dataclass
class ParsedLine:
    line_no: int  # in the file, 1-based
    line_key: str
    spec: SubmitSpec


@dataclass
class ParsedBatch:
    source: str
    content_hash: str
    format: str  # jsonl | text
    lines: list[ParsedLine] = field(default_factory=list)


def detect_format(data: str, source: str) -> str:
    lowered = source.lower()
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lowered.endswith(".txt"):
        return "text"
    for line in data.splitlines():
        if line.strip():
            return "jsonl" if line.lstrip().startswith("{") else "text"
    return "text"


def parse_batch(
    raw: bytes, *, source: str, fmt: str = "auto", defaults: SubmitSpec | None = None
) -> ParsedBatch:
    """Validate every line; raise BatchFileError listing all the bad ones."""
    content_hash = hashlib.sha256(raw).hexdigest()
    try:
        data = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = raw[: exc.start].count(b"\n") + 1
        raise BatchFileError(source, [LineError(line_no, "not UTF-8 text")]) from None
    if data.startswith("\ufeff"):
        data = data[1:]
    if fmt == "auto":
        fmt = detect_format(data, source)
    defaults = defaults or SubmitSpec(prompt="")
    parsed = ParsedBatch(source=source, content_hash=content_hash, format=fmt)
    errors: list[LineError] = []
    keys: dict[str, int] = {}
    position = 0
    for line_no, text in enumerate(data.splitlines(), start=1):
        if not text.strip():
            continue
        position += 1
        try:
            spec, key = (
                _jsonl_spec(text, defaults)
                if fmt == "jsonl"
                else (_text_spec(text, defaults), None)
            )
            check_spec(spec)
        except UsageError as exc:
            errors.append(LineError(line_no, str(exc)))
            continue
        if key is not None:
            if key in keys:
                errors.append(
                    LineError(line_no, f"key {key!r} is already used on line {keys[key]}")
                )
                continue
            keys[key] = line_no
            line_key = f"key:{key}"
        else:
            digest = hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:40]
            line_key = f"pos:{position}:{digest}"
        parsed.lines.append(ParsedLine(line_no, line_key, spec))
    if errors:
        raise BatchFileError(source, errors)
    if not parsed.lines:
        raise UsageError(f"{source} has no prompts (it is empty or only blank lines)")
    return parsed


def _text_spec(text: str, defaults: SubmitSpec) -> SubmitSpec:
    return _with_defaults(SubmitSpec(prompt=text.strip()), defaults)


def _jsonl_spec(text: str, defaults: SubmitSpec) -> tuple[SubmitSpec, str | None]:
    try:
        item = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(item, dict):
        raise UsageError(f"expected a JSON object, got {type(item).__name__}")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise UsageError(
            f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"(allowed: {', '.join(FIELDS)})"
        )
    if "prompt" not in item:
        raise UsageError("missing 'prompt'")
    for name in ("prompt", "model", "agent", "system", "service_tier", "key"):
        if name in item and not isinstance(item[name], str):
            raise UsageError(f"{name!r} must be a string, got {_json_type(item[name])}")
    if item.get("service_tier") is not None and item["service_tier"] not in SERVICE_TIERS:
        raise UsageError(
            f"service_tier {item['service_tier']!r} is not one of {', '.join(SERVICE_TIERS)}"
        )
    key = item.get("key")
    if key is not None and (not key.strip() or len(key) > MAX_KEY):
        raise UsageError(f"'key' must be 1 to {MAX_KEY} characters")
    labels: dict[str, str] = {}
    if "labels" in item:
        raw_labels = item["labels"]
        if not isinstance(raw_labels, dict) or not all(
            isinstance(v, str) for v in raw_labels.values()
        ):
            raise UsageError("'labels' must be an object of string values")
        labels = parse_labels([f"{k}={v}" for k, v in raw_labels.items()])
    spec = SubmitSpec(
        prompt=item["prompt"],
        model=item.get("model"),
        agent=item.get("agent"),
        system=item.get("system"),
        labels=labels,
        service_tier=item.get("service_tier"),
    )
    return _with_defaults(spec, defaults), key


def _with_defaults(spec: SubmitSpec, defaults: SubmitSpec) -> SubmitSpec:
    """Options given to `batch submit` apply to lines that do not say otherwise."""
    if not spec.model and not spec.agent:
        spec.model, spec.agent = defaults.model, defaults.agent
    spec.system = spec.system or defaults.system
    spec.labels = {**defaults.labels, **spec.labels}
    spec.service_tier = spec.service_tier or defaults.service_tier
    return spec


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )
