"""What every command shares: settings, the clock, the app (opened lazily), the consoles."""

from __future__ import annotations

import logging
import sys
from functools import cached_property
from typing import TYPE_CHECKING

from rich.console import Console

from jobs.clock import Clock, SystemClock
from jobs.config import Settings, load_settings

if TYPE_CHECKING:  # the app imports SQLAlchemy; read-only commands use `queries` and skip it
    from jobs.app import App
    from jobs.service.prices import PriceTable
    from jobs.store.queries import Queries

NOISY_LOGGERS = (
    "apscheduler",
    "alembic",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "google_genai",
)


class RedactingFilter(logging.Filter):
    """Belt and braces: no log line may carry the API key, whoever logs it (e.g. SDK debug logs)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            message = record.getMessage()
            if self.secret in message:
                record.msg, record.args = message.replace(self.secret, "[redacted]"), None
        return True


class CliContext:
    """One per invocation. `clock` is the only thing tests inject; users get the system clock."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._app: App | None = None
        self._opened: list[App] = []
        self._queries: Queries | None = None
        self._handlers: list[tuple[logging.Handler, int]] = []
        self._levels: list[tuple[logging.Logger, int]] = []
        self.console = Console(highlight=False)
        self.err_console = Console(stderr=True, highlight=False)

    @cached_property
    def settings(self) -> Settings:
        return load_settings()

    @property
    def app(self) -> App:
        """The app of a short CLI command (lease owner `cli:...`)."""
        if self._app is None:
            self._app = self.open_app("cli")
        return self._app

    @property
    def queries(self) -> Queries:
        """Read-only queries (store/queries.py): sqlite3 alone for a SQLite store at the current
        schema, so `list`, `usage` and `export` never import SQLAlchemy there."""
        if self._queries is None:
            from jobs.store.queries import open_queries

            self._queries = open_queries(self.settings.db_url, lambda: self.app.database)
        return self._queries

    @cached_property
    def prices(self) -> PriceTable:
        from jobs.service.prices import load_price_table

        return load_price_table(self.settings)

    def open_app(self, kind: str) -> App:
        """A separate app whose lease owner names `kind` (worker, poll); closed with the context."""
        from jobs.app import build_app

        app = build_app(self.settings, clock=self.clock, kind=kind)
        self._opened.append(app)
        return app

    def setup_logging(self, level: int, *, brief: bool = False) -> None:
        """Log to stderr; below DEBUG (-v), libraries only speak up about problems. `brief`: lines
        a person reads beside the worker's own (`12:00:01 warning: ...`), not raw log records."""
        handler = logging.StreamHandler(sys.stderr)
        if brief:
            formatter = logging.Formatter("%(asctime)s %(levelname)s: %(message)s", "%H:%M:%S")
            formatter.format = _lower_level(formatter.format)  # type: ignore[method-assign]
        else:
            formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter(self.settings.api_key))
        handler.addFilter(RedactingFilter(self.settings["webhooks.signing_secret"]))
        root = logging.getLogger()
        self._handlers.append((handler, root.level))
        root.addHandler(handler)
        root.setLevel(level)
        if level > logging.DEBUG:  # else APScheduler, httpx and Alembic log every tick and request
            for name in NOISY_LOGGERS:
                library = logging.getLogger(name)
                self._levels.append((library, library.level))
                library.setLevel(logging.WARNING)

    def close(self) -> None:
        if self._queries is not None:
            self._queries.close()
            self._queries = None
        while self._opened:
            self._opened.pop().close()
        self._app = None
        while self._levels:  # as it was: matters when one process runs several commands (tests)
            library, level = self._levels.pop()
            library.setLevel(level)
        while self._handlers:
            handler, level = self._handlers.pop()
            logging.getLogger().removeHandler(handler)
            logging.getLogger().setLevel(level)


def _lower_level(format_record):
    """`WARNING` -> `warning`, as the CLI's own `error:` lines are written."""

    def format(record: logging.LogRecord) -> str:
        text = format_record(record)
        return text.replace(f" {record.levelname}: ", f" {record.levelname.lower()}: ", 1)

    return format
