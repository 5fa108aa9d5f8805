"""Triggers: the `triggers` resource as google-genai 3.4 speaks it, firing on emulated time.

A trigger holds an agent interaction (`interaction`, the body of an agent create: a model
interaction is refused, 400), a cron `schedule` (standard five fields, cron.py) and its `time_zone`.
It fires on the emulator's time line (emulated_time.py): a night passes in seconds at `--speed`.
Nothing runs in the background: the firings that became due are made, in time order, whenever the
emulator is looked at (every API request, `/_emulator/stats`, and the webhook dispatcher's pass
every 50 ms), each AT its scheduled moment: its interaction is created as of that moment (an
ordinary interaction, with its own timeline from then), so what a client sees afterwards is what
a service that fired on time would show, whether a client was connected or not.

Each firing is an execution (`scheduled_time`, `start_time`, `end_time`, `status`,
`interaction_id`, `error`, `environment_id`):
- `in_progress` while its interaction runs; then `completed` (the interaction ended completed or
  incomplete) or `failed` (any other end: failed, cancelled, budget_exceeded, requires_action, ...,
  or deleted before it ended; `error` says which);
- `failed` at once when the interaction could not be created (a quota, a `trigger_failure` fault
  in `create` mode, a `previous_interaction_id` the service has forgotten): no `interaction_id`;
- `timed_out` when `execution_timeout_seconds` passed first: the service cancels the interaction;
- `skipped` when the schedule fires while an earlier execution of the trigger is still running
  (no interaction, no overlap; `run` always runs).
A failed or timed-out execution counts in `consecutive_failure_count` (a completed one resets it);
on reaching `max_consecutive_failures` (unset: never) the trigger's status becomes `error`, it
stops firing, and `last_pause_time` says when. `update(status="active")` resumes it (from `error`
the count restarts at 0); firings missed while paused are not made up: the next one is from then.
The trigger's `previous_interaction_id` is the last interaction it created; firings do not chain
to one another (the SDK describes the field as output only); an `interaction.previous_interaction_id`
given in the trigger is used by every firing.

Times of triggers and executions are emulated (equal to the clock at speed 1); the interactions
keep the clock's times, as every interaction does.
"""

from __future__ import annotations

import contextlib
import copy
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.emulator.cron import CronError, CronSchedule
from jobs.emulator.errors import EmulatorError, invalid_argument
from jobs.emulator.validate import check_create

_CREATE_NAMES = (
    "interaction schedule time_zone display_name environment_id execution_timeout_seconds "
    "max_consecutive_failures"
)
_OUTPUT_NAMES = (
    "id consecutive_failure_count create_time update_time last_pause_time last_resume_time "
    "last_run_time next_run_time previous_interaction_id"
)
CREATE_FIELDS = frozenset(_CREATE_NAMES.split())
OUTPUT_FIELDS = frozenset(_OUTPUT_NAMES.split())  # the service sets these
SUCCESS = ("completed", "incomplete")  # interaction ends that make an execution `completed`
MAX_EXECUTIONS = 10_000  # kept per trigger; the oldest ended ones go first
NEVER = datetime.max.replace(tzinfo=UTC)
_FILTER = re.compile(r'^\s*(status|display_name)\s*(=|!=)\s*"?([^"]*?)"?\s*$')


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC, as protobuf Timestamps are written in JSON (0, 3 or 6 digits)."""
    moment = moment.astimezone(UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond == 0:
        return base + "Z"
    if moment.microsecond % 1000 == 0:
        return f"{base}.{moment.microsecond // 1000:03d}Z"
    return f"{base}.{moment.microsecond:06d}Z"


@dataclass(eq=False)
class Execution:
    """One firing. Times are emulated; `ends_real` is when its interaction ends, by the clock."""

    id: str
    seq: int
    scheduled: datetime
    status: str = "in_progress"
    started: datetime | None = None
    ended: datetime | None = None
    interaction_id: str | None = None
    error: str | None = None
    ends_real: datetime | None = None  # None: the interaction never ends by itself
    final: str | None = None  # the interaction's status when it ends
    final_error: str | None = None
    deadline: datetime | None = None  # execution_timeout_seconds after the start

    def view(self, trigger: Trigger) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "trigger_id": trigger.id,
            "status": self.status,
            "scheduled_time": timestamp(self.scheduled),
        }
        for key, moment in (("start_time", self.started), ("end_time", self.ended)):
            if moment is not None:
                out[key] = timestamp(moment)
        for key, value in (
            ("interaction_id", self.interaction_id),
            ("error", self.error),
            ("environment_id", trigger.environment_id),
        ):
            if value is not None:
                out[key] = value
        return out


@dataclass(eq=False)
class Trigger:
    id: str
    interaction: dict[str, Any]
    schedule: str
    time_zone: str
    cron: CronSchedule
    created: datetime
    display_name: str | None = None
    environment_id: str | None = None
    timeout: int | None = None
    max_failures: int | None = None
    status: str = "active"
    failures: int = 0
    next_fire: datetime | None = None
    last_run: datetime | None = None
    last_pause: datetime | None = None
    last_resume: datetime | None = None
    updated: datetime | None = None
    previous_interaction_id: str | None = None
    executions: list[Execution] = field(default_factory=list)  # oldest first
    pending: list[Execution] = field(default_factory=list)  # in progress
    seq: int = 0

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "interaction": copy.deepcopy(self.interaction),
            "schedule": self.schedule,
            "time_zone": self.time_zone,
            "status": self.status,
            "create_time": timestamp(self.created),
            "update_time": timestamp(self.updated or self.created),
        }
        optional = {
            "display_name": self.display_name,
            "environment_id": self.environment_id,
            "execution_timeout_seconds": self.timeout,
            "max_consecutive_failures": self.max_failures,
            "consecutive_failure_count": self.failures or None,  # proto3 JSON omits zeros
            "previous_interaction_id": self.previous_interaction_id,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        for key, moment in (
            ("next_run_time", self.next_fire if self.status == "active" else None),
            ("last_run_time", self.last_run),
            ("last_pause_time", self.last_pause),
            ("last_resume_time", self.last_resume),
        ):
            if moment is not None:
                out[key] = timestamp(moment)
        return out


def _fired_body(interaction: dict[str, Any]) -> dict[str, Any]:
    """The create body of a firing: the trigger's interaction, run in the background."""
    body = {k: v for k, v in interaction.items() if k != "stream"}
    body["background"] = True  # nobody waits for a scheduled run's answer
    return body


def _whole(body: dict[str, Any], key: str, minimum: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():  # proto3 JSON may write integers as strings
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid_argument(f"'{key}' must be a whole number >= {minimum}.", field=key)
    return value


def _page_size(value: Any) -> int:
    if value in (None, "", "0", 0):
        return 50
    if not str(value).isdigit():
        raise invalid_argument(f"Invalid page_size {value!r}.", field="page_size")
    return min(int(value), 1000)


class TriggerService:
    """Triggers and their executions. Runs under the backend's lock (its `trigger_call`)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.reset()

    def reset(self) -> None:
        self._triggers: dict[str, Trigger] = {}
        self._by_interaction: dict[str, tuple[Trigger, Execution]] = {}
        self._due: tuple[int, datetime] | None = None  # (time line version, next event) cached
        self.fired = 0  # interactions created by firings

    def _now(self) -> tuple[datetime, datetime]:
        """(real now, emulated now)."""
        real = self.backend.clock.now()
        return real, self.backend.time.to_emulated(real)

    # --- the resource -------------------------------------------------------------------------

    def create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid_argument("Invalid JSON payload received: expected a JSON object.")
        for key in body:
            if key not in CREATE_FIELDS:
                raise invalid_argument(
                    f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.',
                    field=key,
                )
        for key in ("interaction", "schedule", "time_zone"):
            if key not in body:
                raise invalid_argument(f"'{key}' is required.", field=key)
        interaction = body["interaction"]
        if not isinstance(interaction, dict):
            raise invalid_argument("'interaction' must be an object.", field="interaction")
        if "model" in interaction:
            raise invalid_argument(
                "Only agent interactions can be scheduled: 'interaction' names a model. "
                "Set 'agent' instead.",
                field="interaction.model",
            )
        if "agent" not in interaction:
            raise invalid_argument("'interaction.agent' is required.", field="interaction.agent")
        try:
            check_create(_fired_body(interaction))
        except EmulatorError as error:
            error.message = f"interaction: {error.message}"
            raise
        try:
            cron = CronSchedule(body["schedule"], body["time_zone"])
        except CronError as exc:
            which = "time_zone" if "time zone" in str(exc) else "schedule"
            raise invalid_argument(f"Invalid {which}: {exc}.", field=which) from None
        for key in ("display_name", "environment_id"):
            if key in body and not isinstance(body[key], str):
                raise invalid_argument(f"'{key}' must be a string.", field=key)
        _, now = self._now()
        trigger = Trigger(
            id=f"trg_{uuid.uuid4().hex[:16]}",
            interaction=copy.deepcopy(interaction),
            schedule=body["schedule"],
            time_zone=body["time_zone"],
            cron=cron,
            created=now,
            display_name=body.get("display_name"),
            environment_id=body.get("environment_id"),
            timeout=_whole(body, "execution_timeout_seconds", 1),
            max_failures=_whole(body, "max_consecutive_failures", 1),
            next_fire=cron.next_after(now),
        )
        self._triggers[trigger.id] = trigger
        self._due = None
        return trigger.view()

    def list(
        self, filter_: str | None = None, page_size: Any = None, page_token: str | None = None
    ) -> dict[str, Any]:
        tests = self._filter(filter_)
        chosen = [
            t
            for t in self._triggers.values()
            if all((str(getattr(t, name) or "") == value) == equal for name, equal, value in tests)
        ]
        if page_token and not page_token.isdigit():
            raise invalid_argument("Invalid page_token.", field="page_token")
        start = int(page_token) if page_token else 0
        size = _page_size(page_size)
        out: dict[str, Any] = {"triggers": [t.view() for t in chosen[start : start + size]]}
        if start + size < len(chosen):
            out["next_page_token"] = str(start + size)
        return out

    @staticmethod
    def _filter(text: str | None) -> list[tuple[str, bool, str]]:
        """AIP-160's simplest form: `status = "paused" AND display_name != "x"`."""
        tests = []
        for term in re.split(r"\s+AND\s+", text or "") if text and text.strip() else []:
            match = _FILTER.match(term)
            if not match:
                raise invalid_argument(
                    f"Unsupported filter {text!r}: use status or display_name with = or !=.",
                    field="filter",
                )
            tests.append((match.group(1), match.group(2) == "=", match.group(3)))
        return tests

    def get(self, trigger_id: str) -> dict[str, Any]:
        return self._trigger(trigger_id).view()

    def update(self, trigger_id: str, body: Any) -> dict[str, Any]:
        trigger = self._trigger(trigger_id)
        if not isinstance(body, dict):
            raise invalid_argument("Invalid JSON payload received: expected a JSON object.")
        for key in body:
            if key in ("display_name", "status"):
                continue
            if key in CREATE_FIELDS | OUTPUT_FIELDS:
                raise invalid_argument(
                    f"'{key}' cannot be updated: only display_name and status can.", field=key
                )
            raise invalid_argument(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.',
                field=key,
            )
        status = body.get("status")
        if status is not None and status not in ("active", "paused"):
            raise invalid_argument(
                f"Invalid status {status!r}: a trigger can be set active or paused "
                "(error is set by the service).",
                field="status",
            )
        if "display_name" in body and not isinstance(body["display_name"], str):
            raise invalid_argument("'display_name' must be a string.", field="display_name")
        _, now = self._now()
        if "display_name" in body:
            trigger.display_name = body["display_name"]
        if status == "paused" and trigger.status != "paused":
            trigger.status, trigger.last_pause, trigger.next_fire = "paused", now, None
        elif status == "active" and trigger.status != "active":
            if trigger.status == "error":
                trigger.failures = 0  # another chance: the count starts again
            trigger.status, trigger.last_resume = "active", now
            trigger.next_fire = trigger.cron.next_after(now)  # missed while paused: not made up
        if body:
            trigger.updated = now
        self._due = None
        return trigger.view()

    def delete(self, trigger_id: str) -> dict[str, Any]:
        trigger = self._trigger(trigger_id)
        del self._triggers[trigger_id]
        for execution in trigger.pending:
            self._by_interaction.pop(execution.interaction_id or "", None)
        self._due = None
        return {}

    def run(self, trigger_id: str) -> dict[str, Any]:
        """Fire now, whatever the schedule and status say (a manual run is never skipped)."""
        trigger = self._trigger(trigger_id)
        real, now = self._now()
        execution = self._fire(trigger, now, real, manual=True)
        self._due = None
        return execution.view(trigger)

    def executions(
        self, trigger_id: str, page_size: Any = None, page_token: str | None = None
    ) -> dict[str, Any]:
        """Newest first; a page token names the last execution seen, so executions made
        between two pages shift nothing."""
        trigger = self._trigger(trigger_id)
        if page_token and not page_token.isdigit():
            raise invalid_argument("Invalid page_token.", field="page_token")
        size = _page_size(page_size)
        older = [
            e for e in reversed(trigger.executions) if not page_token or e.seq < int(page_token)
        ]
        page = older[:size]
        out: dict[str, Any] = {"trigger_executions": [e.view(trigger) for e in page]}
        if len(older) > size:
            out["next_page_token"] = str(page[-1].seq)
        return out

    def _trigger(self, trigger_id: str) -> Trigger:
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise EmulatorError(404, "NOT_FOUND", f"Trigger '{trigger_id}' was not found.")
        return trigger

    def stats(self) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        executions: dict[str, int] = {}
        for trigger in self._triggers.values():
            statuses[trigger.status] = statuses.get(trigger.status, 0) + 1
            for execution in trigger.executions:
                executions[execution.status] = executions.get(execution.status, 0) + 1
        return {
            "count": len(self._triggers),
            "by_status": statuses,
            "executions": executions,
            "fired": self.fired,
        }

    # --- time passing -------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Make every firing, end and timeout that became due, in time order (see the module
        docstring). Cheap when nothing is due: one comparison."""
        if not self._triggers:
            return
        with self.backend._lock:
            real, now = self._now()
            version = self.backend.time.version
            if self._due is not None and self._due[0] == version and now < self._due[1]:
                return
            while True:
                best = None
                for trigger in self._triggers.values():
                    event = self._next_event(trigger)
                    if event is not None and event[0] <= now and (best is None or event[:2] < best[:2]):  # fmt: skip
                        best = (*event, trigger)
                if best is None:
                    break
                at, _, action, execution, trigger = best
                if action == "fire":
                    self._fire(trigger, at, self.backend.time.to_real(at))
                elif action == "timeout":
                    self._time_out(trigger, execution, at)
                else:
                    self._end(trigger, execution, at)
            upcoming = [e[0] for e in map(self._next_event, self._triggers.values()) if e]
            self._due = (version, min(upcoming, default=NEVER))

    def _next_event(self, trigger: Trigger) -> tuple[datetime, int, str, Execution | None] | None:
        """The trigger's next event: (emulated moment, rank, action, execution). At one moment an
        end comes before a timeout, and both before a firing (which may then run, not skip)."""
        events = []
        for execution in trigger.pending:
            if execution.ends_real is not None:
                ends = self.backend.time.to_emulated(execution.ends_real)
                events.append((ends, 0, "end", execution))
            if execution.deadline is not None:
                events.append((execution.deadline, 1, "timeout", execution))
        if trigger.status == "active" and trigger.next_fire is not None:
            events.append((trigger.next_fire, 2, "fire", None))
        return min(events, key=lambda e: e[:2]) if events else None

    def _fire(
        self, trigger: Trigger, at: datetime, real: datetime, manual: bool = False
    ) -> Execution:
        execution = Execution(f"exe_{uuid.uuid4().hex[:16]}", trigger.seq, at)
        trigger.seq += 1
        self._keep(trigger, execution)
        if not manual:
            trigger.next_fire = trigger.cron.next_after(at)
            if trigger.pending:  # the last one still runs: no overlap
                execution.status, execution.ended = "skipped", at
                return execution
        execution.started = trigger.last_run = at
        rule = self.backend.faults.take(
            "trigger_failure", "*", match=lambda r: r.trigger in (None, trigger.id)
        )
        failure = (str(rule.mode), rule.message) if rule is not None else None
        try:
            if failure is not None and failure[0] == "create":
                raise EmulatorError(
                    500, None, failure[1] or "Internal error: the execution could not start."
                )
            outcome = "failed" if failure is not None else None
            interaction_id, ends, final, error = self.backend.fire(
                _fired_body(trigger.interaction), real, outcome
            )
        except EmulatorError as error:
            execution.status, execution.ended = "failed", at
            execution.error = f"{error.status}: {error.message}"
            self._failed(trigger, at)
            return execution
        self.fired += 1
        execution.interaction_id = trigger.previous_interaction_id = interaction_id
        execution.ends_real, execution.final = ends, final
        execution.final_error = (failure[1] if failure else None) or error
        if trigger.timeout is not None:
            execution.deadline = at + timedelta(seconds=trigger.timeout)
        trigger.pending.append(execution)
        self._by_interaction[interaction_id] = (trigger, execution)
        return execution

    @staticmethod
    def _keep(trigger: Trigger, execution: Execution) -> None:
        trigger.executions.append(execution)
        if len(trigger.executions) > MAX_EXECUTIONS:
            for old in trigger.executions:
                if old not in trigger.pending:
                    trigger.executions.remove(old)
                    break

    def _end(self, trigger: Trigger, execution: Execution, at: datetime) -> None:
        final = execution.final or "unknown"
        if final in SUCCESS:
            self._settle(trigger, execution, at, "completed", None)
            trigger.failures = 0
            return
        if final == "deleted":
            error = "The interaction was deleted before it ended."
        else:
            error = f"The interaction ended {final}" + (
                f": {execution.final_error}" if execution.final_error else "."
            )
        self._settle(trigger, execution, at, "failed", error)
        self._failed(trigger, at)

    def _time_out(self, trigger: Trigger, execution: Execution, at: datetime) -> None:
        # the service stops what it no longer waits for (unless it ended, or was forgotten)
        with contextlib.suppress(EmulatorError):
            self.backend._cancel(execution.interaction_id, at=self.backend.time.to_real(at))
        error = f"The execution did not end within {trigger.timeout} s; its interaction was cancelled."  # fmt: skip
        self._settle(trigger, execution, at, "timed_out", error)
        self._failed(trigger, at)

    def _settle(self, trigger: Trigger, execution: Execution, at: datetime, status: str, error: str | None) -> None:  # fmt: skip
        execution.status, execution.ended, execution.error = status, at, error
        if execution in trigger.pending:
            trigger.pending.remove(execution)
        self._by_interaction.pop(execution.interaction_id or "", None)

    def _failed(self, trigger: Trigger, at: datetime) -> None:
        trigger.failures += 1
        limit = trigger.max_failures
        if limit is not None and trigger.failures >= limit and trigger.status == "active":
            trigger.status, trigger.last_pause, trigger.next_fire = "error", at, None
            trigger.updated = at

    def interaction_ended(self, interaction_id: str, real: datetime, status: str) -> None:
        """A client cancelled or deleted (`status` "deleted") an interaction a firing made."""
        entry = self._by_interaction.get(interaction_id)
        if entry is None:
            return
        execution = entry[1]
        if execution.ends_real is not None and execution.ends_real <= real:
            return  # it had ended already
        execution.ends_real, execution.final, execution.final_error = real, status, None
        self._due = None
