"""Idempotency keys in Redis, checked at enqueue and claimed at execution.

Two keys exist per actor and idempotency key, both with an expiry:

* ``{namespace}:idem:{actor}:{key}`` contains the id of the job that was enqueued
  for the key. ``claim_enqueue_key`` sets it atomically, so concurrent callers
  with one key get one job id.
* ``{namespace}:idem-run:{actor}:{key}`` contains ``running:{job_id}:{delivery}``
  while a worker runs the job and ``done:{job_id}`` after it succeeded, so a
  redelivered or duplicate message does not repeat the side effects.
  ``delivery`` is the broker's id of the enqueued copy (Dramatiq's
  ``redis_message_id``): a copy redelivered after a crash keeps it, while a
  second copy of the same job gets another. The project's Redis broker makes
  this claim in its fetch script (``queueadmin/lua/fetch.lua``), which
  ``read_claim`` reads back; other brokers call ``claim_run``.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from redis.commands.core import Script

from queueadmin import settlement

logger = logging.getLogger(__name__)

#: Actor option: seconds that the keys of the actor's jobs are kept.
TTL_OPTION = "idempotency_ttl"
#: Message option with the outcome of the run claim that the broker's fetch
#: made: True when the delivery has the claim, else the value found.
FETCHED_CLAIM_OPTION = "fetched_claim"

_RUNNING = "running:"
_DONE = "done:"

# Return the job id stored for the key, or set it to ARGV[1] and return nil.
_CLAIM_ENQUEUE = """
local current = redis.call('GET', KEYS[1])
if current then
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""

# Set the run claim unless another value is there; return the value found.
_CLAIM_RUN = """
local current = redis.call('GET', KEYS[1])
if (not current) or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return false
end
return current
"""

_scripts: dict[str, Script] = {}


def _run_script(client: redis.Redis, source: str, key: str, *args: Any) -> Any:
    # EVALSHA with a fallback to loading the script, instead of sending the
    # script's text with every EVAL.
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = client.register_script(source)
    return script(keys=[key], args=list(args), client=client)


def enqueue_key(namespace: str, actor_name: str, key: str) -> str:
    return f"{namespace}:idem:{actor_name}:{key}"


def run_key(namespace: str, actor_name: str, key: str) -> str:
    return f"{namespace}:idem-run:{actor_name}:{key}"


def get_ttl_seconds(actor_options: dict[str, Any]) -> int:
    """Return the key lifetime for an actor: its ``idempotency_ttl`` or the setting."""
    ttl = actor_options.get(TTL_OPTION) or settings.QUEUE_IDEMPOTENCY_TTL_SECONDS
    return int(ttl)


def claim_enqueue_key(
    client: redis.Redis, namespace: str, actor_name: str, key: str, job_id: str, ttl: int
) -> str | None:
    """Store ``job_id`` for the key unless another job has it; return that job's id or None.

    One Lua script does the check and the write, so of many concurrent callers
    exactly one gets None.
    """
    existing = client.eval(_CLAIM_ENQUEUE, 1, enqueue_key(namespace, actor_name, key), job_id, ttl)
    return existing.decode() if isinstance(existing, bytes) else existing


class ClaimOutcome(enum.Enum):
    """Result of ``claim_run``."""

    CLAIMED = "claimed"
    DONE = "done"
    HELD = "held"


@dataclass(frozen=True)
class RunClaim:
    outcome: ClaimOutcome
    #: The job that completed or is running the key, for DONE and HELD.
    other_job_id: str = ""


def claim_run(
    client: redis.Redis,
    namespace: str,
    actor_name: str,
    key: str,
    job_id: str,
    delivery_id: str,
    ttl_ms: int,
) -> RunClaim:
    """Claim the key for one delivery of ``job_id`` for ``ttl_ms`` milliseconds.

    A claim that the same delivery left behind (its worker was killed) is
    taken over. Returns DONE when a job with the key succeeded and HELD when
    another delivery runs it now, even one of the same job.
    """
    value = _run_script(
        client, _CLAIM_RUN, run_key(namespace, actor_name, key), _holder(job_id, delivery_id), ttl_ms
    )
    return read_claim(value.decode() if value else True)


def read_claim(fetched: bool | str) -> RunClaim:
    """Return the claim for a ``FETCHED_CLAIM_OPTION`` value: True, or the value found."""
    if fetched is True:
        return RunClaim(ClaimOutcome.CLAIMED)
    text = str(fetched)
    if text.startswith(_DONE):
        return RunClaim(ClaimOutcome.DONE, text.removeprefix(_DONE))
    return RunClaim(ClaimOutcome.HELD, text.removeprefix(_RUNNING).split(":", 1)[0])


def done_marker(
    namespace: str, actor_name: str, key: str, job_id: str, ttl: int
) -> settlement.Command:
    """Return the command that records that ``job_id`` succeeded, for ``ttl`` seconds."""
    return settlement.set_with_lifetime(run_key(namespace, actor_name, key), _DONE + job_id, ttl)


def run_release(
    namespace: str, actor_name: str, key: str, job_id: str, delivery_id: str
) -> settlement.Command:
    """Return the command that drops this delivery's run claim, so a retry can claim the key."""
    return settlement.delete_if_equal(run_key(namespace, actor_name, key), _holder(job_id, delivery_id))


def _holder(job_id: str, delivery_id: str) -> str:
    return f"{_RUNNING}{job_id}:{delivery_id}"


def clear_run_key(client: redis.Redis, namespace: str, actor_name: str, key: str) -> None:
    """Delete the run marker of a key, whatever it contains (for deliberate reruns)."""
    client.delete(run_key(namespace, actor_name, key))
