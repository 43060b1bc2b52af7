"""Authentication for the REST API: bearer tokens first, then the session.

The token is checked before the session, so that a request with a valid token
is not rejected by the session's CSRF check.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from queueadmin.models import ApiToken, hash_token

logger = logging.getLogger(__name__)


class BearerTokenAuth(HttpBearer):
    """Accept an active ``ApiToken`` sent as ``Authorization: Bearer <token>``."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        if not token:
            return None
        api_token = (
            ApiToken.objects.active()
            .select_related("user")
            .filter(key_hash=hash_token(token))
            .first()
        )
        if api_token is None or not api_token.user.is_active:
            logger.info("Rejected an unknown, expired or revoked API token.")
            return None
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=timezone.now())
        request.api_token = api_token
        return api_token.user


def api_auth() -> list:
    """Return the authenticators for routes open to any signed-in user."""
    return [BearerTokenAuth(), SessionAuth()]
