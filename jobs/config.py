"""Settings: flag > environment > config file > default, and where each value came from.

`config.example.toml` documents every setting; `SETTINGS` below is the single table of names, types,
defaults and environment variables, so `jobs config` can say where each effective value came from.
The API key is never printed, and a config file that holds a key must not be readable by others.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import ConfigError

DEFAULT_MODEL = "gemini-3-flash-preview"
DEFAULT_AGENT = "deep-research-preview-04-2026"


@dataclass(frozen=True)
class Setting:
    section: str
    name: str
    type: type
    default: Any
    env: tuple[str, ...] = ()
    doc: str = ""

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "store",
        "url",
        str,
        "",
        ("JOBS_DB_URL",),
        "SQLAlchemy URL; empty: SQLite at $JOBS_HOME/jobs.db",
    ),
    Setting("api", "key", str, "", ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "Gemini API key"),
    Setting(
        "api", "base_url", str, "", ("GOOGLE_GEMINI_BASE_URL",), "API base URL; empty: Google's"
    ),
    Setting(
        "api", "api_version", str, "", ("JOBS_API_VERSION",), "API version; empty: the SDK's (v1)"
    ),
    Setting(
        "api", "timeout", float, 30.0, ("JOBS_API_TIMEOUT",), "seconds for one get/cancel/delete"
    ),
    Setting("api", "create_timeout", float, 60.0, (), "seconds for one create call"),
    Setting("defaults", "model", str, DEFAULT_MODEL, ("JOBS_MODEL",), "model when none is given"),
    Setting("defaults", "agent", str, DEFAULT_AGENT, (), "agent for --agent deep-research"),
    Setting("worker", "tick", float, 2.0, (), "seconds between worker passes"),
    Setting("worker", "lease", float, 120.0, (), "seconds a worker owns a claimed job"),
    Setting("worker", "batch", int, 25, (), "jobs claimed per pass"),
    Setting("worker", "follow", str, "stream", ("JOBS_FOLLOW",), "stream or poll running jobs"),
    Setting("worker", "max_streams", int, 200, (), "streams open at once per worker"),
    Setting("worker", "concurrency", int, 32, (), "API calls a worker makes at the same time"),
    Setting("worker", "stream_idle", float, 60.0, (), "seconds of stream silence before a get"),
    Setting(
        "worker",
        "alive_every",
        float,
        60.0,
        (),
        "seconds of quiet before `worker` says it is alive",
    ),
    Setting("polling", "min_interval", float, 2.0, (), "first poll delay, seconds"),
    Setting("polling", "max_interval", float, 30.0, (), "longest poll delay for model jobs"),
    Setting("polling", "agent_max_interval", float, 120.0, (), "longest poll delay for agent jobs"),
    Setting("polling", "max_error_backoff", float, 300.0, (), "cap of the backoff after errors"),
    Setting(
        "webhooks",
        "public_url",
        str,
        "",
        ("JOBS_WEBHOOK_URL",),
        "public base URL the API can reach us at; empty: polling only",
    ),
    Setting(
        "webhooks",
        "signing_secret",
        str,
        "",
        ("JOBS_WEBHOOK_SECRET",),
        "whsec_ secret(s) of a registered webhook, comma-separated",
    ),
    Setting(
        "webhooks",
        "fallback_interval",
        float,
        300.0,
        (),
        "seconds between fallback polls of a job that expects a webhook",
    ),
    Setting("webhooks", "tolerance", float, 300.0, (), "seconds a delivery's timestamp may be off"),
    Setting(
        "submit",
        "max_wait",
        float,
        30.0,
        (),
        "seconds `submit` waits out 429/503 before leaving it to the worker",
    ),
    Setting("batch", "concurrency", int, 4, (), "creates `batch submit` keeps in flight at once"),
    Setting("batch", "rate", float, 0.0, (), "creates per second at most; 0: as fast as allowed"),
    Setting(
        "batch",
        "max_wait",
        float,
        120.0,
        (),
        "seconds `batch submit` waits out 429/503 before leaving the rest to the worker",
    ),
    Setting(
        "schedule",
        "on_time",
        float,
        60.0,
        (),
        "seconds after its fire time a firing still counts as on time",
    ),
    Setting(
        "notify",
        "default",
        str,
        "",
        ("JOBS_NOTIFY",),
        "hook (command or URL) for jobs and batches submitted without --notify",
    ),
    Setting("notify", "timeout", float, 30.0, (), "seconds a hook may run"),
    Setting(
        "notify",
        "secret",
        str,
        "",
        ("JOBS_NOTIFY_SECRET",),
        "Standard Webhooks signing secret (whsec_...) for URL hooks",
    ),
    Setting(
        "prices",
        "file",
        str,
        "",
        ("JOBS_PRICES",),
        "a price table (TOML, [[price]] rows) that replaces or adds to the shipped one",
    ),
    Setting("prices", "price", list, [], (), "price rows ([[prices.price]]) over the shipped ones"),
)
_BY_KEY = {s.key: s for s in SETTINGS}
SECRET_KEYS = (
    "api.key",
    "notify.secret",
    "webhooks.signing_secret",
)  # never printed; the file must be private


def default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("jobs", appauthor=False))


@dataclass(frozen=True)
class Settings:
    home: Path
    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    config_path: Path | None = None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __repr__(self) -> str:  # never show the key, even in a traceback's locals
        return f"Settings(home={str(self.home)!r}, db_url={self.db_url!r}, api_key={'set' if self.api_key else 'unset'})"

    @property
    def db_url(self) -> str:
        return self.values["store.url"] or f"sqlite:///{self.home / 'jobs.db'}"

    @property
    def api_key(self) -> str:
        return self.values["api.key"]

    @property
    def base_url(self) -> str:
        return self.values["api.base_url"]

    def redacted(self) -> dict[str, tuple[Any, str]]:
        """Every effective value with its source, the key shown only as set/unset."""
        out: dict[str, tuple[Any, str]] = {"home": (str(self.home), self.sources.get("home", ""))}
        for setting in SETTINGS:
            value = self.values[setting.key]
            if setting.key in SECRET_KEYS:
                value = "(set, hidden)" if value else "(not set)"
            out[setting.key] = (value, self.sources[setting.key])
        out["store.url"] = (_mask_url_password(self.db_url), self.sources["store.url"])
        return out

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some values set from flags (keys use '.' or '__' between section and name)."""
        values, sources = dict(self.values), dict(self.sources)
        for raw_key, value in overrides.items():
            key = raw_key.replace("__", ".")
            if key not in _BY_KEY:
                raise KeyError(key)
            values[key] = value
            sources[key] = "flag"
        return Settings(self.home, values, sources, self.config_path)


def _mask_url_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the environment and the config file; raise ConfigError on anything unusable."""
    env = os.environ if environ is None else environ
    sources: dict[str, str] = {}
    if env.get("JOBS_HOME"):
        home, sources["home"] = Path(env["JOBS_HOME"]).expanduser(), "env JOBS_HOME"
    else:
        home, sources["home"] = default_home(), "default"
    config_path = (
        Path(env["JOBS_CONFIG"]).expanduser() if env.get("JOBS_CONFIG") else home / "config.toml"
    )
    file_values = _read_config_file(config_path, explicit=bool(env.get("JOBS_CONFIG")))

    values: dict[str, Any] = {}
    for setting in SETTINGS:
        value, source = setting.default, "default"
        if setting.key in file_values:
            value, source = (
                _coerce(setting, file_values[setting.key], f"config file {config_path}"),
                f"config file {config_path}",
            )
        for var in setting.env:
            if env.get(var):
                value, source = (
                    _coerce(setting, env[var], f"environment variable {var}"),
                    f"env {var}",
                )
                break
        values[setting.key], sources[setting.key] = value, source
    return Settings(
        home=home,
        values=values,
        sources=sources,
        config_path=config_path if config_path.exists() else None,
    )


def _read_config_file(path: Path, *, explicit: bool) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} (from JOBS_CONFIG) does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None

    flat: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"config file {path}: {section!r} must be a [section], see config.example.toml"
            )
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in _BY_KEY:
                raise ConfigError(
                    f"config file {path}: unknown setting {key!r} (see config.example.toml)"
                )
            flat[key] = value
    if any(flat.get(key) for key in SECRET_KEYS):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"config file {path} holds an API key or webhook secret but is readable by others "
                f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
            )
    return flat


def _coerce(setting: Setting, value: Any, where: str) -> Any:
    try:
        if setting.type is bool and isinstance(value, str):
            return value.lower() in {"1", "true", "yes", "on"}
        if setting.type is int and isinstance(value, float):
            raise ValueError
        if setting.type is list and not isinstance(value, list):
            raise ValueError
        result = setting.type(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{setting.key} from {where} must be a {setting.type.__name__}, got {value!r}"
        ) from None
    if setting.type in (int, float) and result < 0:
        raise ConfigError(f"{setting.key} from {where} must not be negative, got {value!r}")
    return result
