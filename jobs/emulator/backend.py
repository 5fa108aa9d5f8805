"""The emulator's state: interactions, their lazy timelines, counters and the fault plan.

Plain Python, no HTTP. Every public method is thread-safe (the HTTP server runs in its own thread
while tests call the backend directly). Time comes only from the injected clock: an interaction's
state is computed from `clock.now()` and its script (see script.py), never advanced by a timer.

`perform(op, ...)` is what the HTTP layer calls: it counts the request, applies the fault plan and
returns a `Reply` that also says whether to delay or garble the answer. The plain methods
(`create`, `get`, ...) wrap it for Python callers and return just the result.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jobs.clock import Clock, SystemClock
from jobs.emulator import content, media, schemas
from jobs.emulator import files as fs
from jobs.emulator import script as sc
from jobs.emulator.emulated_time import EmulatedTime
from jobs.emulator.errors import EmulatorError, api_key_invalid, not_found, unauthenticated
from jobs.emulator.faults import OPERATIONS, TIERS, FaultPlan
from jobs.emulator.fold import cancel_tail
from jobs.emulator.plan import build_script
from jobs.emulator.quotas import QuotaBook, parse_limits
from jobs.emulator.record import Record, ScriptCache
from jobs.emulator.triggers import TriggerService
from jobs.emulator.turns import KNOBS as TURN_KNOBS
from jobs.emulator.turns import Turns
from jobs.emulator.validate import ECHO_FIELDS, check_create
from jobs.emulator.webhooks import WebhookService


@dataclass
class Reply:
    """A result plus what the fault plan wants done to its delivery (HTTP only)."""

    body: Any
    delay: float = 0.0
    malformed: str | None = None


@dataclass
class EventBatch:
    """The events of an interaction from some position on, and whether (and when) more follow."""

    events: list[dict[str, Any]]  # each with event_type and event_id
    done: bool  # no event will ever follow
    next_at: datetime | None  # when the next event is due, if one is


class EmulatorBackend:
    """State and rules of the emulated Interactions API (see the module docstring)."""

    def __init__(
        self,
        clock: Clock | None = None,
        api_key: str | None = None,
        speed: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.api_key = api_key
        self._initial_speed = self._check_speed(speed)
        self.faults = FaultPlan(seed)
        self.webhooks = WebhookService(self.clock)
        self.time = EmulatedTime(self.clock.now(), self._initial_speed)  # schedules, quotas
        self.quotas = QuotaBook(self.time)
        self.triggers = TriggerService(self)
        self.files = fs.FileStore(self.clock, self.faults, lambda: self._speed)  # the Files API
        self.turns = Turns(self.faults)  # function-call rounds and research plans
        self._lock = threading.RLock()
        self.reset()

    @staticmethod
    def _check_speed(speed: float) -> float:
        if (
            isinstance(speed, bool)
            or not isinstance(speed, int | float)
            or not speed > 0
            or math.isinf(speed)
        ):
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        return float(speed)

    @property
    def speed(self) -> float:
        """Simulated seconds per real second, for interactions created from now on."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        self._speed = self._check_speed(value)
        self.time.set_speed(self.clock.now(), self._speed)

    def configure(
        self,
        *,
        speed: float | None = None,
        latency: float | None = None,
        retention: float | None = None,
        output_bytes: int | None = None,
        live_usage: bool | None = None,
        tier: str | None = None,
        quotas: dict[str, Any] | None = None,
        **unknown: Any,
    ) -> dict[str, Any]:
        """Set the knobs given (ValueError on a bad value); returns them all. `retention` and
        `output_bytes` take -1 to switch them off; `live_usage` (for interactions created after)
        makes a GET of a running interaction show the usage so far; `tier` (free, paid) sets the
        retention to the service's for that tier; `quotas` replaces every quota (quotas.py)."""
        files = self.files.validated({k: unknown.pop(k) for k in list(unknown) if k in fs.KNOBS})
        turns = self.turns.validated({k: unknown.pop(k) for k in list(unknown) if k in TURN_KNOBS})
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        if tier is not None and tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")
        limits = parse_limits(quotas) if quotas is not None else None
        if live_usage is not None and not isinstance(live_usage, bool):
            raise ValueError(f"live_usage must be true or false, got {live_usage!r}")
        for name, value in (
            ("latency", latency),
            ("retention", retention),
            ("output_bytes", output_bytes),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if latency is not None and latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency!r}")
        if output_bytes is not None and output_bytes >= 0 and not float(output_bytes).is_integer():
            raise ValueError(f"output_bytes must be a whole number, got {output_bytes!r}")
        with self._lock:
            if speed is not None:
                self.speed = speed
            if latency is not None:
                self.faults.latency = float(latency)
            if tier is not None:
                self.faults.set_tier(tier)
            if retention is not None:
                self.faults.retention = None if retention < 0 else float(retention)
            if output_bytes is not None:
                self.faults.output_bytes = None if output_bytes < 0 else int(output_bytes)
            if live_usage is not None:
                self.live_usage = live_usage
            if limits is not None:
                self.quotas.limits = limits
            self.files.apply(files)
            self.turns.apply(turns)
            more = {**self.files.config(), **self.turns.config()}
            quotas = {name: limit.text() for name, limit in self.quotas.limits.items()}
            return {"speed": self._speed, **self.faults.config(), "live_usage": self.live_usage, **more, "quotas": quotas}  # fmt: skip

    def reset(self, clock: Clock | None = None) -> None:
        """Forget every interaction, counter and fault; optionally switch to another clock."""
        with self._lock:
            if clock is not None:
                self.clock = clock
            self.live_usage = False  # GET shows the usage so far while an interaction runs
            self._records: dict[str, Record] = {}
            self._transient: dict[str, Record] = {}  # store=false interactions, for their stream
            self._scripts = ScriptCache()
            self._requests: Counter[str] = Counter({op: 0 for op in OPERATIONS})
            self._responses: dict[str, Counter[str]] = {op: Counter() for op in OPERATIONS}
            self._by_label: Counter[str] = Counter()
            self._versions: Counter[str] = Counter()
            self._created = self._expired = self._deleted = self._rejected = self._fired = 0
            self._speed = self._initial_speed
            self.time.reset(self.clock.now(), self._speed)
            self.quotas.reset()
            self.triggers.reset()
            self.faults.reset()
            self.webhooks.reset(self.clock)
            self.files.reset(self.clock)
            self.turns.reset()

    # --- the API ---------------------------------------------------------------------------------

    def authenticate(self, key: str | None) -> None:
        """401 without a key; 400 API_KEY_INVALID when a key is configured and this is another."""
        if not key:
            with self._lock:
                self._rejected += 1
            raise unauthenticated()
        if self.api_key is not None and key != self.api_key:
            with self._lock:
                self._rejected += 1
            raise api_key_invalid()

    def perform(self, op: str, **args: Any) -> Reply:
        """Run one operation as the HTTP layer sees it: counted, faults applied."""
        self.triggers.catch_up()  # firings due by now happen first, as on a service
        with self._lock:
            self._requests[op] += 1
        error = self.faults.before(op)
        if error is not None:
            raise error
        body = getattr(self, f"_{op}")(**args)
        effects = self.faults.after(op)
        if effects.error is not None:
            raise effects.error
        return Reply(body, effects.delay, effects.malformed)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create an interaction; background ones answer at once with a non-terminal status."""
        return self.perform("create", body=body).body

    def get(self, interaction_id: str, include_input: bool | None = None) -> dict[str, Any]:
        """The resource now. Steps start with the input unless include_input is False; True also
        echoes the `input` field."""
        return self.perform("get", interaction_id=interaction_id, include_input=include_input).body

    def cancel(self, interaction_id: str) -> dict[str, Any]:
        """Cancel a running interaction; 400 FAILED_PRECONDITION if it already ended."""
        return self.perform("cancel", interaction_id=interaction_id).body

    def delete(self, interaction_id: str) -> None:
        """Forget an interaction; get, cancel and stream answer 404 afterwards."""
        self.perform("delete", interaction_id=interaction_id)

    def open_stream(self, interaction_id: str, last_event_id: str | None = None) -> int:
        """Check that a stream may start (counted as a `stream` request); returns its position."""
        return self.perform(
            "stream", interaction_id=interaction_id, last_event_id=last_event_id
        ).body

    def events(self, interaction_id: str, after_event_id: str | int | None = None) -> EventBatch:
        """Events that have happened after the given one (an id like "evt_0004" or a position)."""
        with self._lock:
            rec = self._transient.get(interaction_id) or self._lookup(interaction_id)
            start = (
                self._position(after_event_id)
                if not isinstance(after_event_id, int)
                else after_event_id
            )
            now = self.clock.now()
            script = self._scripts.get(rec.spec)
            k = rec.visible(script, now)
            out = rec.stamped(script, start, k)
            over = rec.is_over(now)
            next_at = None
            if not over and k < len(script.offsets):
                next_at = rec.at(script.offsets[k])
            return EventBatch(out, over, next_at)

    def note_version(self, version: str) -> None:
        """Count the API version in a request path (stats only: shows what the client sent)."""
        with self._lock:
            self._versions[version] += 1

    def note_response(self, op: str, status_code: int) -> None:
        """Count the HTTP status an operation was answered with (stats only)."""
        with self._lock:
            self._responses.setdefault(op, Counter())[str(status_code)] += 1

    def stats(self) -> dict[str, Any]:
        """Counters: requests per operation (attempts), real creates (per label), interactions."""
        self.triggers.catch_up()
        with self._lock:
            now = self.clock.now()
            self._sweep(now)
            running = sum(1 for r in self._records.values() if not r.is_over(now))
            return {
                "requests": dict(self._requests),
                "responses": {op: dict(c) for op, c in self._responses.items()},
                "creates": self._created,
                "creates_by_label": dict(self._by_label),
                "interactions": {
                    "live": len(self._records),
                    "running": running,
                    "total": self._created + self._fired,
                    "expired": self._expired,
                    "deleted": self._deleted,
                },
                "rejected_auth": self._rejected,
                "api_versions": dict(self._versions),
                "speed": self._speed,
                **self.faults.config(),
                "faults": self.faults.rules(),
                "webhooks": self.webhooks.stats(),
                "quotas": self.quotas.stats(now),
                "triggers": self.triggers.stats(),
                "files": self.files.stats(),
                "turns": self.turns.stats(),
            }

    def list_interactions(self) -> list[dict[str, Any]]:
        """A summary of the stored interactions (a debugging aid; the real API has no list)."""
        self.triggers.catch_up()
        with self._lock:
            now = self.clock.now()
            self._sweep(now)
            out = []
            for rec in self._records.values():
                view = rec.render(self._scripts, now)
                out.append(
                    {k: view[k] for k in ("id", "status", "created", "updated") if k in view}
                    | {"labels": rec.labels, "ends_at": _ends_at(rec)}
                )
            return out

    # --- operations (called through perform) -----------------------------------------------------

    def _create(
        self, body: dict[str, Any], at: datetime | None = None, outcome: str | None = None
    ) -> dict[str, Any]:
        """`at` and `outcome` are a trigger's firing (`fire`): made as of that real moment."""
        check_create(body)
        now = at or self.clock.now()
        kind = "model" if "model" in body else "agent"
        with self._lock:
            self.quotas.admit(body[kind], kind, now, fired=at is not None)
            history: tuple[str, ...] = ()
            context = 0
            continues = None
            prev_id = body.get("previous_interaction_id")
            if prev_id is not None:
                # AIP-193: a resource named in the request that does not exist is NOT_FOUND (404),
                # wherever it is named; the caller's request is well formed, the turn is gone.
                prev = self._lookup(prev_id, now, what="previous_interaction_id")
                asked = content.read_prompt(prev.spec.input).text or "(no text)"
                history = (*prev.spec.history, content.excerpt(asked, 60))
                # the earlier turns, all of them, are context now, and counted as cached
                usage = self._scripts.get(prev.spec).usage or {}
                context = usage.get("total_input_tokens", 0) + usage.get("total_output_tokens", 0)
            if "continuation_token" in body:
                prev_view = prev.render(self._scripts, now) if prev_id is not None else {}
                if prev_view.get("continuation_token") != body["continuation_token"]:
                    raise EmulatorError(
                        400,
                        "INVALID_ARGUMENT",
                        "continuation_token does not match the previous interaction's token.",
                    )
                continues, history = prev.spec, prev.spec.history  # the same turn, continued
            attachments = media.describe(body.get("input"), self.files.facts, self.files.limits)
            material = tuple(a.describe(n) for n, a in enumerate(attachments, 1))
            turn = self.turns.prepare(body, prev if prev_id is not None else None, self._scripts, now, material)  # fmt: skip
            labels = body.get("labels") or {}
            violate = None
            if schemas.schema_of(body.get("response_format"), body.get("response_mime_type"))[0]:
                rule = self.faults.take("schema_violation", "create", labels=labels)
                violate = rule.mode if rule is not None else None
            spec = sc.Spec(
                id=f"int_{uuid.uuid4().hex[:24]}",
                kind=kind,
                name=body[kind],
                input=body.get("input"),
                system_instruction=body.get("system_instruction", ""),
                generation_config=body.get("generation_config"),
                agent_config=body.get("agent_config"),
                tools=body.get("tools"),
                response_format=body.get("response_format"),
                response_mime_type=body.get("response_mime_type"),
                history=history,
                history_tokens=context,
                background=bool(body.get("background")),
                outcome=outcome or self.faults.outcome_for(labels),
                output_bytes=self.faults.output_bytes,
                continues=continues,
                attachments=attachments,
                loop=turn.loop,
                plan=turn.plan,
                violate=violate,
            )
            script = build_script(spec)
            echo = {k: body[k] for k in ECHO_FIELDS if k in body}
            speed = self._speed if at is None else self.time.speed_at(at)
            rec = Record(spec, now, speed, echo, script)
            rec.live_usage = self.live_usage
            self._scripts.put(spec.id, script)
            if body.get("store", True):
                self._records[spec.id] = rec
                self.webhooks.watch(spec.id, self._end_moment(rec, now), body.get("webhook_config"))
            else:  # not retrievable, but a `stream=true` create still streams it
                self._transient[spec.id] = rec
                while len(self._transient) > 64:
                    self._transient.pop(next(iter(self._transient)))
            ends = None if math.isinf(rec.end) else rec.at(rec.end)
            self.quotas.started(body[kind], kind, spec.id, now, ends, fired=at is not None)
            if at is not None:
                self._fired += 1
            else:
                self._created += 1
                for key, value in labels.items():
                    self._by_label[f"{key}={value}"] += 1
            self.turns.created(prev_id, turn, spec, script)
            if (self._created + self._fired) % 1024 == 0:
                self._sweep(now)
            # POST returns the output steps only; GET adds the input.
            return dict(rec.render(self._scripts, now))

    def _forbid_young(self, op: str, rec: Record, now: datetime) -> None:
        error = self.faults.forbidden(op, (now - rec.t0).total_seconds())
        if error is not None:
            raise error

    def _get(self, interaction_id: str, include_input: bool | None = None) -> dict[str, Any]:
        with self._lock:
            now = self.clock.now()
            rec = self._lookup(interaction_id, now)
            self._forbid_young("get", rec, now)
            view = rec.render(self._scripts, now)
            if include_input is False:
                return dict(view)
            out = dict(view)
            out["steps"] = sc.input_steps(rec.spec.input) + view["steps"]
            if include_input and rec.spec.input is not None:
                out["input"] = rec.spec.input
            return out

    def fire(
        self, body: dict[str, Any], at: datetime, outcome: str | None = None
    ) -> tuple[str, datetime | None, str, str | None]:
        """Create an interaction on the service's own behalf (a trigger's firing) as of the real
        moment `at`. Returns its id, when it will end (None: never), its final status and error."""
        with self._lock:
            interaction_id = self._create(body, at, outcome)["id"]
            rec = self._records[interaction_id]
            script = self._scripts.get(rec.spec)
            ends = None if math.isinf(rec.end) else rec.at(rec.end)
            error = (script.errors or [{}])[0].get("message")
            return interaction_id, ends, script.final_status, error

    def _cancel(self, interaction_id: str, at: datetime | None = None) -> dict[str, Any]:
        """`at`: the real moment it is cancelled (a trigger's timeout, passed); default now."""
        with self._lock:
            now = at or self.clock.now()
            rec = self._lookup(interaction_id, now)
            status = rec.render(self._scripts, now)["status"]
            if rec.cancel_at is not None or status not in sc.CANCELLABLE:
                # FAILED_PRECONDITION (400): the request is valid but the resource's state forbids it.
                raise EmulatorError(
                    400,
                    "FAILED_PRECONDITION",
                    f"Interaction '{interaction_id}' is already {status} and cannot be cancelled.",
                )
            script = self._scripts.get(rec.spec)
            payloads = script.payloads(0, rec.visible(script, now))
            rec.end_early(script, now, cancel_tail(rec.spec, payloads))
            self.webhooks.recheck(interaction_id, now)
            self.quotas.ended(interaction_id)
            self.triggers.interaction_ended(interaction_id, now, "cancelled")
            return dict(rec.render(self._scripts, now))

    def _delete(self, interaction_id: str) -> dict[str, Any]:
        with self._lock:
            self._lookup(interaction_id)
            del self._records[interaction_id]
            self._scripts.drop(interaction_id)
            self.webhooks.forget(interaction_id)
            self.quotas.ended(interaction_id)
            self.triggers.interaction_ended(interaction_id, self.clock.now(), "deleted")
            self._deleted += 1
            return {}

    def _stream(self, interaction_id: str, last_event_id: str | None = None) -> int:
        with self._lock:
            now = self.clock.now()
            self._forbid_young("stream", self._lookup(interaction_id, now), now)
            return self._position(last_event_id)

    # --- webhooks --------------------------------------------------------------------------------

    @staticmethod
    def _end_moment(rec: Record, now: datetime) -> datetime | None:
        """When the interaction ends (a millisecond after its last event); None: never."""
        if rec.cancel_at is not None:
            return now
        if math.isinf(rec.end):
            return None
        return rec.at(rec.end) + timedelta(milliseconds=1)

    def dispatch_webhooks(self, timeout: float = 5.0) -> int:
        """Announce the watched interactions that have ended, then make the deliveries that are
        due. The dispatcher thread calls this every 50 ms; tests may call it directly."""
        self.triggers.catch_up()  # so firings (and their webhooks) happen with nobody looking
        now = self.clock.now()
        for interaction_id in self.webhooks.due_interactions(now):
            with self._lock:
                rec = self._records.get(interaction_id)
                if rec is None:
                    self.webhooks.forget(interaction_id)
                    continue
                if not rec.is_over(now):
                    end = self._end_moment(rec, now)
                    if end is not None:
                        self.webhooks.recheck(interaction_id, end)
                    continue
                status = rec.render(self._scripts, now)["status"]
            self.webhooks.ended(interaction_id, status)
        return self.webhooks.pump(timeout)

    def trigger_call(self, name: str, *args: Any) -> Any:
        """One call of the triggers resource (counted as a `triggers` request)."""
        with self._lock:
            self._requests["triggers"] += 1
        self.triggers.catch_up()
        with self._lock:
            return getattr(self.triggers, name)(*args)

    def webhook_call(self, name: str, *args: Any) -> Any:
        """One call of the webhooks resource (counted as a `webhooks` request)."""
        with self._lock:
            self._requests["webhooks"] += 1
        return getattr(self.webhooks, name)(*args)

    # --- internals -------------------------------------------------------------------------------

    def _lookup(self, interaction_id: str, now: datetime | None = None, what: str = "") -> Record:
        rec = self._records.get(interaction_id)
        if rec is not None and self._expired_at(rec, now or self.clock.now()):
            self._drop(rec)
            rec = None
        if rec is None:
            error = not_found(interaction_id)
            if what:
                error.message = f"{what}: {error.message}"
            raise error
        return rec

    def _expired_at(self, rec: Record, now: datetime) -> bool:
        retention = self.faults.retention
        return retention is not None and (now - rec.t0).total_seconds() * rec.speed >= retention

    def _drop(self, rec: Record) -> None:
        self._records.pop(rec.spec.id, None)
        self._scripts.drop(rec.spec.id)
        self.quotas.ended(rec.spec.id)
        self._expired += 1

    def _sweep(self, now: datetime) -> None:
        if self.faults.retention is not None:
            for rec in [r for r in self._records.values() if self._expired_at(r, now)]:
                self._drop(rec)

    @staticmethod
    def _position(event_id: str | None) -> int:
        """The index of the event after `event_id` ("evt_0004" -> 4)."""
        if event_id is None:
            return 0
        head, _, number = event_id.partition("_")
        if head != "evt" or not number.isdigit():
            raise EmulatorError(
                400,
                "INVALID_ARGUMENT",
                f"last_event_id {event_id!r} is not an event id of this API.",
            )
        return int(number)


def _ends_at(rec: Record) -> str | None:
    """When (on the backend's clock, to the microsecond) the interaction ends, or None (never, or
    already frozen by a cancel): what a benchmark measures detection latency from."""
    if rec.inline or rec.cancel_at is not None or not math.isfinite(rec.end) or rec.speed <= 0:
        return None
    return (rec.t0 + timedelta(seconds=rec.end / rec.speed)).isoformat()
