"""The audit log of control actions: who did what, when, and the outcome."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from queueadmin.controlerrors import JobNotFoundError, JobStateError
from queueadmin.models import AuditEntry
from queueadmin.queues import UnknownQueueError

logger = logging.getLogger(__name__)

#: Errors that reject an action without a fault on the server's side.
REJECTIONS = (JobNotFoundError, JobStateError, UnknownQueueError)


@dataclass(frozen=True)
class Operator:
    """Who requested an action, and through which channel."""

    username: str
    channel: str
    token_name: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest, channel: str | None = None) -> Operator:
        """Return the operator of an authenticated request (API token or session)."""
        token = getattr(request, "api_token", None)
        if token is not None and channel is None:
            return cls(token.user.get_username(), "api-token", token.name)
        return cls(request.user.get_username(), channel or "api-session")


@contextmanager
def audited(
    operator: Operator, action: str, target: str = "", **parameters: Any
) -> Iterator[dict[str, Any]]:
    """Write an audit entry for the block: ok, rejected (lookup or state error) or error.

    The block may put a short ``detail`` text into the yielded dict. Exceptions
    are re-raised after the entry is written.
    """
    note: dict[str, Any] = {"detail": ""}
    outcome = AuditEntry.Outcome.OK
    try:
        yield note
    except REJECTIONS as exc:
        outcome, note["detail"] = AuditEntry.Outcome.REJECTED, str(exc)
        raise
    except Exception as exc:
        outcome, note["detail"] = AuditEntry.Outcome.ERROR, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        AuditEntry.objects.create(
            username=operator.username,
            channel=operator.channel,
            token_name=operator.token_name,
            action=action,
            target=target,
            parameters=parameters,
            outcome=outcome,
            detail=str(note["detail"])[:2000],
        )
        logger.info(
            "Audit: %s via %s: %s %s -> %s",
            operator.username,
            operator.channel,
            action,
            target,
            outcome,
        )
