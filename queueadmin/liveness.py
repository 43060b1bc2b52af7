"""The unauthenticated liveness route: "ok" or "not ok", nothing more."""

from __future__ import annotations

import logging

import redis
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from queueadmin.redisclient import get_redis

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def liveness(request: HttpRequest) -> HttpResponse:
    """Return "ok" (200) when Redis replies to PING, else "not ok" (503)."""
    try:
        get_redis().ping()
    except redis.RedisError as exc:
        logger.warning("Liveness check failed: %s", exc)
        return HttpResponse("not ok", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")
