"""What every command shares: settings, the app (opened lazily), the console."""

from __future__ import annotations

import logging
import sys
from functools import cached_property

from rich.console import Console

from jobs.app import App, build_app
from jobs.config import Settings, load_settings


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
    def __init__(self) -> None:
        self._app: App | None = None
        self.console = Console(highlight=False)
        self.err_console = Console(stderr=True, highlight=False)

    @cached_property
    def settings(self) -> Settings:
        return load_settings()

    @property
    def app(self) -> App:
        if self._app is None:
            self._app = build_app(self.settings)
        return self._app

    def setup_logging(self, level: int) -> None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter(self.settings.api_key))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(level)
        if level > logging.DEBUG:
            # Their INFO lines (one per tick, one per HTTP request) drown ours; --verbose shows them.
            for noisy in ("apscheduler", "httpx", "httpx2", "httpcore", "google_genai", "google.genai"):
                logging.getLogger(noisy).setLevel(logging.WARNING)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None
