"""Domain errors. The core raises these; the CLI turns each into one line on stderr and an exit code,
the web layer into an HTTP status. Messages never contain the API key."""

from __future__ import annotations


class JobsError(Exception):
    """Base of every error `jobs` reports to a user."""

    exit_code = 1


class UsageError(JobsError):
    """Bad input from the user: a missing prompt, a bad label, conflicting options."""

    exit_code = 2


class ConfigError(JobsError):
    """The configuration is unusable (corrupt file, unsafe permissions, missing key)."""

    exit_code = 2


class JobNotFound(JobsError):
    def __init__(self, job_id: str) -> None:
        if job_id == "@last":
            super().__init__("no jobs yet, so no @last (see `gjobs submit --help`)")
        else:
            super().__init__(f"no job with id {job_id!r} (see `gjobs list`)")
        self.job_id = job_id


class AmbiguousJobId(JobsError):
    """A prefix that fits several jobs: the user must give more of the id."""

    exit_code = 2

    def __init__(self, prefix: str, candidates: list[str], shown: int) -> None:
        listed = ", ".join(candidates[:shown]) + (", ..." if len(candidates) > shown else "")
        super().__init__(f"{prefix!r} fits several jobs: {listed}; give more of the id")
        self.prefix = prefix
        self.candidates = candidates


class InvalidTransition(JobsError):
    """An action that the job's current state does not allow (e.g. cancelling a finished job)."""


class StoreError(JobsError):
    """The store cannot be used: newer than this code, corrupt, unreachable, full."""


# --- Gateway errors: google-genai's exceptions mapped to what the runner must decide on. ----------


class GatewayError(JobsError):
    """A call to the Interactions API failed. `status_code` is the HTTP status, if any."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class NotSent(GatewayError):
    """The request certainly did not take effect (429, connection refused; 503 except for create):
    safe to retry."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class RateLimited(NotSent):
    """429: the server asks us to slow down for `retry_after` seconds (None: not said)."""


class OutcomeUnknown(GatewayError):
    """The request may or may not have taken effect (timeout after sending, 500, 504, reset)."""


class Transient(GatewayError):
    """A read-only call failed in a way worth retrying later (5xx, timeout, malformed reply)."""


class RemoteNotFound(GatewayError):
    """404: the interaction does not exist (deleted, expired past retention, or never created)."""


class AuthFailed(GatewayError):
    """401/403: the key is missing, wrong or not allowed."""


class Rejected(GatewayError):
    """Another 4xx: the server refused the request as it stands; retrying will not help."""


class Unreachable(NotSent):
    """The base URL cannot be reached at all (connection refused, DNS failure)."""
