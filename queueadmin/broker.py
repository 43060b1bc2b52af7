"""The project's Redis broker: priority lists, delays ordered by due time, pause flags.

``ProjectRedisBroker`` extends Dramatiq's ``RedisBroker`` and keeps its keys
for the message hash, the per-worker ack sets, the heartbeats and the
dead-letter queue, so ack, nack, dead-worker recovery and ``join()`` work as
before. What changes:

- Each queue has three lists of ready messages, one per priority level, and a
  worker fetches ``high`` before ``normal`` before ``low``.
- Delayed messages (including retries with backoff) wait in a sorted set per
  queue scored by due time in Redis's clock, with their bodies in the message
  hash, not in worker memory as with Dramatiq's ``.DQ`` list. Every fetch first
  moves the due ones to their lists in the same Lua script, so a short delay is
  never stuck behind long ones and a move happens exactly once. There is no
  upper limit on the delay.
- A queue whose name is in the set ``<namespace>:__paused__`` is not fetched
  from. Its messages stay in place and in order.
- Before an ack or nack the process's buffered job events
  (``queueadmin.jobevents``) are pushed to Redis, so killing a worker process
  after an ack does not lose the outcome of the acknowledged job.

The Lua scripts live in ``queueadmin/lua/``. A worker polls an idle queue at
intervals that grow to Dramatiq's worker timeout (1 s by default), so a due job
starts within about that time when a worker thread is free.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any
from uuid import uuid4

from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.message import Message

from queueadmin import jobevents
from queueadmin.priorities import PRIORITY_OPTION, Priority, get_priority

logger = logging.getLogger(__name__)

SCRIPT_DIR = Path(__file__).resolve().parent / "lua"

#: Maximum number of due messages one fetch moves from a queue's sorted set to its lists.
MOVE_BATCH_SIZE = 1000

#: Default lifetime of an idempotency key in Redis, in seconds.
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 7 * 86400

#: Name of the Redis set of paused queue names, under the broker namespace.
PAUSED_SET = "__paused__"

#: Dramatiq's ``.DQ`` option that its worker reads to hold a message in memory.
_DRAMATIQ_ETA_OPTION = "eta"


@cache
def _load_script(name: str) -> str:
    return (SCRIPT_DIR / f"{name}.lua").read_text()


def _redis_message_id(message: Message, level: Priority) -> str:
    # The Lua scripts read the level and the job id back from this id.
    return f"{level.value}:{message.message_id}:{uuid4().hex[:12]}"


class ProjectRedisBroker(RedisBroker):
    """Dramatiq's Redis broker with priorities, due-time delays and paused queues.

    Parameters:
      idempotency_ttl_seconds: how long an idempotency key sent with
        ``send_many`` is kept in Redis.
      **options: ``RedisBroker`` options (``url``, ``namespace``,
        ``dead_message_ttl``, ``middleware`` and so on).
    """

    def __init__(
        self,
        *,
        idempotency_ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.project_scripts = {
            name: self.client.register_script(_load_script(name))
            for name in ("send", "fetch", "requeue", "cancel")
        }

    def declare_queue(self, queue_name: str) -> None:
        """Declare a queue. Unlike Dramatiq's broker, no ``.DQ`` delay queue is declared,
        so workers start no consumer that keeps delayed messages in memory."""
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues.add(queue_name)
            self.emit_after("declare_queue", queue_name)

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        """Send one message, delayed by ``delay`` milliseconds if given, and return it.

        The priority level comes from ``message.options["priority"]``.
        """
        prepared = self._prepare(message)
        self.emit_before("enqueue", prepared, delay)
        self._send(prepared.queue_name, [prepared], delay, [None])
        self.emit_after("enqueue", prepared, delay)
        return prepared

    def send_many(
        self,
        messages: Sequence[Message],
        *,
        delay: int | None = None,
        idempotency_keys: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Send messages of one queue in one Redis call and return a job id per message.

        ``idempotency_keys`` are full Redis key suffixes (``"<actor>:<key>"``),
        one per message or None. A message whose key is already stored is not
        sent, and its place in the result contains the job id stored under the
        key. Middleware ``before_enqueue`` runs for every message and
        ``after_enqueue`` only for those sent.

        Raises:
          ValueError: the messages are of several queues, or the key count differs.
        """
        if not messages:
            return []
        keys = list(idempotency_keys) if idempotency_keys is not None else [None] * len(messages)
        if len(keys) != len(messages):
            raise ValueError(
                f"Got {len(keys)} idempotency keys for {len(messages)} messages; "
                "pass one key (or None) per message."
            )
        queue_names = {message.queue_name for message in messages}
        if len(queue_names) != 1:
            raise ValueError(f"send_many takes messages of one queue, got {sorted(queue_names)}.")

        prepared = [self._prepare(message) for message in messages]
        for message in prepared:
            self.emit_before("enqueue", message, delay)
        existing = self._send(queue_names.pop(), prepared, delay, keys)
        for message, existing_id in zip(prepared, existing):
            if not existing_id:
                self.emit_after("enqueue", message, delay)
        return [existing_id or message.message_id for message, existing_id in zip(prepared, existing)]

    def cancel_delayed(self, queue_name: str, job_id: str) -> bool:
        """Remove a delayed job that is not due yet; return whether it was removed.

        A job already moved to its queue (due), running or finished is left alone.
        """
        removed = self.project_scripts["cancel"](keys=[self.namespace], args=[queue_name, job_id])
        return bool(removed)

    def queue_depths(self, queue_name: str) -> dict[str, int]:
        """Return the number of waiting messages per priority level and delayed."""
        base = f"{self.namespace}:{queue_name}"
        with self.client.pipeline(transaction=False) as pipe:
            pipe.llen(f"{base}.high")
            pipe.llen(base)
            pipe.llen(f"{base}.low")
            pipe.zcard(f"{base}.delayed")
            high, normal, low, delayed = pipe.execute()
        return {"high": high, "normal": normal, "low": low, "delayed": delayed}

    def flush(self, queue_name: str) -> None:
        """Drop all the messages of a queue, including delayed and dead-lettered ones."""
        super().flush(queue_name)
        base = f"{self.namespace}:{queue_name}"
        self.client.delete(f"{base}.high", f"{base}.low", f"{base}.delayed", f"{base}.delayed.jobs")

    # Dramatiq's Redis consumer calls these through ``do_<command>``.

    def do_ack(self, queue_name: str, redis_message_id: str) -> None:
        """Push this process's buffered job events, then acknowledge the message.

        The events of a job (its outcome above all) reach Redis before its
        message leaves the ack set, so killing the worker process after the
        ack does not lose the record of a job that will not run again.
        """
        # NOTE: a failed push keeps the events in memory and the ack goes on,
        # so an outcome can still be lost if Redis fails between the two calls
        # and the process is killed before the pusher thread's next push.
        jobevents.buffer.push()
        self._dispatch("ack")(queue_name, redis_message_id)

    def do_nack(self, queue_name: str, redis_message_id: str) -> None:
        """Push this process's buffered job events, then dead-letter the message."""
        jobevents.buffer.push()
        self._dispatch("nack")(queue_name, redis_message_id)

    def do_fetch(self, queue_name: str, count: int) -> list[bytes | None]:
        """Move due delayed messages, then return up to ``count`` ready ones."""
        if self._should_do_maintenance("fetch"):
            self._run_maintenance(queue_name)
        return self.project_scripts["fetch"](
            keys=[self.namespace],
            args=[queue_name, self.broker_id, current_millis(), count, MOVE_BATCH_SIZE],
        )

    def do_requeue(self, queue_name: str, *redis_message_ids: str) -> None:
        """Put fetched but unstarted messages back at the head of their lists."""
        self.project_scripts["requeue"](
            keys=[self.namespace], args=[queue_name, self.broker_id, *redis_message_ids]
        )

    def _prepare(self, message: Message) -> Message:
        level = get_priority(message)
        prepared = message.copy(
            options={"redis_message_id": _redis_message_id(message, level), PRIORITY_OPTION: level.value}
        )
        prepared.options.pop(_DRAMATIQ_ETA_OPTION, None)
        return prepared

    def _send(
        self,
        queue_name: str,
        messages: Sequence[Message],
        delay: int | None,
        keys: Sequence[str | None],
    ) -> list[str]:
        if delay is not None and delay < 0:
            raise ValueError(f"delay must be >= 0 milliseconds, got {delay}.")
        delay_ms = int(delay or 0)
        args: list[Any] = [queue_name, self.idempotency_ttl_seconds]
        for message, key in zip(messages, keys):
            args += [
                message.options["redis_message_id"],
                message.encode(),
                message.options[PRIORITY_OPTION],
                delay_ms,
                message.message_id,
                key or "",
            ]
        results = self.project_scripts["send"](keys=[self.namespace], args=args)
        return [result.decode() if isinstance(result, bytes) else result for result in results]

    def _run_maintenance(self, queue_name: str) -> None:
        # Dramatiq's dispatch script returns dead workers' unacked messages to
        # the queue and expires old dead letters. It runs maintenance only on
        # enqueue and fetch, which this broker does in its own scripts, so the
        # cheap "qsize" command carries it. Recovered messages go to the normal
        # priority list.
        self.scripts["dispatch"](
            keys=[self.namespace],
            args=[
                "qsize",
                current_millis(),
                queue_name,
                self.broker_id,
                self.heartbeat_timeout,
                self.dead_message_ttl,
                1,
                self._max_unpack_size(),
            ],
        )
