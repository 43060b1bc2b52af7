"""Queue names, defined once for the whole project."""

from __future__ import annotations

from django.conf import settings

MEETINGS = "meetings"
EMAILS = "emails"
EXTERNAL_API = "external_api"

#: Every queue the workers consume, in the order the admin lists them.
QUEUES = (MEETINGS, EMAILS, EXTERNAL_API)


def get_concurrency(queue_name: str) -> int:
    """Return the number of worker threads configured for ``queue_name``."""
    try:
        return settings.QUEUE_CONCURRENCY[queue_name]
    except KeyError:
        raise UnknownQueueError(queue_name) from None


class UnknownQueueError(LookupError):
    """Raised for a queue name that the project does not define."""

    def __init__(self, queue_name: str) -> None:
        super().__init__(
            f"Unknown queue {queue_name!r}; known queues: {', '.join(QUEUES)}."
        )
        self.queue_name = queue_name
