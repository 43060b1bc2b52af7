"""Give the unacknowledged messages of dead worker processes back to their queues.

The project broker (``queueadmin.broker``), like Dramatiq's Redis broker, keeps
the messages that a worker process fetched in
``{namespace}:__acks__.{broker_id}.{queue}`` until it acknowledges them, and
marks each process alive in the sorted set ``{namespace}:__heartbeats__``.
Dramatiq moves the messages of a process whose heartbeat is older than
``heartbeat_timeout`` back only during a maintenance pass, which runs on a
random 0.1 % of broker calls, so a killed process's jobs can wait many
minutes, and puts every message on the queue's normal list whatever its
priority. ``requeue_dead_workers`` does that move on demand, to the list of
each message's priority level, and
``RecoveryThread`` runs it every ``QUEUE_RECOVERY_INTERVAL_SECONDS`` in each
worker process, beside a heartbeat of its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import redis
from dramatiq.common import current_millis

logger = logging.getLogger(__name__)

# ARGV: namespace, now in ms, heartbeat timeout in ms, queue names...
# Returns the number of messages pushed back onto their queues.
# Each message goes back to the list of its priority level, which the project
# broker writes at the start of its Redis message id ("<level>:<job id>:<nonce>");
# an id without a known level goes to the queue's normal list.
_REQUEUE_DEAD_WORKERS = """
local namespace = ARGV[1]
local heartbeats = namespace .. ":__heartbeats__"
local deadline = tonumber(ARGV[2]) - tonumber(ARGV[3])
local dead_workers = redis.call("zrangebyscore", heartbeats, 0, deadline)
local moved = 0
for _, worker in ipairs(dead_workers) do
  local worker_acks = namespace .. ":__acks__." .. worker
  for i = 4, #ARGV do
    local queue = namespace .. ":" .. ARGV[i]
    local lists = { high = queue .. ".high", normal = queue, low = queue .. ".low" }
    local acks = worker_acks .. "." .. ARGV[i]
    local message_ids = redis.call("smembers", acks)
    for _, message_id in ipairs(message_ids) do
      if redis.call("hexists", queue .. ".msgs", message_id) == 1 then
        local level = string.match(message_id, "^(%a+):")
        redis.call("rpush", lists[level] or queue, message_id)
        moved = moved + 1
      end
    end
    redis.call("del", acks)
    -- Wake an idle consumer, which fetches only when woken or now and then.
    if #message_ids > 0 and redis.call("llen", queue .. ".wake") == 0 then
      redis.call("rpush", queue .. ".wake", "1")
    end
  end
  if next(redis.call("keys", worker_acks .. ".*")) == nil then
    redis.call("zrem", heartbeats, worker)
  end
end
return moved
"""


def heartbeat_key(namespace: str) -> str:
    return f"{namespace}:__heartbeats__"


def requeue_dead_workers(
    client: redis.Redis, namespace: str, queue_names: Iterable[str], heartbeat_timeout_ms: int
) -> int:
    """Move the fetched messages of dead workers back to the priority lists of ``queue_names``.

    Returns the number of messages moved. A worker whose heartbeat is older
    than ``heartbeat_timeout_ms`` by this host's clock counts as dead, the rule
    that Dramatiq's own maintenance applies.
    """
    names = sorted(set(queue_names))
    return int(
        client.eval(
            _REQUEUE_DEAD_WORKERS, 0, namespace, current_millis(), heartbeat_timeout_ms, *names
        )
    )


def send_heartbeat(client: redis.Redis, namespace: str, broker_id: str) -> None:
    """Mark the worker process ``broker_id`` alive now."""
    client.zadd(heartbeat_key(namespace), {broker_id: current_millis()})


class RecoveryThread(threading.Thread):
    """Send this process's heartbeat and requeue dead workers' messages on an interval.

    ``extra_tasks`` run on each tick after the recovery pass; an error in one
    is logged and the loop goes on.
    """

    def __init__(
        self,
        *,
        client: redis.Redis,
        namespace: str,
        broker_id: str,
        queue_names: Callable[[], Iterable[str]],
        heartbeat_timeout_ms: int,
        interval_seconds: float,
        extra_tasks: Iterable[Callable[[], None]] = (),
    ) -> None:
        super().__init__(name="queue-recovery", daemon=True)
        self.client = client
        self.namespace = namespace
        self.broker_id = broker_id
        self.queue_names = queue_names
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self.interval_seconds = interval_seconds
        self.extra_tasks = list(extra_tasks)
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.tick()
            self._stop_event.wait(self.interval_seconds)

    def tick(self) -> None:
        try:
            send_heartbeat(self.client, self.namespace, self.broker_id)
            moved = requeue_dead_workers(
                self.client, self.namespace, self.queue_names(), self.heartbeat_timeout_ms
            )
        except redis.RedisError as exc:
            logger.warning("Queue recovery pass failed: %s", exc)
            return
        if moved:
            logger.warning("Requeued %d message(s) of dead worker processes.", moved)
        for task in self.extra_tasks:
            try:
                task()
            except Exception:  # noqa: BLE001 - one failed task must not stop recovery
                logger.exception("Queue recovery task %r failed.", task)
