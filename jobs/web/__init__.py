"""`gjobs serve`: the web page, a second face of the runner beside the CLI.

`create_web_app` builds the Starlette app: the page and its static files (no build step, nothing
fetched from the internet), the JSON API (`routes.py`), the live event stream (`stream.py`), all
behind the access guard (`security.py`). `server.py` runs it with the worker in the same process.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from jobs.app import App
from jobs.store.activity import JobActivity
from jobs.store.events import EventStore
from jobs.web.routes import Api
from jobs.web.security import Guard, GuardMiddleware
from jobs.web.stream import LiveFeed

STATIC = Path(__file__).parent / "static"


def webhook_routes_for(app: App) -> list[Any]:
    """The receiver of the API's webhook deliveries (jobs/webhook_routes.py), at the same port."""
    from jobs.webhook_routes import webhook_routes

    return list(webhook_routes(lambda: app.service))


def create_web_app(
    app: App,
    guard: Guard,
    *,
    stopping: threading.Event | None = None,
    interval: float = 0.25,
) -> Any:
    """The page's ASGI app, guarded. `stopping` ends open event streams at shutdown."""
    events = EventStore(app.database)
    api = Api(app.service, events, app.settings)
    feed = LiveFeed(
        app.service,
        events,
        JobActivity(app.database),
        interval=interval,
        stopping=stopping,
    )
    page = (STATIC / "index.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        # The CSRF token is URL-safe base64: nothing in it needs escaping in an attribute.
        html = page.replace("{{csrf_token}}", guard.csrf_token)
        return HTMLResponse(html, headers={"cache-control": "no-store"})

    routes = [
        Route("/", index),
        Route("/api/config", api.config),
        Route("/api/jobs", api.list_jobs),
        Route("/api/jobs/{job_id}/conversation", api.conversation),
        Route("/api/jobs/{job_id}/events", api.job_events),
        Route("/api/jobs/{job_id}/cancel", api.cancel, methods=["POST"]),
        Route("/api/messages", api.send, methods=["POST"]),
        Route("/api/stream", feed.endpoint),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        # Issue 13's receiver for the API's webhooks (outside the page guard: it checks signatures).
        *webhook_routes_for(app),
    ]
    return GuardMiddleware(Starlette(routes=routes), guard)
