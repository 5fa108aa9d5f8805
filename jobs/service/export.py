"""Export: whole job records as JSON Lines, CSV or Markdown, written as they are read.

`records()` is a generator over a streaming query (store/queries.py `iter_export`), and each writer
writes a record before it reads the next, so memory stays flat for any number of jobs.

CSV is meant to be opened in a spreadsheet: a text cell that starts with = + - @, a tab or a
carriage return would be run as a formula (CSV injection), so it gets a leading apostrophe, the
usual neutralisation (OWASP). Numbers are written as numbers.

Markdown keeps each report as it came (its headings, lists, links and its Sources section), under
one level-1 heading per job with the facts (model, status, dates, tokens, cost) as a list.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from jobs.service.prices import PriceTable
from jobs.service.usage import cost_text, job_cost
from jobs.store.queries import ListFilter, Queries


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _json(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return text  # not ours to fix: keep what is stored


def records(queries: Queries, prices: PriceTable, filt: ListFilter) -> Iterator[dict[str, Any]]:
    for job, extra in queries.iter_export(filt):
        request = _json(extra["request_json"], {})
        prompt = request.get("input") if isinstance(request, dict) else None
        tier = extra["service_tier"] or (
            request.get("service_tier") if isinstance(request, dict) else None
        )
        cost = job_cost(prices, job, tier, extra["search_calls"])
        duration = (
            (job.finished_at - job.submitted_at).total_seconds()
            if job.finished_at and job.submitted_at
            else None
        )
        yield {
            "id": job.id,
            "interaction_id": job.interaction_id,
            "status": job.status,
            "remote_status": job.remote_status,
            "model": job.model,
            "agent": job.agent,
            "prompt": prompt if isinstance(prompt, str) else job.prompt_excerpt,
            "request": request,
            "labels": _json(job.labels_json, {}),
            "parent_job_id": job.parent_job_id,
            "previous_interaction_id": job.previous_interaction_id,
            "created_at": _iso(job.created_at),
            "submitted_at": _iso(job.submitted_at),
            "finished_at": _iso(job.finished_at),
            "duration_seconds": duration,
            "poll_count": job.poll_count,
            "output_text": extra["output_text"],
            "thoughts": _json(extra["thoughts_json"], []),
            "steps": _json(extra["steps_json"], []),
            "usage": {
                "input_tokens": job.input_tokens,
                "cached_tokens": job.cached_tokens,
                "output_tokens": job.output_tokens,
                "thought_tokens": job.thought_tokens,
                "tool_use_tokens": job.tool_use_tokens,
                "total_tokens": job.total_tokens,
                "search_calls": extra["search_calls"],
                "service_tier": tier,
            },
            "usage_detail": _json(extra["usage_json"], {}),
            "cost_usd": None if cost is None else round(cost, 6),
            "priced": cost is not None if job.total_tokens is not None else None,
            "error": {"code": job.error_code, "message": job.error_message}
            if (job.error_code or job.error_message)
            else None,
            "errors": _json(extra["errors_json"], []),
        }


def write_jsonl(items: Iterable[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for item in items:
        out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        count += 1
    return count


CSV_COLUMNS = (
    "id", "status", "model", "agent", "created_at", "submitted_at", "finished_at",
    "duration_seconds", "input_tokens", "cached_tokens", "output_tokens", "thought_tokens",
    "tool_use_tokens", "total_tokens", "search_calls", "service_tier", "cost_usd", "priced",
    "labels", "interaction_id", "error", "prompt", "output_chars",
)  # fmt: skip
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(item: dict[str, Any]) -> list[Any]:
    usage = item["usage"]
    labels = item["labels"] if isinstance(item["labels"], dict) else {}
    error = item["error"] or {}
    values = {
        **{k: item[k] for k in ("id", "status", "model", "agent", "created_at", "submitted_at")},
        "finished_at": item["finished_at"],
        "duration_seconds": item["duration_seconds"],
        **{k: usage[k] for k in usage},
        "cost_usd": item["cost_usd"],
        "priced": "" if item["priced"] is None else ("yes" if item["priced"] else "no"),
        "labels": ";".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "interaction_id": item["interaction_id"],
        "error": " ".join(filter(None, [error.get("code"), error.get("message")])),
        "prompt": item["prompt"],
        "output_chars": len(item["output_text"] or ""),
    }
    return [spreadsheet_safe("" if values[c] is None else values[c]) for c in CSV_COLUMNS]


def write_csv(items: Iterable[dict[str, Any]], out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for item in items:
        writer.writerow(csv_row(item))
        count += 1
    return count


def _md_escape(text: str) -> str:
    """Inline text (a prompt in a heading): no Markdown syntax from it, on one line."""
    text = " ".join(text.split())
    for char in "\\`*_[]<>#|":
        text = text.replace(char, "\\" + char)
    return text


def markdown_job(item: dict[str, Any]) -> str:
    usage = item["usage"]
    prompt = item["prompt"] or ""
    title = _md_escape(prompt[:80] + ("…" if len(prompt) > 80 else ""))
    facts = [
        f"- **job** `{item['id']}` ({item['status']})",
        f"- **{'agent' if item['agent'] else 'model'}** `{item['agent'] or item['model'] or ''}`",
        f"- **created** {item['created_at']}"
        + (f", finished {item['finished_at']}" if item["finished_at"] else ""),
    ]
    if usage["total_tokens"] is not None:
        facts.append(
            f"- **tokens** {usage['total_tokens']:,} total ({usage['input_tokens'] or 0:,} in, "
            f"{usage['output_tokens'] or 0:,} out, {usage['thought_tokens'] or 0:,} thinking)"
            + (f", {usage['search_calls']} searches" if usage["search_calls"] else "")
        )
        facts.append(f"- **cost** {cost_text(item['cost_usd'], True)}")
    labels = item["labels"] if isinstance(item["labels"], dict) else {}
    if labels:
        facts.append("- **labels** " + ", ".join(f"`{k}={v}`" for k, v in sorted(labels.items())))
    if item["error"]:
        facts.append(f"- **error** {_md_escape(item['error'].get('message') or '')}")
    quoted = "\n".join("> " + line if line else ">" for line in prompt.splitlines())
    parts = [f"# {title}", "\n".join(facts), "**Prompt**", quoted]
    output = item["output_text"]
    if output:
        parts += ["**Output**", output.rstrip("\n")]
    return "\n\n".join(parts) + "\n"


def write_md(items: Iterable[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for item in items:
        if count:
            out.write("\n---\n\n")
        out.write(markdown_job(item))
        count += 1
    return count
