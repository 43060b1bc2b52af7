"""Authentication for the REST API: bearer tokens first, then the session.

The token is checked before the session, so that a request with a valid token
is not rejected by the session's CSRF check.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer, SessionAuth

from queueadmin.models import ApiToken, TokenScope, hash_token

logger = logging.getLogger(__name__)


class BearerTokenAuth(HttpBearer):
    """Accept an active ``ApiToken`` sent as ``Authorization: Bearer <token>``."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = self.find_token(token)
        if api_token is None:
            return None
        self.check_token(api_token)
        # Marked used only once accepted, so that a rejected call changes nothing.
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=timezone.now())
        request.api_token = api_token
        return api_token.user

    @staticmethod
    def find_token(token: str) -> ApiToken | None:
        """Return the active token of an active user matching ``token``, else None."""
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
        return api_token

    def check_token(self, api_token: ApiToken) -> None:
        """Raise ``AuthorizationError`` (403) if this route rejects the valid token."""


def api_auth() -> list:
    """Return the authenticators for routes open to any signed-in user."""
    return [BearerTokenAuth(), SessionAuth()]


class StaffTokenAuth(BearerTokenAuth):
    """Accept an active token of a staff user whose scope covers ``scope``.

    A valid token of a non-staff user, or a read-only token on a control
    route, raises 403. An unknown, expired or revoked token lets the session
    be tried next.
    """

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def check_token(self, api_token: ApiToken) -> None:
        if not api_token.user.is_staff:
            raise AuthorizationError(message="The token's user is not staff.")
        if self.scope == TokenScope.CONTROL and api_token.scope != TokenScope.CONTROL:
            raise AuthorizationError(message="This route needs a token with the control scope.")


class StaffSessionAuth(SessionAuth):
    """Accept a signed-in staff user's session; CSRF is checked on unsafe methods.

    A signed-in user who is not staff gets 403. The CSRF check runs only
    for a signed-in user, so an anonymous call gets 401, not a CSRF 403.
    """

    def _get_key(self, request: HttpRequest) -> str | None:
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        if not user.is_authenticated:
            return None
        if not user.is_staff:
            raise AuthorizationError(message="Staff access is required.")
        return user


def staff_auth(scope: str = TokenScope.READ) -> list:
    """Return the authenticators of an admin route: a token first, then the session."""
    return [StaffTokenAuth(scope), StaffSessionAuth()]


def authenticate_staff(request: HttpRequest) -> JsonResponse | None:
    """Return a 401 or 403 response unless the request comes from staff; else None.

    Checks a bearer token of any scope first, then the session.
    """
    from ninja.errors import HttpError

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        if scheme.lower() == "bearer" and StaffTokenAuth(TokenScope.READ).authenticate(
            request, token.strip()
        ):
            return None
        if StaffSessionAuth().authenticate(request, None):
            return None
    except HttpError as exc:
        return JsonResponse({"detail": exc.message}, status=exc.status_code)
    return JsonResponse({"detail": "Unauthorized"}, status=401)


def staff_required(view: Callable) -> Callable:
    """Decorate a view (the API docs) so that only staff or a staff token reach it."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        rejection = authenticate_staff(request)
        if rejection is not None:
            return rejection
        return view(request, *args, **kwargs)

    return wrapper
