"""The queue management commands."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from queueadmin.models import AuditEntry, JobRecord, JobStatus
from queueadmin.pausing import get_paused_queues
from tests.queueadmin.conftest import record_with_status
from tests.testapp.tasks import counted_job, flaky_job

pytestmark = pytest.mark.django_db(transaction=True)


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_status_table(broker):
    flaky_job.enqueue(key="status-wait")

    output = _run("queue_status")

    lines = output.splitlines()
    assert lines[0].split()[:4] == ["queue", "waiting", "delayed", "running"]
    meetings = next(line for line in lines if line.startswith("meetings"))
    assert meetings.split()[1] == "1"
    assert "status: healthy" in output


def test_status_json(broker):
    data = json.loads(_run("queue_status", "--json"))

    assert data["health"]["status"] == "healthy"
    assert set(data["metrics"]) == {"meetings", "emails", "external_api"}


def test_pause_and_resume_commands(broker):
    _run("queue_pause", "emails")
    assert get_paused_queues() == ["emails"]
    _run("queue_pause", "--all")
    assert get_paused_queues() == ["meetings", "emails", "external_api"]
    _run("queue_resume", "--all")
    assert get_paused_queues() == []
    assert AuditEntry.objects.filter(channel="command").count() == 3


@pytest.mark.parametrize("command", ["queue_pause", "queue_resume"])
def test_unknown_queue_clear_error(broker, command):
    with pytest.raises(CommandError, match="Unknown queue 'nope'; known queues: meetings"):
        _run(command, "nope")


def test_retry_dead_unknown_queue(broker):
    with pytest.raises(CommandError, match="Unknown queue 'nope'"):
        _run("queue_retry_dead", "--queue", "nope")


def test_retry_dead_unknown_job(broker):
    with pytest.raises(CommandError, match="Job 'missing' not found"):
        _run("queue_retry_dead", "--job", "missing")


@pytest.mark.parametrize(
    ("command", "unit"),
    [("queue_status", "seconds"), ("queue_clean", "seconds"), ("queue_pause", "queue"),
     ("queue_resume", "queue"), ("queue_retry_dead", "fresh attempts")],
)
def test_help_names_units(command, unit):
    from django.core.management import load_command_class

    parser = load_command_class("queueadmin", command).create_parser("manage.py", command)

    assert unit in parser.format_help()


def test_clean_and_retry_dead_commands(worker):
    done = counted_job.enqueue(key="cmd-done")
    dead = counted_job.enqueue(key="cmd-dead", succeed_after=3)
    record_with_status(done, JobStatus.SUCCEEDED)
    record_with_status(dead, JobStatus.DEAD)

    output = _run("queue_retry_dead", "--queue", "emails")
    assert "Sent 1 dead letters again." in output
    record_with_status(dead, JobStatus.SUCCEEDED)

    output = _run("queue_clean", "--older-than", "0")
    assert "Deleted 2 job records and 0 dead letters." in output
    assert not JobRecord.objects.exists()
