"""Fetch a recording from a URL and store it through a Django storage backend.

The file is streamed to a temporary file (never held in memory whole) while
its size is checked against ``RECORDINGS_MAX_BYTES`` and its SHA-256 is
computed. Only a complete file is handed to the storage, so a failed or
interrupted download leaves no stored file behind. The temporary file is
removed in every case.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mimetypes
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx
from django.conf import settings
from django.core.files import File
from django.core.files.storage import InvalidStorageError, Storage, storages

from integrations.http import get_timeout, raise_for_response
from meetings.models import Meeting
from queueadmin.errors import RecoverableError, UnrecoverableError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
#: Content types that do not identify the media, such as the S3 default.
GENERIC_CONTENT_TYPES = ("application/octet-stream", "binary/octet-stream", "")


@dataclass(frozen=True)
class StoredRecording:
    """The stored location of a recording, with its size and checksum."""

    location: str
    size_bytes: int
    sha256: str


class _TemporaryRecording(File):
    """A downloaded file that ``FileSystemStorage`` moves instead of copying."""

    def __init__(self, file, name: str, path: str) -> None:
        super().__init__(file, name=name)
        self.path = path

    def temporary_file_path(self) -> str:
        return self.path


def get_recording_storage(storage_provider: str) -> Storage:
    """Return the storage named ``recordings_<storage_provider>`` in ``STORAGES``.

    Raises:
      UnrecoverableError: no such storage is configured.
    """
    alias = f"recordings_{storage_provider}"
    try:
        return storages[alias]
    except InvalidStorageError:
        configured = sorted(
            name.removeprefix("recordings_")
            for name in settings.STORAGES
            if name.startswith("recordings_")
        )
        raise UnrecoverableError(
            f"Storage provider {storage_provider!r} is not configured; configured "
            f"providers: {', '.join(configured)}."
        ) from None


def upload_recording(
    file_url: str, file_name: str, meeting_id: int, storage_provider: str = "local"
) -> StoredRecording:
    """Download ``file_url`` into the recording storage and record it on the meeting.

    Sets the meeting's ``recording_location``, ``recording_sha256`` and
    ``recording_size_bytes``. A meeting that already has a recording with the
    same checksum keeps it, and the download is discarded.

    Raises:
      RecoverableError: a timeout, a connection error, HTTP 429 or 5xx.
      UnrecoverableError: the meeting or the storage is missing, another 4xx,
        a content type not in ``RECORDINGS_CONTENT_TYPES``, or a file over
        ``RECORDINGS_MAX_BYTES``. Nothing is stored then.
    """
    storage = get_recording_storage(storage_provider)
    if not Meeting.objects.filter(pk=meeting_id).exists():
        raise UnrecoverableError(f"Meeting {meeting_id} does not exist.")

    temp_dir = Path(settings.VAR_DIR) / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    fd, temp_path = tempfile.mkstemp(dir=temp_dir, prefix="recording-", suffix=".part")
    try:
        with os.fdopen(fd, "w+b") as temp:
            size, sha256 = _download(file_url, file_name, temp)
            temp.flush()
            os.fsync(temp.fileno())
            return _store(
                storage, storage_provider, _TemporaryRecording(temp, file_name, temp_path),
                meeting_id, size, sha256,
            )
    finally:
        # FileSystemStorage moves the file away, so it may be gone already.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_path)


def _download(file_url: str, file_name: str, target) -> tuple[int, str]:
    limit = settings.RECORDINGS_MAX_BYTES
    digest = hashlib.sha256()
    size = 0
    try:
        with httpx.Client(timeout=get_timeout(), follow_redirects=True) as client:
            with client.stream("GET", file_url) as response:
                _check_response(response, file_name, limit)
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    size += len(chunk)
                    if size > limit:
                        raise UnrecoverableError(
                            f"Recording at {_safe_url(file_url)} is over the limit of "
                            f"{limit} bytes (RECORDINGS_MAX_BYTES)."
                        )
                    digest.update(chunk)
                    target.write(chunk)
    except httpx.TimeoutException as exc:
        raise RecoverableError(
            f"Download of {_safe_url(file_url)} timed out ({type(exc).__name__})."
        ) from exc
    except httpx.TransportError as exc:
        raise RecoverableError(f"Download of {_safe_url(file_url)} failed: {exc}") from exc
    return size, digest.hexdigest()


def _content_type(response: httpx.Response, file_name: str) -> str:
    """Return the response's media type, or the one of ``file_name`` for a generic type.

    Object stores often serve any file as application/octet-stream, so the
    file name's extension decides then.
    """
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type in GENERIC_CONTENT_TYPES:
        guessed, _ = mimetypes.guess_type(file_name)
        return guessed or content_type
    return content_type


def _check_response(response: httpx.Response, file_name: str, limit: int) -> None:
    if response.status_code >= 400:
        response.read()
        raise_for_response("Recording host", response)

    content_type = _content_type(response, file_name)
    allowed = settings.RECORDINGS_CONTENT_TYPES
    if content_type not in allowed:
        raise UnrecoverableError(
            f"Recording has content type {content_type or 'none'!r}; allowed: "
            f"{', '.join(allowed)} (RECORDINGS_CONTENT_TYPES)."
        )

    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UnrecoverableError(
            f"Recording is {declared} bytes, over the limit of {limit} bytes "
            "(RECORDINGS_MAX_BYTES)."
        )


def _store(
    storage: Storage,
    storage_provider: str,
    recording: _TemporaryRecording,
    meeting_id: int,
    size: int,
    sha256: str,
) -> StoredRecording:
    meeting = Meeting.objects.get(pk=meeting_id)
    if meeting.recording_sha256 == sha256 and meeting.recording_location:
        logger.info(
            "Meeting %s already has recording %s; the download is discarded.", meeting_id, sha256
        )
        return StoredRecording(meeting.recording_location, size, sha256)

    safe_name = PurePosixPath(recording.name).name or "recording"
    recording.seek(0)
    name = storage.save(f"{meeting_id}/{safe_name}", recording)
    location = f"{storage_provider}:{name}"
    try:
        Meeting.objects.filter(pk=meeting_id).update(
            recording_location=location, recording_sha256=sha256, recording_size_bytes=size
        )
    except Exception:
        storage.delete(name)
        raise
    logger.info(
        "Meeting %s: stored recording %s (%d bytes, sha256 %s).", meeting_id, location, size, sha256
    )
    return StoredRecording(location, size, sha256)


def _safe_url(url: str) -> str:
    """Return ``url`` without its query string, which often carries a signature."""
    return str(httpx.URL(url).copy_with(query=None, fragment=None))
