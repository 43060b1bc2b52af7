"""Signals that let domain apps react to job outcomes without importing them."""

from django.dispatch import Signal

#: Sent in the worker when a job is dead-lettered. Arguments: ``job_id``,
#: ``actor_name``, ``payload`` (the decoded payload dict), ``error`` (text).
job_dead_lettered = Signal()
