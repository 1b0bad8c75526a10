"""Exceptions raised by the cortex client.

Every exception derives from :class:`CortexError`. Errors answered by the operator are
:class:`OperatorError` subclasses carrying the HTTP status and the operator's error ``code``;
the status decides the class, so callers can tell 401, 403, 429 and 503 apart with ``except``.

No exception text or ``repr`` ever contains an identity token, a local secret or an AWS secret:
messages coming from the network are passed through :func:`redact` before they are stored.
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Type

__all__ = [
    "CortexError",
    "ConfigError",
    "CredentialsError",
    "TransportError",
    "ProjectError",
    "OperatorError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "APICallError",
    "redact",
]

# Anything that looks like one of our bearer tokens, a SigV4 signature or an STS session token.
_SECRET_PATTERNS = [
    re.compile(r"cortex-(?:aws|local)-v\d+\.[A-Za-z0-9_\-.=+/]+"),
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(r"(?i)(signature=)[0-9a-f]{16,}"),
    re.compile(r"(?i)(x-amz-security-token[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"),
    re.compile(r"(?i)(security_token[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"),
]

_MAX_MESSAGE = 2000


def redact(text: str, *secrets: Optional[str]) -> str:
    """Return ``text`` with tokens, signatures and the given secret strings replaced by ``[redacted]``."""
    if not text:
        return ""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "[redacted]")
    for pat in _SECRET_PATTERNS:
        if pat.groups:
            text = pat.sub(lambda m: m.group(1) + "[redacted]", text)
        else:
            text = pat.sub("[redacted]", text)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "..."
    return text


class CortexError(Exception):
    """Base class of every error raised by the cortex client."""

    def __init__(self, message: str) -> None:
        self.message = redact(str(message))
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(CortexError):
    """cli.yaml is missing, invalid, or does not describe the requested environment."""


class CredentialsError(CortexError):
    """No usable AWS credentials (or local secret) were found to authenticate with."""


class TransportError(CortexError):
    """The operator or API could not be reached (connection refused, TLS failure, timeout)."""


class ProjectError(CortexError):
    """A project directory cannot be sent to a cluster (a link out of it, over 1 MiB or 1,000 files,
    a file name the operator refuses, ...): refused here, before anything is sent."""


class OperatorError(CortexError):
    """The operator answered with an error.

    Attributes:
        status: HTTP status code (400, 401, 403, 404, 409, 413, 429, 503, ...).
        code: the operator's error code (``error.code`` of the response), or ``""``.
        message: the operator's message, redacted.
    """

    status: int
    code: str

    def __init__(self, status: int, code: str = "", message: str = "", retry_after: Optional[float] = None) -> None:
        self.status = int(status)
        self.code = redact(code or "")
        self.retry_after = retry_after
        super().__init__(message or f"operator returned HTTP {status}")

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"HTTP {self.status}{code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class BadRequestError(OperatorError):
    """400: the request (spec, principal, ...) was rejected as invalid."""


class AuthenticationError(OperatorError):
    """401: no token, or the token was not accepted (wrong cluster, expired, bad signature, unknown key)."""


class PermissionDeniedError(OperatorError):
    """403: the identity is valid but its role does not allow the operation."""


class NotFoundError(OperatorError):
    """404: no such API (or access rule)."""


class ConflictError(OperatorError):
    """409: the operation conflicts with the current state."""


class PayloadTooLargeError(OperatorError):
    """413: the request body is too large."""


class RateLimitedError(OperatorError):
    """429: too many requests; ``retry_after`` holds the server's hint in seconds, when given."""


class ServiceUnavailableError(OperatorError):
    """503: the identity provider (STS) or a backend is unavailable; retrying later may succeed."""


class APICallError(CortexError):
    """A deployed API answered a :meth:`cortex.Client.call` with an error status."""

    def __init__(self, status: int, message: str, body: str = "") -> None:
        self.status = int(status)
        self.body = redact(body)
        super().__init__(message)


_BY_STATUS: Dict[int, Type[OperatorError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def operator_error(status: int, code: str, message: str, retry_after: Optional[float] = None) -> OperatorError:
    """Build the :class:`OperatorError` subclass matching ``status``."""
    cls = _BY_STATUS.get(int(status), OperatorError)
    return cls(status, code, message, retry_after)
