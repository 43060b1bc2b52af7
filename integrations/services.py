"""Entry points that other code calls to start integration jobs.

Each function validates its arguments, enqueues one job on the
``external_api`` queue (after the commit inside ``transaction.atomic()``) and
returns the job id. Invalid arguments raise ``InvalidPayloadError`` naming
the field, and nothing is enqueued then. Each function states what a failed
job leaves behind. A job is retried after a passing fault and dead-lettered
at once when the provider rejects the request.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from queueadmin.errors import InvalidPayloadError

#: Values of ``target`` that ``add_sync_job`` accepts.
SYNC_TARGETS = ("lark_bitable",)


def add_upload_recording_job(
    file_url: str,
    file_name: str,
    meeting_id: int,
    storage_provider: str = "local",
    *,
    user_id: int | str | None = None,
    idempotency_key: str | None = None,
) -> str:
    """Enqueue the download of a recording into storage; return the job id.

    ``storage_provider`` is "local" or a provider configured in settings ("s3",
    "oss"). On success the meeting's ``recording_location``,
    ``recording_sha256`` and ``recording_size_bytes`` are set. A failed job
    leaves no stored file and the meeting's recording fields unchanged.
    """
    from integrations.tasks import upload_recording

    if f"recordings_{storage_provider}" not in settings.STORAGES:
        raise InvalidPayloadError(
            "upload_recording",
            [("storage_provider", f"{storage_provider!r} is not a configured storage provider")],
        )
    return upload_recording.enqueue(
        file_url=file_url,
        file_name=file_name,
        meeting_id=meeting_id,
        storage_provider=storage_provider,
        user_id=user_id,
        idempotency_key=idempotency_key,
    )


def add_tencent_meeting_sync_job(
    start: datetime, end: datetime, *, storage_provider: str = "local"
) -> str:
    """Enqueue the import of the Tencent Meeting recordings in ``[start, end]``.

    ``start`` and ``end`` are aware datetimes at most 31 days apart. Each
    recorded meeting becomes (or updates) a ``Meeting`` with source "tencent",
    and gets upload and process jobs for its recording and transcript. A failed
    job keeps the meetings it imported before the failure.
    """
    from integrations.tasks import sync_tencent_meetings

    return sync_tencent_meetings.enqueue(start=start, end=end, storage_provider=storage_provider)


def add_lark_bitable_sync_job(meeting_id: int) -> str:
    """Enqueue writing a meeting's analysis as a Lark Bitable row; return the job id.

    A failed job leaves the table and the meeting's sync state unchanged.
    """
    from integrations.tasks import sync_lark_bitable

    return sync_lark_bitable.enqueue(meeting_id=meeting_id)


def add_sync_job(meeting_id: int, target: str) -> str:
    """Enqueue the sync of a meeting to ``target``, one of ``SYNC_TARGETS``.

    What a failure leaves behind is that of the target's own job function.
    """
    if target == "lark_bitable":
        return add_lark_bitable_sync_job(meeting_id)
    raise InvalidPayloadError(
        "add_sync_job", [("target", f"{target!r} is not one of {', '.join(SYNC_TARGETS)}")]
    )


def send_sms(phone_number: str, template: str, params: list[str] | None = None) -> str:
    """Enqueue one text message from a template in ``SMS_TEMPLATES``; return the job id.

    ``phone_number`` must be in E.164 form, such as "+8613800000000".
    ``params`` fill the template's placeholders in order. A failed job sends
    nothing, except that a retry after a lost reply may send a second copy.
    """
    from integrations.tasks import send_sms as send_sms_actor

    payload = send_sms_actor.validate(
        phone_number=phone_number, template=template, params=list(params or [])
    )
    if template not in settings.SMS_TEMPLATES:
        known = ", ".join(sorted(settings.SMS_TEMPLATES)) or "none configured"
        raise InvalidPayloadError(
            "send_sms", [("template", f"{template!r} is not in SMS_TEMPLATES ({known})")]
        )
    return send_sms_actor.enqueue(payload)
