"""Signals that let other apps follow the meeting workflow without being imported."""

from django.dispatch import Signal

#: Sent in the worker after a meeting's analysis is committed. Arguments:
#: ``meeting_id``. Receivers run in the analysis job, so one that raises
#: fails that job; use it to enqueue follow-up jobs, not to do slow work.
meeting_analysed = Signal()
