"""The page's JSON API: thin, like the CLI. Every read and write goes through the service (or a
read-only store query); a rule the page needs lives in `jobs/service/`, where the CLI has it too.

Domain errors become an HTTP status and `{"error": "..."}`: bad input 400, no such job 404, a
transition that is not allowed 409, an API or store problem 502/503. Nothing here ever returns a
setting, so the API key cannot reach the browser.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from jobs.errors import (
    GatewayError,
    InvalidTransition,
    JobNotFound,
    JobsError,
    StoreError,
    UsageError,
)
from jobs.models import Job
from jobs.render import job_dict
from jobs.service import JobService, SubmitSpec
from jobs.service.conversation import conversation, reply_target, send_message
from jobs.store import JobFilter
from jobs.store.events import EventStore
from jobs.web.stream import stored_event_json

MAX_PROMPT_CHARS = 1_000_000
LIST_LIMIT = 200


def error_status(exc: JobsError) -> int:
    if isinstance(exc, JobNotFound):
        return 404
    if isinstance(exc, InvalidTransition):
        return 409
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, GatewayError):
        return 502
    return 400


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking service call off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def json_error(exc: JobsError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=error_status(exc))


def turn_dict(service: JobService, job_id: str) -> dict[str, Any]:
    """One turn of a conversation: the job's listing fields, the whole message, what came back."""
    job = service.get_job(job_id)
    request = json.loads(job.request_json or "{}")
    prompt = request.get("input")
    data = job_dict(job)
    data.update(
        {
            "message": prompt if isinstance(prompt, str) else job.prompt_excerpt,
            "system": request.get("system_instruction"),
            "error": {"code": job.error_code, "message": job.error_message}
            if (job.error_code or job.error_message)
            else None,
            "terminal": job.job_status.is_terminal,
        }
    )
    result = service.get_result(job.id) if job.job_status.is_terminal else None
    if result is not None:
        data["output_text"] = result.output_text
        data["thoughts"] = json.loads(result.thoughts_json or "[]")
        data["usage_detail"] = json.loads(result.usage_json or "{}")
    return data


class Api:
    def __init__(self, service: JobService, events: EventStore, settings: Any) -> None:
        self.service = service
        self.events = events
        self.settings = settings

    async def config(self, request: Request) -> Response:
        return JSONResponse(
            {
                "default_model": self.settings["defaults.model"],
                "research_agent": self.settings["defaults.agent"],
            }
        )

    async def list_jobs(self, request: Request) -> Response:
        params = request.query_params
        statuses = [s for s in params.get("status", "").split(",") if s]
        filt = JobFilter(
            statuses=statuses, search=params.get("q") or None, limit=_limit(params.get("limit"))
        )
        jobs: list[Job] = await call(self.service.list_jobs, filt)
        counts = await call(self.service.store.count_by_status)
        now = self.service.clock.now().isoformat().replace("+00:00", "Z")
        return JSONResponse({"jobs": [job_dict(j) for j in jobs], "counts": counts, "now": now})

    async def conversation(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]

        def build() -> dict[str, Any]:
            turns = conversation(self.service, job_id)
            target = reply_target(self.service, job_id)
            return {
                "turns": [turn_dict(self.service, t.id) for t in turns],
                "reply_to": target.id if target else None,
            }

        try:
            return JSONResponse(await call(build))
        except JobsError as exc:
            return json_error(exc)

    async def job_events(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        after = request.query_params.get("after", "0")
        try:
            job = await call(self.service.get_job, job_id)
        except JobsError as exc:
            return json_error(exc)
        events = await call(
            self.events.read, job.id, after_seq=int(after) if after.isdigit() else 0
        )
        body = "[" + ",".join(stored_event_json(e) for e in events) + "]"
        return Response('{"events": ' + body + "}", media_type="application/json")

    async def send(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        prompt, after = body.get("prompt"), body.get("after")
        model, agent, system = body.get("model"), body.get("agent"), body.get("system")
        for name, value in (
            ("prompt", prompt),
            ("after", after),
            ("model", model),
            ("agent", agent),
            ("system", system),
        ):
            if value is not None and not isinstance(value, str):
                return JSONResponse({"error": f"{name} must be a string"}, status_code=400)
        if not prompt or len(prompt) > MAX_PROMPT_CHARS:
            return JSONResponse(
                {"error": "the message is empty" if not prompt else "the message is too long"},
                status_code=400,
            )
        spec = SubmitSpec(
            prompt=prompt, model=model or None, agent=agent or None, system=system or None
        )
        try:
            job = await call(send_message, self.service, spec, after=after or None)
            turn = await call(turn_dict, self.service, job.id)
        except JobsError as exc:
            return json_error(exc)
        return JSONResponse({"turn": turn}, status_code=201)

    async def cancel(self, request: Request) -> Response:
        try:
            job = await call(self.service.cancel, request.path_params["job_id"])
        except JobsError as exc:
            return json_error(exc)
        return JSONResponse({"job": job_dict(job)})


def _limit(value: str | None) -> int:
    if value and value.isdigit():
        return max(1, min(int(value), 2000))
    return LIST_LIMIT
