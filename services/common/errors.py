"""One error hierarchy for every service.

Driver errors (asyncpg, aiokafka) are translated at the boundary with
``raise X(...) from e`` so the rest of the code reasons about *what* went wrong,
not *which library* noticed it. Views map :class:`DomainError` subclasses to
HTTP responses in one place (``services.common.http.middleware``).
"""

from __future__ import annotations

from datetime import datetime


class HavenError(Exception):
    """Root of every error Haven raises on purpose."""


class ConfigError(HavenError):
    """Configuration or a prerequisite is missing or invalid; the message is one line."""


class InfrastructureError(HavenError):
    """PostgreSQL or Kafka is unreachable or misbehaving; usually worth retrying."""


class DomainError(HavenError):
    """A request that breaks a rule of the domain; it becomes a 4xx JSON error.

    ``status`` is the HTTP status, ``code`` a stable machine-readable word and
    ``field`` the offending input field, when there is one.
    """

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationError(DomainError):
    status = 400
    code = "invalid"


class TooLong(ValidationError):
    """A field over its documented length (the request as a whole may be fine)."""

    code = "too_long"


class PayloadTooLarge(DomainError):
    status = 413
    code = "too_large"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class AccountSuspended(Forbidden):
    """The account is suspended until ``until``: the same 403 from every service and every path
    (a suspended token, a login, a refresh, a write)."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"your account is suspended until {until.isoformat()}")


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    """A dependency is down; the client should retry (503 + Retry-After)."""

    status = 503
    code = "unavailable"


class EventError(HavenError):
    """An event cannot be applied and never will be: decode or schema failure.

    The consumer loop sends these straight to the DLQ without retrying.
    """


class UnknownEventVersion(EventError):
    """The event's major version is newer than this consumer understands."""
