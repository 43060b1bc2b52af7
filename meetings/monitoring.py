"""Wait for meetings to finish their workflow."""

from __future__ import annotations

import time
from typing import Callable, Iterable

from meetings.models import Meeting, MeetingStatus

#: Statuses at which a meeting's workflow has ended.
FINAL_STATUSES = (MeetingStatus.NOTIFIED, MeetingStatus.FAILED)


class WaitTimeout(TimeoutError):
    """Raised when meetings are still running when the wait ends."""


def wait_for_meetings(
    meeting_ids: Iterable[int],
    *,
    timeout_seconds: float,
    on_progress: Callable[[int, int], None] | None = None,
    poll_seconds: float = 0.25,
) -> list[Meeting]:
    """Poll until every meeting is notified or failed; return them in order.

    ``on_progress(done, total)`` is called whenever the done count changes.

    Raises:
      WaitTimeout: naming the meetings still running after ``timeout_seconds``.
    """
    ids = list(meeting_ids)
    deadline = time.monotonic() + timeout_seconds
    last_done = -1
    while True:
        statuses = dict(Meeting.objects.filter(pk__in=ids).values_list("pk", "status"))
        done = sum(1 for pk in ids if statuses.get(pk) in FINAL_STATUSES)
        if on_progress is not None and done != last_done:
            on_progress(done, len(ids))
            last_done = done
        if done == len(ids):
            break
        if time.monotonic() >= deadline:
            pending = [pk for pk in ids if statuses.get(pk) not in FINAL_STATUSES]
            raise WaitTimeout(
                f"Meetings {pending} were not finished after {timeout_seconds:.0f} s."
            )
        time.sleep(poll_seconds)
    meetings = Meeting.objects.select_related("analysis").in_bulk(ids)
    return [meetings[pk] for pk in ids]
