"""`jobs emulator`: serve the local Interactions API emulator, with faults chosen by flags."""

from __future__ import annotations

import errno
import ipaddress
import json
from collections.abc import Callable
from typing import Any

import click

from jobs.emulator.faults import CUT_MODES, MALFORMED_KINDS, OPERATIONS


def _parts(value: str, count: tuple[int, int], shape: str) -> list[str]:
    parts = value.split(":")
    if not count[0] <= len(parts) <= count[1] or not all(parts):
        raise click.BadParameter(f"expected {shape}, got {value!r}")
    return parts


def _op(value: str) -> str:
    if value != "*" and value not in OPERATIONS:
        raise click.BadParameter(f"unknown operation {value!r} (use {', '.join(OPERATIONS)} or *)")
    return value


def _num(value: str, kind: Callable[[str], Any], what: str) -> Any:
    try:
        number = kind(value)
    except ValueError:
        raise click.BadParameter(f"{what} must be a number, got {value!r}") from None
    if number < 0:
        raise click.BadParameter(f"{what} must not be negative, got {value!r}")
    return number


def _status(value: str) -> int:
    status = _num(value, int, "status")
    if not 400 <= status <= 599:
        raise click.BadParameter(f"status must be an HTTP error status (400-599), got {value!r}")
    return status


def fault_specs(options: dict[str, Any]) -> list[dict[str, Any]]:
    """Turn the fault flags into control-API fault specs (click.BadParameter when malformed)."""
    specs: list[dict[str, Any]] = []
    for name in FAULT_OPTIONS:
        for value in options.get(name) or ():
            try:
                specs.append(_spec(name, value, options.get("retry_after")))
            except click.BadParameter as exc:
                exc.param_hint = "--" + name.replace("_", "-")
                raise
    return [{k: v for k, v in spec.items() if v is not None} for spec in specs]


FAULT_OPTIONS = (
    "fail_next",
    "fail_rate",
    "accept_then_delay",
    "accept_then_fail",
    "malformed",
    "cut_stream",
    "cut_stream_after",
    "stall_resume",
    "duplicate_event",
    "outcome",
    "outcome_label",
    "cancel_not_found",
    "forbidden_after_create",
    "fail_executions",
)


def _spec(name: str, value: str, retry_after: float | None) -> dict[str, Any]:
    if name == "fail_next":
        op, status, times = _parts(value, (3, 3), "OP:STATUS:N")
        return {
            "kind": "fail",
            "op": _op(op),
            "status": _status(status),
            "times": _num(times, int, "N"),
            "retry_after": retry_after,
        }
    if name == "fail_rate":
        op, status, rate = _parts(value, (3, 3), "OP:STATUS:FRACTION")
        fraction = _num(rate, float, "FRACTION")
        if fraction > 1:
            raise click.BadParameter(f"FRACTION must be between 0 and 1, got {rate!r}")
        return {
            "kind": "fail",
            "op": _op(op),
            "status": _status(status),
            "rate": fraction,
            "retry_after": retry_after,
        }
    if name == "accept_then_delay":
        op, seconds, *times = _parts(value, (2, 3), "OP:SECONDS[:N]")
        return {
            "kind": "accept_then_delay",
            "op": _op(op),
            "seconds": _num(seconds, float, "SECONDS"),
            "times": _num(times[0], int, "N") if times else None,
        }
    if name == "accept_then_fail":
        op, status, *times = _parts(value, (2, 3), "OP:STATUS[:N]")
        return {
            "kind": "accept_then_fail",
            "op": _op(op),
            "status": _status(status),
            "times": _num(times[0], int, "N") if times else None,
        }
    if name == "malformed":
        op, kind, *times = _parts(value, (2, 3), "OP:KIND[:N]")
        if kind not in MALFORMED_KINDS:
            raise click.BadParameter(
                f"KIND must be one of {', '.join(MALFORMED_KINDS)}, got {kind!r}"
            )
        return {
            "kind": "malformed",
            "op": _op(op),
            "malformed": kind,
            "times": _num(times[0], int, "N") if times else None,
        }
    if name == "cut_stream":
        after, *rest = _parts(value, (1, 3), "K[:abort|eof][:N]")
        mode = rest[0] if rest else "abort"
        if mode not in CUT_MODES:
            raise click.BadParameter(f"mode must be one of {', '.join(CUT_MODES)}, got {mode!r}")
        return {
            "kind": "cut_stream",
            "after_events": _num(after, int, "K"),
            "mode": mode,
            "times": _num(rest[1], int, "N") if len(rest) > 1 else None,
        }
    if name == "cut_stream_after":
        seconds, *rest = _parts(value, (1, 3), "SECONDS[:text_503|abort|eof][:N]")
        mode = rest[0] if rest else "text_503"
        if mode not in CUT_MODES:
            raise click.BadParameter(f"mode must be one of {', '.join(CUT_MODES)}, got {mode!r}")
        return {
            "kind": "cut_stream",
            "op": "stream",
            "seconds": _num(seconds, float, "SECONDS"),
            "mode": mode,
            "times": _num(rest[1], int, "N") if len(rest) > 1 else None,
        }
    if name in ("stall_resume", "duplicate_event"):
        count, *times = _parts(value, (1, 2), "K[:N]")
        return {
            "kind": name,
            "op": "stream",
            "after_events": _num(count, int, "K"),
            "times": _num(times[0], int, "N") if times else None,
        }
    if name == "outcome":
        status, *times = _parts(value, (1, 2), "STATUS[:N]")
        return {
            "kind": "outcome",
            "status": status,
            "times": _num(times[0], int, "N") if times else None,
        }
    if name == "outcome_label":
        label, _, status = value.rpartition(":")
        if "=" not in label or not status:
            raise click.BadParameter(f"expected KEY=VALUE:STATUS, got {value!r}")
        return {"kind": "outcome", "status": status, "label": label}
    if name == "cancel_not_found":
        return {"kind": "fail", "op": "cancel", "status": 404, "times": _num(value, int, "N")}
    if name == "forbidden_after_create":
        return {"kind": "forbidden_after_create", "seconds": _num(value, float, "SECONDS")}
    if name == "fail_executions":
        times, *mode = _parts(value, (1, 2), "N[:interaction|create]")
        if mode and mode[0] not in ("interaction", "create"):
            raise click.BadParameter(f"mode must be interaction or create, got {mode[0]!r}")
        return {"kind": "trigger_failure", "times": _num(times, int, "N"), "mode": (mode or ["interaction"])[0]}  # fmt: skip
    raise click.BadParameter(f"unknown fault option {name!r}")


def _quotas(values: tuple[str, ...]) -> dict[str, str] | None:
    """--quota NAME=LIMIT flags as the config's `quotas` (None when there are none)."""
    from jobs.emulator.quotas import parse_limit

    quotas = {}
    for value in values:
        name, _, limit = value.partition("=")
        try:
            if not name or not limit:
                raise ValueError(f"expected NAME=LIMIT (e.g. deep-research-pro-preview-12-2025=5/min,2), got {value!r}")  # fmt: skip
            parse_limit(limit)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--quota") from None
        quotas[name] = limit
    return quotas or None


def _webhook_fault(value: str) -> dict[str, Any]:
    kind, *rest = _parts(value, (1, 3), "KIND[:N][:SECONDS]")
    spec: dict[str, Any] = {"kind": kind}
    if rest:
        times = _num(rest[0], int, "N")
        spec["times"] = None if times == 0 else times
    if len(rest) > 1:
        spec["seconds"] = _num(rest[1], float, "SECONDS")
    return spec


def _settings(values: tuple[str, ...]) -> dict[str, Any]:
    """--set KEY=VALUE flags as config knobs (VALUE read as JSON, else kept as a string)."""
    out: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint="--set")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("emulator")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default)."
)
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind (0: any free port).",
)
@click.option(
    "--api-key", default=None, help="Require this API key (default: accept any non-empty key)."
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Simulated seconds per real second (600: a 20-minute research run takes 2 s).",
)
@click.option(
    "--latency",
    default=0.0,
    type=click.FloatRange(min=0),
    help="Real seconds added to every API request.",
)
@click.option(
    "--retention",
    default=None,
    type=click.FloatRange(min=0),
    help="Simulated seconds after creation when interactions answer 404 (default: the tier's).",
)
@click.option(
    "--output-bytes",
    default=None,
    type=click.IntRange(min=0),
    help="Make every model output exactly N bytes.",
)
@click.option(
    "--tier",
    type=click.Choice(["free", "paid"]),
    default=None,
    help="The key's tier: interactions are forgotten after 1 day (free) or 55 days (paid, the default); --retention overrides.",
)
@click.option(
    "--quota",
    multiple=True,
    metavar="NAME=LIMIT",
    help="A quota of a model or agent (or *: any other): creates per window and/or running at once, e.g. deep-research-pro-preview-12-2025=5/min,2 (429 with a retry delay beyond it).",
)
@click.option(
    "--fail-executions",
    multiple=True,
    metavar="N[:interaction|create]",
    help="The next N trigger firings fail: their interaction ends failed, or (create) none is made.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for fault rates.")
@click.option(
    "--fail-next",
    multiple=True,
    metavar="OP:STATUS:N",
    help="Answer STATUS to the next N calls of OP (create, get, stream, cancel, delete, *).",
)
@click.option(
    "--fail-rate",
    multiple=True,
    metavar="OP:STATUS:FRACTION",
    help="Answer STATUS to a FRACTION (0..1) of the calls of OP.",
)
@click.option(
    "--retry-after",
    default=None,
    type=click.FloatRange(min=0),
    help="Retry delay (seconds) on the --fail-* answers (429 defaults to 1).",
)
@click.option(
    "--accept-then-delay",
    multiple=True,
    metavar="OP:SECONDS[:N]",
    help="Perform OP, then hold the reply SECONDS (next N calls; every call if N is left out).",
)
@click.option(
    "--accept-then-fail",
    multiple=True,
    metavar="OP:STATUS[:N]",
    help="Perform OP, then answer STATUS anyway.",
)
@click.option(
    "--malformed",
    multiple=True,
    metavar="OP:KIND[:N]",
    help="Garble OP's reply: html_502, invalid_json or missing_fields.",
)
@click.option(
    "--cut-stream",
    multiple=True,
    metavar="K[:abort|eof][:N]",
    help="Cut SSE replies after K events (abort: broken body; eof: clean end without [DONE]).",
)
@click.option(
    "--cut-stream-after",
    multiple=True,
    metavar="SECONDS[:MODE][:N]",
    help="Cut SSE replies SECONDS simulated seconds after they open (default mode text_503: a plain-text 503, as the real service does at ~600 s).",
)
@click.option(
    "--stall-resume",
    multiple=True,
    metavar="K[:N]",
    help="Resumed SSE replies (with last_event_id) replay the K events before the resume point, then hang.",
)
@click.option(
    "--duplicate-event",
    multiple=True,
    metavar="K[:N]",
    help="SSE replies send their K-th event twice.",
)
@click.option(
    "--outcome",
    multiple=True,
    metavar="STATUS[:N]",
    help="End created interactions (the next N, or all) as STATUS (failed, incomplete, budget_exceeded, requires_action, cancelled, or any string).",
)
@click.option(
    "--outcome-label",
    multiple=True,
    metavar="KEY=VALUE:STATUS",
    help="End interactions created with this label as STATUS.",
)
@click.option(
    "--live-usage",
    is_flag=True,
    help="A GET of a running interaction shows its usage so far (e.g. to try budgets).",
)
@click.option(
    "--cancel-not-found",
    multiple=True,
    metavar="N",
    help="Answer the next N cancels 404 NOT_FOUND (the interaction goes on).",
)
@click.option(
    "--forbidden-after-create",
    multiple=True,
    metavar="SECONDS",
    help="Answer a get (or stream) of an interaction younger than SECONDS with 403.",
)
@click.option(
    "--webhook-fault",
    multiple=True,
    metavar="KIND[:N][:SECONDS]",
    help="A webhook delivery fault: duplicate, reorder, delay (SECONDS), down or lose; N times (default 1, 0: always).",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any /_emulator/config knob, e.g. function_rounds=3, plan_status=requires_action, file_ttl=600 (VALUE is JSON, else a string).",
)
@click.option(
    "--fault",
    "fault_rules",
    multiple=True,
    metavar="JSON",
    help='Any fault rule as /_emulator/faults takes it, e.g. \'{"kind": "upload_refused"}\' or \'{"kind": "schema_violation", "mode": "wrong_type"}\'.',
)
def emulator_command(**options: Any) -> None:
    """Serve a local emulator of the Gemini Interactions API.

    A port that is taken is an error at once: pick another, or --port 0 for any free one (the
    URL it prints says which).

    \b
    Examples:
      gjobs emulator --port 8765 --speed 600 &
      gjobs emulator --port 0 --fail-next create:429:2 --retry-after 1
    """
    from jobs.emulator import EmulatorBackend
    from jobs.emulator.server import serve

    specs = fault_specs(options)
    quotas = _quotas(options["quota"])
    backend = EmulatorBackend(
        api_key=options["api_key"], speed=options["speed"], seed=options["seed"]
    )
    backend.configure(
        latency=options["latency"],
        retention=options["retention"],
        output_bytes=options["output_bytes"],
        live_usage=options["live_usage"],
        tier=options["tier"],
        quotas=quotas,
    )
    try:
        backend.configure(**_settings(options["settings"]))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from None
    for spec in specs:
        try:
            backend.faults.add(spec)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    for rule in options["fault_rules"]:
        try:
            specs.append(backend.faults.add(json.loads(rule)).to_dict())
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc), param_hint="--fault") from None
    for value in options.get("webhook_fault") or ():
        try:
            backend.webhooks.add_fault(_webhook_fault(value))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--webhook-fault") from None
    host = options["host"]
    if not _is_loopback(host):
        click.echo(
            f"warning: binding {host}, which is not a loopback address: anyone who can reach it can use the emulator.",
            err=True,
        )

    def ready(base_url: str) -> None:
        key = options["api_key"] or "emulator-key"
        click.echo(f"Interactions API emulator listening on {base_url}")
        click.echo("Point the google-genai SDK (or gjobs) at it with:")
        click.echo(f"  export GOOGLE_GEMINI_BASE_URL={base_url}")
        click.echo(f"  export GEMINI_API_KEY={key}")
        click.echo(
            f"Controls: {base_url}/_emulator/stats, /_emulator/faults, /_emulator/config, /_emulator/reset"
        )
        if specs:
            click.echo(f"Faults: {len(specs)} rule(s) active (see {base_url}/_emulator/faults)")
        click.echo("Press Ctrl-C to stop.")

    try:
        serve(host, options["port"], backend, on_ready=ready)
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on
        click.echo("Emulator stopped.")
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = "; pick another port: --port 8766, or --port 0 for any free one"
        from jobs.cli import OneLineError  # `error: ...`, also when run as a command of its own

        raise OneLineError(
            f"cannot listen on {host}:{options['port']}: {(exc.strerror or str(exc)).lower()}{hint}",
            exit_code=1,
        ) from None
