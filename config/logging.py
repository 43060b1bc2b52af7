"""Logging configuration: plain text or one JSON object per line."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

#: Record attributes copied into each line when a filter has set them.
CONTEXT_FIELDS = ("job_id", "actor", "queue", "attempt", "correlation_id")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object with its job context."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value not in (None, "", "-"):
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [job=%(job_id)s actor=%(actor)s "
    "queue=%(queue)s attempt=%(attempt)s correlation=%(correlation_id)s] %(message)s"
)


def build_logging_config(*, level: str, log_format: str) -> dict:
    """Return a ``LOGGING`` dict for Django's ``dictConfig``."""
    formatter = "json" if log_format == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"job_context": {"()": "queueadmin.logcontext.JobContextFilter"}},
        "formatters": {
            "text": {"format": TEXT_FORMAT},
            "json": {"()": "config.logging.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": formatter,
                "filters": ["job_context"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {"level": "INFO" if level == "DEBUG" else level},
        },
    }
