"""Provider failures sorted into the kinds the router and the user need to tell apart."""

from __future__ import annotations

from enum import StrEnum

from nexus_core.errors import NexusError


class FailureKind(StrEnum):
    AUTH = "auth"  # 401: the key is missing, wrong or revoked
    PERMISSION = "permission"  # 403: the key works but may not use this model
    NOT_FOUND = "not_found"  # 404: no such model (or wrong base URL)
    RATE_LIMIT = "rate_limit"  # 429
    SERVER = "server"  # 5xx
    TIMEOUT = "timeout"
    CONNECTION = "connection"  # refused, DNS, reset before any answer
    STREAM_CUT = "stream_cut"  # the connection ended in the middle of an answer
    MALFORMED = "malformed"  # the server sent something that is not the protocol
    BAD_REQUEST = "bad_request"  # 400/422: the server rejected the request itself
    MODEL_FOLDER = "model_folder"  # a local model folder is empty, partial or unreadable
    NOT_CONFIGURED = "not_configured"  # no provider / model / key set up for this request
    CANCELLED = "cancelled"
    INTERNAL = "internal"  # a bug on our side (or an SDK mismatch); never retried


RETRYABLE = frozenset({FailureKind.RATE_LIMIT, FailureKind.SERVER, FailureKind.TIMEOUT, FailureKind.CONNECTION})
# Failures that say the deployment itself is unhealthy: the router cools it down for a while.
COOLS_DOWN = RETRYABLE | {FailureKind.AUTH, FailureKind.PERMISSION, FailureKind.NOT_FOUND}


class ProviderError(NexusError):
    """A failed model call, with a message written for the user and the facts the router acts on."""

    def __init__(self, kind: FailureKind, what: str, *, provider: str = "", model: str = "",
                 status: int | None = None, retry_after: float | None = None, hint: str = "") -> None:
        self.kind = kind
        self.provider = provider
        self.model = model
        self.status = status
        self.retry_after = retry_after
        super().__init__(what, hint=hint)

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    @property
    def error_type(self) -> str:
        """The OpenTelemetry ``error.type`` value: the HTTP status when there was one, else the kind."""
        return str(self.status) if self.status else self.kind.value
