"""Run each idempotency key once: skip duplicates, keep concurrent ones waiting."""

from __future__ import annotations

import logging
import threading

from dramatiq.middleware import Middleware, SkipMessage

from queueadmin import idempotency, settlement
from queueadmin.deliveries import get_delivery_id
from queueadmin.envelope import envelope_field
from queueadmin.limits import get_actor_time_limit_ms, get_time_limit_ms
from queueadmin.statuses import JobStatus

logger = logging.getLogger(__name__)

#: Message option set by a deliberate retry of a dead letter; it clears the run marker.
RETRIED_FROM_DEAD_LETTER_OPTION = "retried_from_dead_letter"
#: Actor option: the actor writes ``complete_once`` markers, which are checked before it runs.
COMPLETION_MARKER_OPTION = "completion_marker"

#: Milliseconds that a job waits when another job with its key is running.
HELD_KEY_DELAY_MS = 1000
#: Added to the time limit for the run claim's expiry, so the claim outlives the job.
CLAIM_MARGIN_MS = 60_000
_DEFAULT_TIME_LIMIT_MS = 600_000


class IdempotentExecution(Middleware):
    """Claim a job's idempotency key in Redis before the actor runs.

    * A key whose job succeeded (a ``done`` marker in Redis, or, for actors
      declared with ``completion_marker=True``, a ``JobCompletion`` row
      written by ``complete_once``) is skipped and
      recorded as ``skipped`` with the reason "duplicate". A second copy of
      the job that succeeded leaves that job's record ``succeeded``.
    * A key that another job is running now is sent back to the queue with a
      short delay, without using an attempt; it is neither lost nor run twice.
    * A failed attempt releases the claim so that its retry can claim the key.
    * The claim expires after the actor's time limit plus a margin, so a
      killed worker's claim does not block the key for longer than that; the
      same delivery, requeued after the crash, takes its own claim over at once.

    The idempotency TTL (``QUEUE_IDEMPOTENCY_TTL_SECONDS`` or the actor option
    ``idempotency_ttl``) sets how long the ``done`` marker is kept.

    On the project's Redis broker the fetch script makes the claim (see
    ``ProjectRedisBroker.claim_keys_on_fetch``), so that a job costs no
    Redis round trip before it starts; on other brokers this middleware makes
    it before the actor runs. A fetched job may wait for a free worker thread
    before it starts, so a claim made by the fetch lasts longer, by the
    longest time limit of the broker's actors. A message that the worker
    fetched but did not start (a stopping worker hands it back) keeps its
    claim until it is fetched again, when the same delivery takes the claim
    over.
    """

    def __init__(self) -> None:
        # Keyed by delivery, because two copies of one job may run at once.
        self._claims: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def actor_options(self):
        return {idempotency.TTL_OPTION, COMPLETION_MARKER_OPTION}

    def before_worker_boot(self, broker, worker):
        claim_keys_on_fetch = getattr(broker, "claim_keys_on_fetch", None)
        if claim_keys_on_fetch is None:
            return
        # The maximum wait of a fetched job for a thread: one job of any actor.
        wait_ms = max(
            (self._time_limit_ms(actor, actor.queue_name) for actor in broker.actors.values()),
            default=_DEFAULT_TIME_LIMIT_MS,
        )
        claim_keys_on_fetch(
            lambda queue_name: self._claim_lifetimes_ms(broker, queue_name, wait_ms),
            CLAIM_MARGIN_MS + wait_ms,
        )

    def before_process_message(self, broker, message):
        if message.failed:
            # An earlier middleware gave up on the job, so the actor does not
            # run. The after hook lets go of a claim that the fetch made.
            return
        fetched = message.options.get(idempotency.FETCHED_CLAIM_OPTION)
        client = getattr(broker, "client", None)
        if client is None and fetched is None:
            return
        actor = broker.get_actor(message.actor_name)
        key = self._key(message)
        if fetched is None:
            claim = self._claim(client, broker.namespace, actor, key, message)
        else:
            claim = idempotency.read_claim(fetched)
        # From here on, self._claims records this delivery's claim.
        message.options.pop(idempotency.FETCHED_CLAIM_OPTION, None)
        if claim.outcome is idempotency.ClaimOutcome.CLAIMED:
            completed_by = None
            if actor.options.get(COMPLETION_MARKER_OPTION):
                completed_by = self._completing_job(actor.actor_name, key)
            if completed_by is not None:
                self._finish_claim(broker, message, succeeded=True, key=key)
                self._skip_duplicate(message, key, completed_by)
            with self._lock:
                self._claims[get_delivery_id(message)] = key
            return
        if claim.outcome is idempotency.ClaimOutcome.DONE:
            self._skip_duplicate(message, key, claim.other_job_id)
        self._wait_for_holder(broker, message, key, claim.other_job_id)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        key = self._take_claim(message)
        if key is None:
            return
        succeeded = exception is None and not message.failed
        self._finish_claim(broker, message, succeeded=succeeded, key=key)

    def after_skip_message(self, broker, message):
        # Another middleware skipped the job after the claim: let it go.
        key = self._take_claim(message)
        if key is not None:
            self._finish_claim(broker, message, succeeded=False, key=key)

    def _take_claim(self, message) -> str | None:
        """Return the key that this delivery claimed and has not let go, or None."""
        with self._lock:
            key = self._claims.pop(get_delivery_id(message), None)
        if message.options.pop(idempotency.FETCHED_CLAIM_OPTION, None) is True and key is None:
            # The fetch claimed the key, and the job ended (an earlier
            # middleware skipped or failed it) before this middleware saw it.
            key = self._key(message)
        return key

    def _claim(self, client, namespace: str, actor, key: str, message) -> idempotency.RunClaim:
        if message.options.get(RETRIED_FROM_DEAD_LETTER_OPTION):
            idempotency.clear_run_key(client, namespace, actor.actor_name, key)
        return idempotency.claim_run(
            client,
            namespace,
            actor.actor_name,
            key,
            message.message_id,
            get_delivery_id(message),
            self._claim_ttl_ms(actor, message),
        )

    @classmethod
    def _claim_lifetimes_ms(cls, broker, queue_name: str, wait_ms: int) -> dict[str, int]:
        # What _claim_ttl_ms gives for the queue's actors, plus the wait for a thread.
        return {
            name: cls._time_limit_ms(actor, queue_name) + wait_ms + CLAIM_MARGIN_MS
            for name, actor in broker.actors.items()
            if actor.queue_name == queue_name
        }

    @staticmethod
    def _time_limit_ms(actor, queue_name: str) -> int:
        return int(get_actor_time_limit_ms(actor, queue_name) or _DEFAULT_TIME_LIMIT_MS)

    @staticmethod
    def _key(message) -> str:
        # The key that the fetch script claims: the envelope's when it is text.
        key = envelope_field(message, "idempotency_key")
        return key if isinstance(key, str) else message.message_id

    @staticmethod
    def _claim_ttl_ms(actor, message) -> int:
        limit = get_time_limit_ms(actor, message) or _DEFAULT_TIME_LIMIT_MS
        return int(limit) + CLAIM_MARGIN_MS

    @staticmethod
    def _completing_job(actor_name: str, key: str) -> str | None:
        from queueadmin.completion import get_completing_job

        return get_completing_job(actor_name, key)

    def _finish_claim(self, broker, message, *, succeeded: bool, key: str) -> None:
        # Sent with the message's ack: a process killed before the ack leaves
        # the claim, which the redelivered message takes over.
        actor_name = message.actor_name
        namespace = broker.namespace
        if succeeded:
            ttl = idempotency.get_ttl_seconds(broker.get_actor(actor_name).options)
            command = idempotency.done_marker(namespace, actor_name, key, message.message_id, ttl)
        else:
            command = idempotency.run_release(
                namespace, actor_name, key, message.message_id, get_delivery_id(message)
            )
        settlement.defer(broker, message, command)

    @staticmethod
    def _skip_duplicate(message, key: str, completed_by: str) -> None:
        logger.warning(
            "Skipping job %s of %s: idempotency key %r was completed by job %s.",
            message.message_id,
            message.actor_name,
            key,
            completed_by,
        )
        message.options["skip_reason"] = "duplicate"
        # A second copy of a job that succeeded leaves its record succeeded.
        same_job = completed_by == message.message_id
        message.options["skip_status"] = JobStatus.SUCCEEDED if same_job else JobStatus.SKIPPED
        raise SkipMessage("duplicate")

    @staticmethod
    def _wait_for_holder(broker, message, key: str, holder_job_id: str) -> None:
        logger.info(
            "Job %s of %s waits %d ms: job %s is running idempotency key %r.",
            message.message_id,
            message.actor_name,
            HELD_KEY_DELAY_MS,
            holder_job_id,
            key,
        )
        # The copy is enqueued before the original is acknowledged, so a
        # crash in between leaves two messages, and the claim runs one.
        broker.enqueue(message.copy(), delay=HELD_KEY_DELAY_MS)
        message.options["skip_reason"] = f"waiting for job {holder_job_id}"
        message.options["skip_status"] = JobStatus.DELAYED
        raise SkipMessage("idempotency key held by another job")
