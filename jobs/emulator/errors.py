"""Errors the emulator answers with, in the shape Google APIs use on the wire.

A Google API error body is `{"error": {"code": 404, "message": "...", "status": "NOT_FOUND",
"details": [...]}}`, where `status` is the google.rpc.Code name that goes with the HTTP status
(AIP-193). The backend raises `EmulatorError`; the HTTP layer only renders `body()` and `headers()`.
"""

from __future__ import annotations

from typing import Any

# HTTP status -> google.rpc.Code name and the message the real front end tends to give.
_CANONICAL: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request is missing required authentication credential."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    408: ("DEADLINE_EXCEEDED", "Request timed out."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report the problem."),
    501: ("UNIMPLEMENTED", "Method not implemented."),
    502: ("UNAVAILABLE", "Bad gateway."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


def canonical_status(status_code: int) -> str:
    """The google.rpc.Code name for an HTTP status (UNKNOWN when there is none)."""
    if status_code in _CANONICAL:
        return _CANONICAL[status_code][0]
    return "INTERNAL" if status_code >= 500 else "UNKNOWN"


def default_message(status_code: int) -> str:
    return _CANONICAL.get(status_code, ("", f"HTTP {status_code}"))[1]


def format_duration(seconds: float) -> str:
    """A protobuf Duration in its JSON form: 2 -> "2s", 0.25 -> "0.250s"."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.3f}s"


def format_seconds(seconds: float) -> str:
    """Seconds as a header says them: 2 -> "2", 0.25 -> "0.25", 82800.001 -> "82800.001" (to
    the millisecond, never cut to six digits as "%g" would)."""
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


class EmulatorError(Exception):
    """An error reply: HTTP status, google.rpc status name, message and `details`."""

    def __init__(
        self,
        status_code: int,
        status: str | None = None,
        message: str | None = None,
        details: list[dict[str, Any]] | None = None,
        *,
        retry_after: float | None = None,
        accepted: bool = False,
    ) -> None:
        self.status_code = status_code
        self.status = status or canonical_status(status_code)
        self.message = message or default_message(status_code)
        self.details = list(details or [])
        self.retry_after = retry_after
        # True when the operation took effect before this error was chosen (accept-then-fail).
        self.accepted = accepted
        if retry_after is not None:
            self.details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": format_duration(retry_after),
                }
            )
        super().__init__(f"{status_code} {self.status}: {self.message}")

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.status_code,
            "message": self.message,
            "status": self.status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": format_seconds(self.retry_after)}


def not_found(interaction_id: str) -> EmulatorError:
    return EmulatorError(404, "NOT_FOUND", f"Interaction '{interaction_id}' was not found.")


def invalid_argument(message: str, field: str | None = None) -> EmulatorError:
    details = None
    if field is not None:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        ]
    return EmulatorError(400, "INVALID_ARGUMENT", message, details)


def api_key_invalid() -> EmulatorError:
    """What Google front ends answer for a wrong key: 400, not 401, with reason API_KEY_INVALID."""
    message = "API key not valid. Please pass a valid API key."
    return EmulatorError(
        400,
        "INVALID_ARGUMENT",
        message,
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ],
    )


def unauthenticated() -> EmulatorError:
    return EmulatorError(
        401,
        "UNAUTHENTICATED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "CREDENTIALS_MISSING",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    )
