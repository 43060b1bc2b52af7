"""Recording upload into S3-compatible object storage (a local moto S3 server)."""

from __future__ import annotations

import hashlib
import os
import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

from integrations import storage
from meetings.models import Meeting
from queueadmin.errors import UnrecoverableError
from tests.notifications.conftest import _free_port



@pytest.fixture
def s3_endpoint():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )
    # moto keeps its buckets per process, so each test gets its own.
    bucket = f"recordings-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield endpoint, client, bucket
    server.stop()


@pytest.fixture
def oss_settings(settings, s3_endpoint):
    endpoint, _, bucket = s3_endpoint
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings_oss": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "access_key": "test-key",
                "secret_key": "test-secret",
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    return settings


@pytest.mark.django_db
def test_upload_stored_in_bucket(oss_settings, s3_endpoint, httpserver):
    _, client, bucket = s3_endpoint
    meeting = Meeting.objects.create(title="Object storage")
    data = os.urandom(3 * 1024 * 1024)
    httpserver.expect_request("/r.m4a").respond_with_data(data, content_type="audio/x-m4a")

    stored = storage.upload_recording(httpserver.url_for("/r.m4a"), "r.m4a", meeting.pk, "oss")

    assert stored.location == f"oss:{meeting.pk}/r.m4a"
    body = client.get_object(Bucket=bucket, Key=f"{meeting.pk}/r.m4a")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    meeting.refresh_from_db()
    assert meeting.recording_location == stored.location
    assert meeting.recording_sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.django_db
def test_failed_download_leaves_bucket_empty(oss_settings, s3_endpoint, httpserver):
    _, client, bucket = s3_endpoint
    meeting = Meeting.objects.create(title="Rejected")
    httpserver.expect_request("/r.m4a").respond_with_data("denied", status=403)

    with pytest.raises(UnrecoverableError, match="HTTP 403"):
        storage.upload_recording(httpserver.url_for("/r.m4a"), "r.m4a", meeting.pk, "oss")

    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_unconfigured_provider_rejected():
    with pytest.raises(UnrecoverableError, match="'s3' is not configured"):
        storage.get_recording_storage("s3")
