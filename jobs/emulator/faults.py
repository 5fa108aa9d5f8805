"""The fault plan: which requests the emulator answers badly, and how.

A plan is a list of rules plus a few global knobs (added latency, retention, output size). Each rule
names an operation (`create`, `get`, `stream`, `cancel`, `delete` or `*`) and fires on the next
`times` matching calls, on a `rate` fraction of them (drawn from a seeded generator, so a run is
reproducible), or both (a fraction, at most `times` times); with neither it fires on every call.
Rules compose: several may be active at once and each counts its own hits.

Kinds, and when they act:
- `fail`              before the operation: answer `status` and do nothing (429 carries a retry delay).
- `accept_then_delay` after the operation took effect: hold the reply for `seconds` real seconds.
- `accept_then_fail`  after the operation took effect: answer `status` anyway (duplicate-risk case).
- `malformed`         after the operation took effect: `html_502`, `invalid_json` or `missing_fields`.
- `cut_stream`        an SSE reply stops after `after_events` events, or after `seconds` simulated
                      seconds of streaming: `abort` (a broken chunked body), `eof` (a clean end
                      without `[DONE]`) or `text_503` (a plain-text 503 line, then a broken body:
                      what the real service is reported to do at about 10 minutes).
- `stall_resume`      a resumed SSE reply (one with `last_event_id`) replays the `after_events`
                      (default 2) events before the resume point, then hangs: keep-alives only.
- `duplicate_event`   an SSE reply sends its `after_events`-th event (1-based) twice.
- `outcome`           the next created interactions (or those with a given label) end in `status`.
- `forbidden_after_create`  a `get` (or stream) of an interaction younger than `seconds` (by the
                      emulator's clock) answers 403 PERMISSION_DENIED, as the real service was seen
                      to do right after a create.
`cancel_not_found()` is a `fail` rule on `cancel` with 404: the live interaction is not cancelled.

Kinds of the newer surfaces (asked for with `take`, by files.py, turns.py and triggers.py):
- `upload_refused`    the `after_events`-th chunk (default 1) of an upload is answered `status`
                      (default 503) and the upload session ends: an upload refused mid-way.
- `file_failed`       an uploaded file ends FAILED instead of ACTIVE once processed.
- `schema_violation`  a reply with a JSON schema breaks it: `mode` missing_required (default),
                      wrong_type or not_json; `label` narrows it as for `outcome`.
- `stale_call`        a continuation carrying function results is refused 400, as if a call id
                      were stale.
- `plan_expiry`       a research plan turn older than `seconds` (simulated) cannot be continued:
                      `status` 400 (default, FAILED_PRECONDITION) or 404 (NOT_FOUND).
- `trigger_failure`   a trigger's next firings (of one trigger, or any) fail: `mode` `interaction`
                      (the interaction is created and ends failed) or `create` (no interaction is
                      created; the execution fails at once).
Retention: interactions are forgotten `retention` emulated seconds after creation (see `set_tier`).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from jobs.emulator.errors import EmulatorError

OPERATIONS = ("create", "get", "stream", "cancel", "delete")
KINDS = (
    "fail",
    "accept_then_delay",
    "accept_then_fail",
    "malformed",
    "cut_stream",
    "stall_resume",
    "duplicate_event",
    "outcome",
    "forbidden_after_create",
    "upload_refused",
    "file_failed",
    "schema_violation",
    "stale_call",
    "plan_expiry",
    "trigger_failure",
)
RULE_OPS = (*OPERATIONS, "upload")  # `upload`: the Files API's upload requests
VIOLATION_MODES = ("missing_required", "wrong_type", "not_json")
TIERS = {"free": 86400.0, "paid": 55 * 86400.0}  # retention of each tier, in seconds
MALFORMED_KINDS = ("html_502", "invalid_json", "missing_fields")
CUT_MODES = ("abort", "eof", "text_503")
STREAM_KINDS = ("cut_stream", "stall_resume", "duplicate_event")


@dataclass
class FaultRule:
    """One rule of the plan. `remaining` is None for "no limit"; `hits` counts firings."""

    id: int
    kind: str
    op: str = "*"
    status: int | str | None = None
    times: int | None = None
    rate: float | None = None
    retry_after: float | None = None
    seconds: float | None = None
    malformed: str | None = None
    after_events: int | None = None
    mode: str | None = None
    label: str | None = None
    message: str | None = None
    trigger: str | None = None  # trigger_failure: only this trigger's firings
    hits: int = 0
    remaining: int | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class StreamFaults:
    """What goes wrong with one SSE reply (all None: nothing)."""

    cut_after_events: int | None = None
    cut_after_seconds: float | None = None  # simulated seconds since the stream opened
    cut_mode: str = "abort"
    stall_replay: int | None = None  # resumed: replay this many events before the point, hang
    duplicate_at: int | None = None  # 1-based index of the event sent twice

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (
                self.cut_after_events,
                self.cut_after_seconds,
                self.stall_replay,
                self.duplicate_at,
            )
        )


@dataclass
class AfterEffects:
    """What happens to a reply once its operation took effect."""

    delay: float = 0.0
    error: EmulatorError | None = None
    malformed: str | None = None


class FaultPlan:
    """Thread-safe set of fault rules and global knobs; see the module docstring."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        """Drop every rule and knob; the random generator starts again from the seed."""
        with self._lock:
            self._rules: list[FaultRule] = []
            self._next_id = 1
            self._rng = random.Random(self._seed)
            self.latency = 0.0
            self.set_tier("paid")
            self.output_bytes: int | None = None

    def set_tier(self, tier: str) -> None:
        """The key's tier, and with it the service's retention: 1 day on the free tier, 55 days on
        a paid one (the default); `retention` set afterwards overrides it. ValueError if unknown."""
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")
        self.tier = tier
        self.retention: float | None = TIERS[tier]

    # --- adding rules ----------------------------------------------------------------------------

    def fail(
        self,
        op: str = "*",
        status: int = 503,
        *,
        times: int | None = None,
        rate: float | None = None,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> FaultRule:
        """Answer `status` instead of performing `op` (the call has no effect)."""
        return self.add(
            kind="fail",
            op=op,
            status=status,
            times=times,
            rate=rate,
            retry_after=retry_after,
            message=message,
        )

    def accept_then_delay(
        self,
        op: str = "create",
        seconds: float = 5.0,
        *,
        times: int | None = 1,
        rate: float | None = None,
    ) -> FaultRule:
        """Perform `op`, then hold the reply `seconds` real seconds (a client timeout fires)."""
        return self.add(kind="accept_then_delay", op=op, seconds=seconds, times=times, rate=rate)

    def accept_then_fail(
        self,
        op: str = "create",
        status: int = 500,
        *,
        times: int | None = 1,
        rate: float | None = None,
        retry_after: float | None = None,
    ) -> FaultRule:
        """Perform `op`, then answer `status` as if it had failed."""
        return self.add(
            kind="accept_then_fail",
            op=op,
            status=status,
            times=times,
            rate=rate,
            retry_after=retry_after,
        )

    def malformed(
        self,
        op: str = "get",
        kind: str = "html_502",
        *,
        times: int | None = 1,
        rate: float | None = None,
    ) -> FaultRule:
        """Perform `op`, then answer a malformed reply of the given kind."""
        return self.add(kind="malformed", op=op, malformed=kind, times=times, rate=rate)

    def cut_stream(
        self,
        after_events: int = 3,
        *,
        op: str = "*",
        mode: str = "abort",
        times: int | None = 1,
        rate: float | None = None,
    ) -> FaultRule:
        """Stop an SSE reply after `after_events` events (`abort` breaks the body, `eof` ends it)."""
        return self.add(
            kind="cut_stream", op=op, after_events=after_events, mode=mode, times=times, rate=rate
        )

    def cut_stream_after(
        self,
        seconds: float,
        *,
        mode: str = "text_503",
        times: int | None = 1,
        rate: float | None = None,
    ) -> FaultRule:
        """Cut an SSE reply `seconds` simulated seconds after it opened (the real service: ~600,
        with a plain-text 503)."""
        return self.add(
            kind="cut_stream", op="stream", seconds=seconds, mode=mode, times=times, rate=rate
        )

    def stall_resume(
        self, replay: int = 2, *, times: int | None = 1, rate: float | None = None
    ) -> FaultRule:
        """A resumed stream replays `replay` events before the resume point, then hangs."""
        return self.add(
            kind="stall_resume", op="stream", after_events=replay, times=times, rate=rate
        )

    def duplicate_event(
        self, index: int = 3, *, times: int | None = 1, rate: float | None = None
    ) -> FaultRule:
        """An SSE reply sends its `index`-th event (1-based) twice."""
        return self.add(
            kind="duplicate_event", op="stream", after_events=index, times=times, rate=rate
        )

    def force_outcome(
        self,
        status: str,
        *,
        times: int | None = 1,
        label: str | None = None,
        rate: float | None = None,
    ) -> FaultRule:
        """The next `times` created interactions (with `label` "key=value" if given) end in `status`."""
        return self.add(
            kind="outcome", op="create", status=status, times=times, label=label, rate=rate
        )

    def cancel_not_found(self, *, times: int | None = 1, rate: float | None = None) -> FaultRule:
        """`cancel` answers 404 NOT_FOUND for a live interaction (which is left running)."""
        return self.fail(
            "cancel", 404, times=times, rate=rate, message="Requested entity was not found."
        )

    def forbidden_after_create(
        self, seconds: float = 2.0, *, op: str = "*", times: int | None = None
    ) -> FaultRule:
        """A get or stream of an interaction created less than `seconds` ago answers 403."""
        return self.add(kind="forbidden_after_create", op=op, seconds=seconds, times=times)

    def forbidden(self, op: str, age: float) -> EmulatorError | None:
        """The 403 for a look at an interaction `age` seconds old, if a rule says so."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._matching("forbidden_after_create", op):
                if age < float(rule.seconds or 0.0) and self._fire(rule):
                    return EmulatorError(403, None, "The caller does not have permission.")
        return None

    def fail_executions(self, times: int | None = 1, **fields: Any) -> FaultRule:
        """The next `times` trigger firings fail (`mode` interaction or create, `trigger`, `rate`,
        `message`); triggers.py asks with `take("trigger_failure", "*", match=...)`."""
        return self.add(kind="trigger_failure", times=times, **fields)

    def take(
        self,
        kind: str,
        op: str,
        *,
        labels: dict[str, str] | None = None,
        match: Any = None,
    ) -> FaultRule | None:
        """The first rule of `kind` for `op` that fires (its label, if any, among `labels`, and
        `match(rule)` true when given); None when none does."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._matching(kind, op):
                if rule.label is not None:
                    key, _, value = rule.label.partition("=")
                    if (labels or {}).get(key) != value:
                        continue
                if match is not None and not match(rule):
                    continue
                if self._fire(rule):
                    return rule
        return None

    def add(self, spec: dict[str, Any] | None = None, /, **kwargs: Any) -> FaultRule:
        """Add a rule from a JSON-like spec (the control API's body); ValueError when invalid."""
        data = {**(spec or {}), **kwargs}
        rule = _validated_rule(data)
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            rule.remaining = rule.times
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        """Drop the rules, keep the knobs."""
        with self._lock:
            self._rules = []

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_dict() for r in self._rules]

    def config(self) -> dict[str, Any]:
        return {
            "latency": self.latency,
            "tier": self.tier,
            "retention": self.retention,
            "output_bytes": self.output_bytes,
        }

    # --- decisions -------------------------------------------------------------------------------

    def _fire(self, rule: FaultRule) -> bool:
        """Whether `rule` fires for this call; consumes one of its `times` if so (lock held)."""
        if rule.remaining is not None and rule.remaining <= 0:
            return False
        if rule.rate is not None and self._rng.random() >= rule.rate:
            return False
        if rule.remaining is not None:
            rule.remaining -= 1
        rule.hits += 1
        return True

    def _matching(self, kind: str, op: str) -> list[FaultRule]:
        return [r for r in self._rules if r.kind == kind and r.op in ("*", op)]

    def before(self, op: str) -> EmulatorError | None:
        """The error to answer instead of performing `op`, if a `fail` rule fires."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._matching("fail", op):
                if self._fire(rule):
                    return _error_for(rule)
        return None

    def after(self, op: str) -> AfterEffects:
        """Delays, errors and malformed replies for an `op` that took effect."""
        effects = AfterEffects()
        if not self._rules:
            return effects
        with self._lock:
            for rule in self._matching("accept_then_delay", op):
                if self._fire(rule):
                    effects.delay += float(rule.seconds or 0.0)
            for rule in self._matching("accept_then_fail", op):
                if self._fire(rule):
                    effects.error = _error_for(rule, accepted=True)
                    break
            if effects.error is None:
                for rule in self._matching("malformed", op):
                    if self._fire(rule):
                        effects.malformed = rule.malformed
                        break
        return effects

    def stream_cut(self, op: str) -> tuple[int, str] | None:
        """(events to send, mode) if a `cut_stream` rule fires for this SSE reply."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._matching("cut_stream", op):
                if rule.after_events is not None and self._fire(rule):
                    return int(rule.after_events), str(rule.mode or "abort")
        return None

    def stream_faults(self, op: str, *, resumed: bool) -> StreamFaults:
        """Cuts, stalls and duplicates for one SSE reply (`resumed`: it has a last_event_id)."""
        faults = StreamFaults()
        if not self._rules:
            return faults
        with self._lock:
            for rule in self._matching("cut_stream", op):
                if self._fire(rule):
                    faults.cut_after_events = rule.after_events
                    faults.cut_after_seconds = rule.seconds
                    faults.cut_mode = str(rule.mode or "abort")
                    break
            if resumed:
                for rule in self._matching("stall_resume", op):
                    if self._fire(rule):
                        faults.stall_replay = int(rule.after_events or 0)
                        break
            for rule in self._matching("duplicate_event", op):
                if self._fire(rule):
                    faults.duplicate_at = max(1, int(rule.after_events or 1))
                    break
        return faults

    def outcome_for(self, labels: dict[str, str]) -> str | None:
        """The forced final status for a new interaction with these labels, if any."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._matching("outcome", "create"):
                if rule.label is not None:
                    key, _, value = rule.label.partition("=")
                    if labels.get(key) != value:
                        continue
                if self._fire(rule):
                    return str(rule.status)
        return None


def _error_for(rule: FaultRule, *, accepted: bool = False) -> EmulatorError:
    status = int(rule.status or 500)
    retry_after = rule.retry_after
    if retry_after is None and status == 429:
        retry_after = 1.0  # a real 429 always says when to come back
    details = []
    if status == 429:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "subject": "emulator",
                        "description": "Fault injected by the emulator's fault plan.",
                    }
                ],
            }
        )
    return EmulatorError(
        status, None, rule.message, details, retry_after=retry_after, accepted=accepted
    )


def _number(data: dict[str, Any], key: str, kind: type, *, minimum: float = 0) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, got {value!r}")
    if kind is int and not float(value).is_integer():
        raise ValueError(f"{key} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{key} must be >= {minimum}, got {value!r}")
    return kind(value)


def _validated_rule(data: dict[str, Any]) -> FaultRule:
    known = set(FaultRule.__dataclass_fields__) - {"id", "hits", "remaining"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    implied = {"outcome": "create", "upload_refused": "upload", "file_failed": "upload"}
    op = data.get("op", implied.get(kind, "create" if kind in _CREATE_KINDS else "*"))
    if op != "*" and op not in RULE_OPS:
        raise ValueError(f"op must be one of {', '.join(RULE_OPS)} or *, got {op!r}")
    if kind == "trigger_failure" and op != "*":
        raise ValueError(
            "a trigger_failure rule acts on firings, not on an operation: leave op out"
        )
    rule = FaultRule(id=0, kind=kind, op=op)
    rule.times = _number(data, "times", int)
    rule.rate = _number(data, "rate", float)
    if rule.rate is not None and rule.rate > 1:
        raise ValueError(f"rate must be between 0 and 1, got {rule.rate!r}")
    rule.retry_after = _number(data, "retry_after", float)
    rule.message = data.get("message")
    if kind in ("fail", "accept_then_fail"):
        status = _number(data, "status", int, minimum=100)
        if status is None or not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status!r}")
        rule.status = status
    elif kind in ("accept_then_delay", "forbidden_after_create"):
        rule.seconds = _number(data, "seconds", float)
        if rule.seconds is None:
            raise ValueError(f"{kind} needs seconds")
    elif kind == "malformed":
        rule.malformed = data.get("malformed", "html_502")
        if rule.malformed not in MALFORMED_KINDS:
            raise ValueError(f"malformed must be one of {', '.join(MALFORMED_KINDS)}")
    elif kind == "cut_stream":
        rule.after_events = _number(data, "after_events", int)
        rule.seconds = _number(data, "seconds", float)
        if rule.after_events is None and rule.seconds is None:
            raise ValueError("cut_stream needs after_events or seconds")
        rule.mode = data.get("mode", "abort")
        if rule.mode not in CUT_MODES:
            raise ValueError(f"mode must be one of {', '.join(CUT_MODES)}")
    elif kind in ("stall_resume", "duplicate_event"):
        default = 2 if kind == "stall_resume" else 1
        rule.after_events = _number(data, "after_events", int)
        rule.after_events = default if rule.after_events is None else rule.after_events
    elif kind in _NEWER_KINDS:
        _newer_rule(kind, data, rule)
    elif kind == "outcome":
        status = data.get("status")
        if not isinstance(status, str) or not status:
            raise ValueError("outcome needs a status string")
        rule.status = status
        label = data.get("label")
        if label is not None and (not isinstance(label, str) or "=" not in label):
            raise ValueError(f"label must look like key=value, got {label!r}")
        rule.label = label
    elif kind == "trigger_failure":
        rule.mode = data.get("mode", "interaction")
        if rule.mode not in ("interaction", "create"):
            raise ValueError("mode must be one of interaction, create")
        trigger = data.get("trigger")
        if trigger is not None and (not isinstance(trigger, str) or not trigger):
            raise ValueError(f"trigger must be a trigger id, got {trigger!r}")
        rule.trigger = trigger
    return rule


_CREATE_KINDS = ("schema_violation", "stale_call", "plan_expiry")
_NEWER_KINDS = ("upload_refused", "file_failed", *_CREATE_KINDS)


def _newer_rule(kind: str, data: dict[str, Any], rule: FaultRule) -> None:
    """The fields of the kinds added for files, schemas and turns (see the module docstring)."""
    if kind == "upload_refused":
        rule.after_events = _number(data, "after_events", int, minimum=1)
        status = _number(data, "status", int, minimum=100)
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status!r}")
        rule.status = status
    elif kind == "schema_violation":
        rule.mode = data.get("mode", "missing_required")
        if rule.mode not in VIOLATION_MODES:
            raise ValueError(f"mode must be one of {', '.join(VIOLATION_MODES)}")
        label = data.get("label")
        if label is not None and (not isinstance(label, str) or "=" not in label):
            raise ValueError(f"label must look like key=value, got {label!r}")
        rule.label = label
    elif kind == "plan_expiry":
        rule.seconds = _number(data, "seconds", float)
        if rule.seconds is None:
            raise ValueError("plan_expiry needs seconds")
        status = _number(data, "status", int, minimum=100)
        if status not in (None, 400, 404):
            raise ValueError(f"plan_expiry status must be 400 or 404, got {status!r}")
        rule.status = status
