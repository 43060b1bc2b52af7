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
- An ack or nack goes to Redis in one script call with the process's buffered
  job events (``queueadmin.jobevents``) and the commands that middleware
  deferred for the message (``queueadmin.settlement``), events and commands
  first, so one round trip settles a job and killing a worker process after
  an ack does not lose the outcome of the acknowledged job.
- A worker's fetch also claims each fetched job's idempotency key for the
  job's run (``claim_keys_on_fetch``), so a job costs one Redis round trip
  before it starts, as with Dramatiq's broker, and one to settle it.

- An idle consumer does not poll with a growing back-off as Dramatiq's does. It
  blocks on the queue's ``.wake`` list (``BLPOP``) until a token comes, until
  the next delayed message is due, or for at most the worker timeout (1 s by
  default), and fetches again only when woken, when a delayed message is due,
  or every ``IDLE_FETCH_INTERVAL_SECONDS``. Every script that adds messages to
  a queue (send, requeue, the recovery of dead workers' messages) and the
  resume of a paused queue put a token there. A consumer with jobs running
  waits until acks and nacks free a quarter of its prefetch slots, or for
  5 ms after a slot came free, so that one fetch brings several messages
  instead of one per finished job. It
  wakes an idle consumer when a delayed message whose due time it read comes
  due. So a job sent to an idle worker starts within milliseconds, and an idle
  consumer costs Redis one wait per second and one fetch every 2 s (the
  benchmark's idle load counts 1.0 ``BLPOP`` and 0.4 fetches per second).

The Lua scripts live in ``queueadmin/lua/``.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed, DecodeError
from dramatiq.middleware import Middleware, MiddlewareError
from dramatiq.message import Message

from queueadmin import deliveries, idempotency, jobevents, metrics, settlement
from queueadmin.encoding import decode_message, encode_message
from queueadmin.errors import PayloadTooLargeError
from queueadmin.messages import new_message
from queueadmin.priorities import PRIORITY_OPTION, priority_value
from queueadmin.redisclient import job_events_key

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


#: Share of the client's socket timeout that one blocking wait may use.
WAKE_WAIT_SHARE_OF_SOCKET_TIMEOUT = 0.8

#: Bytes of a message that cannot be decoded that its log line and record show.
UNDECODABLE_EXCERPT_BYTES = 200

#: Seconds between two fetches of an idle consumer that no wake-up token reached.
IDLE_FETCH_INTERVAL_SECONDS = 2.0

#: A busy consumer fetches again once this share of its prefetch is free,
#: instead of once per finished job.
REFILL_SHARE = 0.25

#: A busy consumer also fetches once a slot has been free this long, so that
#: long jobs in the other slots do not keep a thread idle (with one message
#: per thread, a free slot is an idle thread).
REFILL_WAIT_SECONDS = 0.005


@dataclass(frozen=True)
class FetchResult:
    """Messages of one fetch, and when the queue's next delayed message is due."""

    messages: list[bytes | None]
    #: Per message, how often it was fetched without being settled, this time included.
    delivery_counts: list[int]
    #: Per message, the idempotency claim: None when none was made, True when
    #: this delivery has it, else the value that another delivery left.
    claims: list[bool | str | None]
    #: Milliseconds until the next delayed message is due; None when none is delayed.
    next_due_ms: int | None
    #: Per message, its redis message id.
    redis_message_ids: list[str]


#: Per queue name, the claim lifetime in milliseconds of each of its actors.
ClaimLifetimes = Callable[[str], dict[str, int]]


@dataclass(frozen=True)
class SendRecord:
    """Record events and a count that the send script writes beside the messages it sends.

    For each message sent (none whose idempotency key is taken), the script
    appends the event ``{"kind": "sent", "ts": ts, "eta": eta, "message":
    <the encoded message>}`` to the list ``events_key``, and adds the number
    of messages sent to the field ``counter_field`` of the hash ``counter_key``.
    """

    events_key: str
    #: UNIX seconds of the send.
    ts: float
    #: UNIX seconds when a delayed message is due; None when not delayed.
    eta: float | None
    counter_key: str
    counter_field: str


@cache
def _load_script(name: str) -> str:
    return (SCRIPT_DIR / f"{name}.lua").read_text()


def _read_claim(outcome: int | bytes) -> bool | str | None:
    # The fetch script's claim outcome: 0 for none, 1 for taken, else the value found.
    if isinstance(outcome, bytes):
        return outcome.decode()
    return True if outcome == 1 else None


#: Header of each message in the send script's argument: four big-endian
#: unsigned 32-bit lengths (see lua/send.lua).
_SEND_HEADER = struct.Struct(">IIII")

#: Size from which the send script's messages argument goes to redis-py as a
#: memoryview, which it sends without copying.
LARGE_ARGUMENT_BYTES = 64 * 1024

#: Random bytes at the end of each redis message id.
NONCE_BYTES = 6


def _nonces(count: int) -> list[str]:
    # One read of the random source for a batch, instead of one per message.
    digits = os.urandom(NONCE_BYTES * count).hex()
    width = 2 * NONCE_BYTES
    return [digits[start : start + width] for start in range(0, width * count, width)]


def _job_id_of(redis_message_id: str) -> str:
    # The job id inside an id made by _redis_message_id, else the id itself.
    parts = redis_message_id.split(":")
    return parts[1] if len(parts) == 3 else redis_message_id


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
        self._hook_cache: dict[str, tuple[list[Middleware], list[Any]]] = {}
        self._thread_clients = threading.local()
        # Connections held by threads' own clients in process _thread_connections_pid.
        # Reentrant, because a client's finalizer can run inside the locked block.
        self._thread_connections_lock = threading.RLock()
        self._thread_connections = 0
        self._thread_connections_pid = os.getpid()
        self._fetch_claims: tuple[ClaimLifetimes, int] | None = None
        # Per queue name, the encoded result of the fetch claims' lifetimes.
        self._encoded_claim_lifetimes: dict[str, bytes] = {}
        super().__init__(**options)
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        # Acks and nacks send the commands deferred through queueadmin.settlement.
        self.settles_deferred_commands = True
        self.project_scripts = {
            name: self.client.register_script(_load_script(name))
            for name in ("send", "fetch", "requeue", "cancel", "settle")
        }

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        """Call each middleware's ``before_<signal>`` hook, in list order.

        Behaves as Dramatiq's ``Broker.emit_before``: a ``MiddlewareError``
        (``SkipMessage`` among them) propagates and any other error is logged.
        Middleware that leaves the hook as Dramatiq's no-op is not called.
        """
        name = "before_" + signal
        for middleware, hook in self._hooks(name):
            try:
                hook(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", name, middleware, exc_info=True)

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        """Call each middleware's ``after_<signal>`` hook, in reverse list order; log errors."""
        name = "after_" + signal
        for middleware, hook in self._hooks(name):
            try:
                hook(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", name, middleware, exc_info=True)

    def _send_record(self, messages: list[Message], delay: int | None) -> SendRecord | None:
        # A middleware that defines record_send (the tracking middleware) can
        # have the send script write the messages' record events, in the same
        # call as the send. Only the first one is asked.
        for _middleware, hook in self._hooks("record_send"):
            return hook(self, messages, delay)
        return None

    def _hooks(self, name: str) -> list[tuple[Middleware, Callable[..., Any]]]:
        # Dramatiq looks every hook up on every middleware for each signal,
        # which costs each job several microseconds per middleware. The
        # overriding hooks are listed once per hook name and middleware list.
        # The cached copy of the list is compared with the list, element by
        # element by identity unless a middleware class defines __eq__. That
        # costs less per call than building a tuple of ids.
        cached = self._hook_cache.get(name)
        if cached is not None and cached[0] == self.middleware:
            return cached[1]
        ordered = reversed(self.middleware) if name.startswith("after_") else self.middleware
        default = getattr(Middleware, name, None)
        hooks = [
            (middleware, getattr(middleware, name))
            for middleware in ordered
            if getattr(type(middleware), name, None) is not default
        ]
        self._hook_cache[name] = (list(self.middleware), hooks)
        return hooks

    def _emit_for_many(self, when: str, messages: list[Message], delay: int | None) -> None:
        # The "_many" variant of a hook takes the whole list, so that a
        # middleware pays its per-call costs (a clock read, an event) once.
        name = f"{when}_enqueue"
        for middleware, hook in self._hooks(name):
            batch_hook = getattr(middleware, f"{name}_many", None)
            try:
                if batch_hook is not None:
                    batch_hook(self, messages, delay)
                else:
                    for message in messages:
                        hook(self, message, delay)
            except Exception as exc:
                # As in emit_before and emit_after, only a "before" hook's
                # MiddlewareError (SkipMessage among them) reaches the caller.
                if when == "before" and isinstance(exc, MiddlewareError):
                    raise
                self.logger.critical("Unexpected failure in %s of %r.", name, middleware, exc_info=True)

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
        self._send(prepared.queue_name, [prepared], delay, [None], None)
        self.emit_after("enqueue", prepared, delay)
        return prepared

    def send_many(
        self,
        messages: Sequence[Message],
        *,
        delay: int | None = None,
        idempotency_keys: Sequence[str | None] | None = None,
        idempotency_ttl: int | None = None,
        max_message_bytes: int | None = None,
    ) -> list[str]:
        """Send messages of one queue in one Redis call and return a job id per message.

        ``idempotency_keys`` are full Redis key suffixes (``"<actor>:<key>"``),
        one per message or None, stored for ``idempotency_ttl`` seconds (the
        broker's ``idempotency_ttl_seconds`` by default). A message whose key
        is already stored is not sent, and its place in the result contains the
        job id stored under the key, which is its own id when this message was
        sent before. Unlike ``enqueue``, it does not copy the messages. It sets
        the delivery options (the Redis message id, the priority level) in each
        message's own options. Middleware ``before_enqueue`` runs for every
        message and ``after_enqueue`` only for those sent. A middleware that
        also defines ``before_enqueue_many`` or ``after_enqueue_many`` gets one
        call with the list of messages instead. A middleware that defines
        ``record_send`` can have the script write record events beside the
        messages (see ``SendRecord``).

        Raises:
          ValueError: the messages are of several queues, or the key count differs.
          PayloadTooLargeError: an encoded message, delivery options included,
            is over ``max_message_bytes``; the error names the actor and the
            message's index (``"<actor>[<index>]"``). Nothing is sent to Redis.
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

        prepare = self._prepare_in_place
        prepared = [prepare(message, nonce) for message, nonce in zip(messages, _nonces(len(messages)))]
        self._emit_for_many("before", prepared, delay)
        existing = self._send(
            queue_names.pop(),
            prepared,
            delay,
            keys,
            idempotency_ttl,
            max_message_bytes=max_message_bytes,
            indexed_labels=True,
            record=self._send_record(prepared, delay),
        )
        sent = [message for message, existing_id in zip(prepared, existing) if not existing_id]
        if sent:
            self._emit_for_many("after", sent, delay)
        return [existing_id or message.message_id for message, existing_id in zip(prepared, existing)]

    def send_one(
        self,
        message: Message,
        *,
        delay: int | None = None,
        idempotency_key: str,
        idempotency_ttl: int | None = None,
        max_message_bytes: int | None = None,
    ) -> str | None:
        """Send one message unless its idempotency key is stored, in one Redis call.

        ``idempotency_key`` is a full Redis key suffix (``"<actor>:<key>"``).
        Returns None when the message was sent, else the job id stored under
        the key, which is the message's own id when an earlier call sent it.
        As ``send_many`` does, and unlike ``enqueue``, it sets the delivery
        options in the message's own options instead of sending a copy.

        Raises:
          PayloadTooLargeError: the encoded message, delivery options
            included, is over ``max_message_bytes``. Nothing is sent to Redis
            and no ``after_enqueue`` hook runs.
        """
        self._prepare_in_place(message)
        self.emit_before("enqueue", message, delay)
        (existing,) = self._send(
            message.queue_name,
            [message],
            delay,
            [idempotency_key],
            idempotency_ttl,
            max_message_bytes=max_message_bytes,
            record=self._send_record([message], delay),
        )
        if existing:
            return existing
        self.emit_after("enqueue", message, delay)
        return None

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
        self.client.delete(
            f"{base}.high", f"{base}.low", f"{base}.delayed", f"{base}.delayed.jobs", f"{base}.wake"
        )

    # Dramatiq's Redis consumer calls these through ``do_<command>``.

    def do_ack(self, queue_name: str, redis_message_id: str) -> None:
        """Acknowledge a message in one script call with its deferred commands."""
        self._settle("ack", queue_name, redis_message_id)

    def do_nack(self, queue_name: str, redis_message_id: str) -> None:
        """Dead-letter a message in one script call with its deferred commands."""
        self._settle("nack", queue_name, redis_message_id)

    def _settle(self, command: str, queue_name: str, redis_message_id: str) -> None:
        # One script call pushes the process's buffered job events, runs the
        # commands that middleware deferred for this message, then acks or
        # nacks it (lua/settle.lua). The events go first, so the outcome of a
        # job is in Redis before its message leaves the ack set and killing
        # the process after the ack loses no record. Metric counters wait for
        # the pusher thread, which sends the increments of all jobs since its
        # last push as one command per counter. Maintenance is left to fetch,
        # which moves a dead worker's messages to their priority lists.
        batch = jobevents.buffer.take_events()
        deferred = settlement.take(redis_message_id)
        try:
            pushed, push_error, *errors = self._run_script(
                "settle",
                command,
                current_millis(),
                queue_name,
                self.broker_id,
                redis_message_id,
                job_events_key(),
                len(batch.events),
                *batch.events,
                *settlement.script_args(deferred),
            )
        except BaseException as exc:
            if batch:
                jobevents.buffer.restore(batch, exc)
            # Dramatiq retries an ack that failed on a connection error, so
            # the commands are kept for it. It gives up after any other error: the
            # message stays in the ack set until the worker stops and is then
            # delivered again, so the commands are dropped with this attempt.
            if isinstance(exc, redis.ConnectionError):
                settlement.restore(redis_message_id, deferred)
            raise
        if push_error:
            # The message is settled, and its events wait for the next push.
            unsent = jobevents.EventBatch(batch.events[pushed:], {}, {}, {})
            jobevents.buffer.restore(unsent, redis.ResponseError(push_error.decode()))
        elif batch:
            jobevents.buffer.sent()
        for error in errors:
            # The message is settled, so a failed deferred command must not
            # make Dramatiq retry or give up on the ack.
            logger.error(
                "A command sent with the %s of %s failed: %s", command, redis_message_id, error.decode()
            )

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> WakeableConsumer:
        """Return a consumer that blocks on the queue's wake-up list while idle."""
        return WakeableConsumer(self, queue_name, prefetch, timeout)

    def do_fetch(self, queue_name: str, count: int) -> list[bytes | None]:
        """Move due delayed messages, then return up to ``count`` ready ones."""
        return self.fetch(queue_name, count).messages

    def claim_keys_on_fetch(self, lifetimes_ms: ClaimLifetimes | None, margin_ms: int = 0) -> None:
        """Make the fetch script claim each fetched job's idempotency key (None: stop).

        The claim is ``idempotency.claim_run``'s, made in the fetch's own Redis
        call. ``lifetimes_ms(queue_name)`` returns the claim lifetime of each
        actor of the queue; a message with its own ``time_limit`` option gets
        that plus ``margin_ms``. Messages of other actors get no claim. The
        outcome travels in the message option ``idempotency.FETCHED_CLAIM_OPTION``.
        The lifetimes are read once per queue and kept until the next call.
        """
        self._fetch_claims = None if lifetimes_ms is None else (lifetimes_ms, margin_ms)
        self._encoded_claim_lifetimes = {}

    def fetch(self, queue_name: str, count: int) -> FetchResult:
        """Move due delayed messages, then fetch up to ``count`` ready ones."""
        if self._should_do_maintenance("fetch"):
            self._run_maintenance(queue_name)
        claim_lifetimes, margin_ms = b"", 0
        if self._fetch_claims is not None:
            lifetimes_ms, margin_ms = self._fetch_claims
            claim_lifetimes = self._encoded_claim_lifetimes.get(queue_name)
            if claim_lifetimes is None:
                claim_lifetimes = orjson.dumps(lifetimes_ms(queue_name))
                self._encoded_claim_lifetimes[queue_name] = claim_lifetimes
        next_due_ms, *values = self._run_script(
            "fetch",
            queue_name,
            self.broker_id,
            current_millis(),
            count,
            MOVE_BATCH_SIZE,
            deliveries.COUNT_TTL_SECONDS,
            claim_lifetimes,
            margin_ms,
        )
        return FetchResult(
            messages=values[0::4],
            delivery_counts=[int(count) for count in values[1::4]],
            claims=[_read_claim(claim) for claim in values[2::4]],
            next_due_ms=None if next_due_ms < 0 else int(next_due_ms),
            redis_message_ids=[redis_message_id.decode() for redis_message_id in values[3::4]],
        )

    def wait_for_wake(self, queue_name: str, timeout_ms: int) -> bool:
        """Block until a send wakes ``queue_name`` or ``timeout_ms`` pass; return whether woken.

        The wait is cut to a share of the client's socket timeout, so that the
        blocking call never looks like a dead connection.
        """
        seconds = timeout_ms / 1000
        socket_timeout = self.client.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout:
            seconds = min(seconds, socket_timeout * WAKE_WAIT_SHARE_OF_SOCKET_TIMEOUT)
        if seconds <= 0:
            return False
        # BLPOP takes seconds with millisecond precision; 0 would block forever.
        seconds = max(seconds, 0.001)
        return self.client.blpop([f"{self.namespace}:{queue_name}.wake"], timeout=seconds) is not None

    def wake_consumers(self, queue_name: str) -> None:
        """Wake an idle consumer of ``queue_name``, which then fetches at once."""
        wake_key = f"{self.namespace}:{queue_name}.wake"
        with self.client.pipeline(transaction=True) as pipeline:
            # One token at most, as the scripts keep it.
            pipeline.rpush(wake_key, "1")
            pipeline.ltrim(wake_key, 0, 0)
            pipeline.execute()

    def do_requeue(self, queue_name: str, *redis_message_ids: str) -> None:
        """Put fetched but unstarted messages back at the head of their lists."""
        self.project_scripts["requeue"](
            keys=[self.namespace], args=[queue_name, self.broker_id, *redis_message_ids]
        )

    def _prepare(self, message: Message) -> Message:
        # Copied directly: ``Message.copy`` goes through ``dataclasses.replace``,
        # which costs more than the rest of the preparation.
        copy = new_message(
            message.queue_name,
            message.actor_name,
            message.args,
            message.kwargs,
            dict(message.options),
            message.message_id,
            message.message_timestamp,
        )
        return self._prepare_in_place(copy)

    def _prepare_in_place(self, message: Message, nonce: str | None = None) -> Message:
        # The Lua scripts read the level and the job id back from the redis
        # message id. The nonce makes each send of one job a message of its own.
        level = priority_value(message)
        options = message.options
        options["redis_message_id"] = f"{level}:{message.message_id}:{nonce or _nonces(1)[0]}"
        options[PRIORITY_OPTION] = level
        options.pop(_DRAMATIQ_ETA_OPTION, None)
        return message

    def _send(
        self,
        queue_name: str,
        messages: Sequence[Message],
        delay: int | None,
        keys: Sequence[str | None],
        idempotency_ttl: int | None,
        *,
        max_message_bytes: int | None = None,
        indexed_labels: bool = False,
        record: SendRecord | None = None,
    ) -> list[str]:
        if delay is not None and delay < 0:
            raise ValueError(f"delay must be >= 0 milliseconds, got {delay}.")
        delay_ms = int(delay or 0)
        # Each message goes into one growing buffer as soon as it is encoded.
        # Kept in a list until a join, 10,000 encoded messages cost 10,000
        # page faults (orjson's output buffer leaves most of a page behind
        # it), at about 3.7 µs each on a 2-core VM: more than the encoding.
        blob = bytearray()
        pack_header = _SEND_HEADER.pack
        for index, (message, key) in enumerate(zip(messages, keys)):
            data = encode_message(message)
            if max_message_bytes is not None and len(data) > max_message_bytes:
                label = f"{message.actor_name}[{index}]" if indexed_labels else message.actor_name
                raise PayloadTooLargeError(label, len(data), max_message_bytes)
            redis_message_id = message.options["redis_message_id"].encode()
            job_id = message.message_id.encode()
            key_bytes = key.encode() if key else b""
            blob += pack_header(len(redis_message_id), len(job_id), len(key_bytes), len(data))
            blob += redis_message_id
            blob += job_id
            blob += key_bytes
            blob += data
        record_args: tuple[Any, ...] = ()
        if record is not None:
            eta = "null" if record.eta is None else repr(record.eta)
            record_args = (record.events_key, repr(record.ts), eta, record.counter_key, record.counter_field)
        # redis-py writes a memoryview argument to the socket as it is, where
        # a bytes argument is copied into the command first. Small commands
        # go through its faster packer for bytes.
        messages_arg = memoryview(blob) if len(blob) > LARGE_ARGUMENT_BYTES else bytes(blob)
        duplicates = self._run_script(
            "send",
            queue_name, idempotency_ttl or self.idempotency_ttl_seconds, delay_ms, messages_arg, *record_args
        )
        # The script names only the messages that it did not send, so a send
        # of many new jobs gets a short reply.
        existing = [""] * len(messages)
        for position, job_id in zip(duplicates[::2], duplicates[1::2]):
            existing[position - 1] = job_id.decode()
        return existing

    def _run_script(self, name: str, *args: Any) -> Any:
        # EVALSHA straight on the client. redis-py's Script.__call__ also
        # imports two modules and checks the client against two pipeline
        # classes on every call, which cost about 7 µs per call in a timing
        # loop on a 2-core VM (redis-py 8.2, CPython 3.11). As it does, the
        # script is loaded again when Redis lost it (after a restart).
        script = self.project_scripts[name]
        client = self._thread_client()
        try:
            try:
                return client.evalsha(script.sha, 1, self.namespace, *args)
            except redis.exceptions.NoScriptError:
                script.sha = client.script_load(script.script)
                return client.evalsha(script.sha, 1, self.namespace, *args)
        except redis.exceptions.ResponseError:
            # Redis sent its whole reply (a script error), so none is left unread.
            raise
        except BaseException:
            # An exception raised into this thread, such as Dramatiq's time
            # limit, can stop the call after the command was sent and before
            # its reply was read. The pool would find that reply before handing
            # the connection out again, but a thread's own connection stays
            # with it, so it is closed here and the next call reconnects.
            if client is not self.client:
                client.connection.disconnect()
            raise

    def _thread_client(self) -> redis.Redis:
        """Return the calling thread's client for the project scripts, bound to one connection.

        For each command, redis-py's pool hands out a connection, polls its
        socket and updates its connection counters, then takes it back: about
        18 µs of CPU per send in a loop of single enqueues (redis-py 8.2, a
        2-core VM). A client bound to one connection of the broker's pool
        skips that. Each thread that sends, fetches or settles jobs keeps its
        connection until the thread ends, as Django keeps a database
        connection per thread. A forked child makes its own. At most half of
        the pool's ``max_connections`` (100 by default) are kept this way.
        Later threads share the broker's client, so idle threads cannot use
        up the pool.
        """
        local = self._thread_clients
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:
            local.client = self._new_thread_client()
            local.pid = pid
        return local.client

    def _new_thread_client(self) -> redis.Redis:
        pool = self.client.connection_pool
        with self._thread_connections_lock:
            if os.getpid() != self._thread_connections_pid:
                # The counts of the parent process's threads do not apply to a forked child.
                self._thread_connections_pid = os.getpid()
                self._thread_connections = 0
            if self._thread_connections >= pool.max_connections // 2:
                return self.client
            self._thread_connections += 1
        try:
            client = redis.Redis(connection_pool=pool, single_connection_client=True)
        except BaseException:
            self._release_thread_connection(os.getpid())
            raise
        # When the thread ends, its client is freed and the connection goes back to the pool.
        weakref.finalize(client, self._release_thread_connection, os.getpid())
        return client

    def _release_thread_connection(self, pid: int) -> None:
        with self._thread_connections_lock:
            if pid == self._thread_connections_pid:
                self._thread_connections -= 1

    def _run_maintenance(self, queue_name: str) -> None:
        # Dramatiq's maintenance returns dead workers' unacknowledged messages
        # to the queue's normal list and expires old dead letters. It runs only
        # on enqueue and fetch, which this broker does in its own scripts, so
        # fetch calls it here. Dead workers' messages are moved first, to the
        # list of their priority level, which leaves Dramatiq's pass only the
        # expiry of dead letters.
        from queueadmin.recovery import requeue_dead_workers

        requeue_dead_workers(self.client, self.namespace, self.queues, self.heartbeat_timeout)
        self.scripts["dispatch"](
            keys=[self.namespace],
            args=self._dispatch_args("qsize", queue_name, maintenance=True),
        )

    def _dispatch_args(
        self, command: str, queue_name: str, *extra: str, maintenance: bool = False
    ) -> list[Any]:
        # Arguments of Dramatiq's dispatch script, in the order it reads them.
        return [
            command,
            current_millis(),
            queue_name,
            self.broker_id,
            self.heartbeat_timeout,
            self.dead_message_ttl,
            int(maintenance),
            self._max_unpack_size(),
            *extra,
        ]


class WakeableConsumer(_RedisConsumer):
    """A consumer of ``ProjectRedisBroker`` that waits for work instead of polling.

    It reuses Dramatiq's Redis consumer (a private class of Dramatiq 2.2) for
    ack, nack, requeue and the prefetch bookkeeping, and replaces how it waits.
    When the queue is empty it blocks on the queue's wake-up list. While jobs
    run and fewer than ``REFILL_SHARE`` of its prefetch slots are free, it
    waits for more acks and nacks, for at most ``REFILL_WAIT_SECONDS`` after
    a slot came free. Each wait ends after at most the worker timeout, so the
    worker still checks for shutdown and pause between waits.
    """

    def __init__(self, broker: ProjectRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self.broker: ProjectRedisBroker = broker
        self._slot_freed = threading.Event()
        self._fetching = True
        # Whether the next call fetches; see _should_fetch.
        self._woken = True
        self._last_fetch = 0.0
        self._next_due: float | None = None
        self._refill_slots = max(1, int(prefetch * REFILL_SHARE))
        # When a slot came free while fewer than _refill_slots were free.
        self._slot_free_since: float | None = None

    def stop_fetching(self) -> None:
        """Fetch no more messages; hand out only those already fetched.

        Unlike pausing Dramatiq's consumer thread, which sleeps three seconds
        before it looks at the worker's state again, this keeps the thread's
        loop turning, so a stopping worker exits as soon as its jobs are done.
        """
        self._fetching = False
        self._slot_freed.set()

    def _should_fetch(self) -> bool:
        # An idle consumer fetches when a token woke it, when the next delayed
        # message is due, and otherwise every IDLE_FETCH_INTERVAL_SECONDS, which
        # catches a token that went to another consumer.
        now = time.monotonic()
        return (
            self._woken
            or now - self._last_fetch >= IDLE_FETCH_INTERVAL_SECONDS
            or (self._next_due is not None and now >= self._next_due)
        )

    def _fetch(self, count: int) -> FetchResult:
        result = self.broker.fetch(self.queue_name, count)
        now = time.monotonic()
        self._last_fetch = now
        # A full fetch may have left messages behind, so the next call fetches.
        self._woken = bool(result.messages)
        self._next_due = None if result.next_due_ms is None else now + result.next_due_ms / 1000
        return result

    def _wait_ms(self) -> int:
        wait_ms = self.timeout
        now = time.monotonic()
        for moment in (self._next_due, self._last_fetch + IDLE_FETCH_INTERVAL_SECONDS):
            if moment is not None:
                wait_ms = min(wait_ms, max(0, int((moment - now) * 1000)))
        return wait_ms

    def _wait_for_slot(self, limit: float | None = None) -> None:
        # A delayed message whose due time this consumer read may come due
        # while it has no free slot. No other consumer may have read that
        # time, so this one wakes an idle consumer, which moves the message
        # and takes it, instead of leaving it to that consumer's next idle fetch.
        seconds = self.timeout / 1000 if limit is None else min(limit, self.timeout / 1000)
        if self._next_due is not None:
            until_due = self._next_due - time.monotonic()
            if until_due <= 0:
                self._next_due = None
                try:
                    self.broker.wake_consumers(self.queue_name)
                except redis.ConnectionError as exc:
                    raise ConnectionClosed(exc) from None
            else:
                seconds = min(seconds, until_due)
        self._slot_freed.wait(seconds)

    def _dead_letter_undecodable(self, redis_message_id: str, data: bytes) -> None:
        # Raised out of __next__, the error would restart the consumer and
        # strand the rest of this fetch in the ack set. The message goes to
        # the dead letters as it is instead, and its job gets a dead record.
        job_id = _job_id_of(redis_message_id)
        reason = f"the message cannot be decoded, it starts with {data[:UNDECODABLE_EXCERPT_BYTES]!r}"
        logger.error(
            "Dead-lettering job %s of queue %s: %s (message %s).", job_id, self.queue_name, reason, redis_message_id
        )
        jobevents.emit(
            "failed",
            job_id,
            queue=self.queue_name,
            attempt=1,
            error=reason,
            broker_message_id=redis_message_id,
            dead=True,
        )
        metrics.count_outcome(self.queue_name, "", "dead")
        try:
            self.broker.do_nack(self.queue_name, redis_message_id)
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None

    def ack(self, message: MessageProxy) -> None:
        try:
            super().ack(message)
        finally:
            self._slot_freed.set()

    def nack(self, message: MessageProxy) -> None:
        try:
            super().nack(message)
        finally:
            self._slot_freed.set()

    def __next__(self) -> MessageProxy | None:
        while self.message_cache:
            data, delivery_count, claim, redis_message_id = self.message_cache.pop(0)
            if data is None:
                # The message hash lost the entry (the job was cancelled or
                # cleaned up after the fetch); there is nothing to run.
                continue
            try:
                message = decode_message(data)
            except DecodeError:
                self._dead_letter_undecodable(redis_message_id, data)
                continue
            message.options[deliveries.DELIVERY_COUNT_OPTION] = delivery_count
            # Set or dropped each time: a copy of the message enqueued by a
            # middleware carries the option of the delivery it was copied from.
            if claim is None:
                message.options.pop(idempotency.FETCHED_CLAIM_OPTION, None)
            else:
                message.options[idempotency.FETCHED_CLAIM_OPTION] = claim
            self.queued_message_ids.add(message.message_id)
            return MessageProxy(message)

        # Cleared before counting, so an ack between the count and the wait
        # still ends the wait.
        self._slot_freed.clear()
        outstanding = self.outstanding_message_count
        free_slots = self.prefetch - outstanding
        if free_slots <= 0 or not self._fetching:
            self._slot_free_since = None
            self._wait_for_slot()
            return None
        if outstanding and free_slots < self._refill_slots:
            # Jobs are running: wait a little for a batch's worth of free
            # slots, which one fetch then fills in one round trip.
            now = time.monotonic()
            if self._slot_free_since is None:
                self._slot_free_since = now
            remaining = self._slot_free_since + REFILL_WAIT_SECONDS - now
            if remaining > 0:
                self._wait_for_slot(remaining)
                return None
        self._slot_free_since = None

        try:
            if self._should_fetch():
                result = self._fetch(free_slots)
                if result.messages:
                    self.message_cache = list(
                        zip(result.messages, result.delivery_counts, result.claims, result.redis_message_ids)
                    )
                    return self.__next__()
            self._woken = self.broker.wait_for_wake(self.queue_name, self._wait_ms())
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None
        return None
