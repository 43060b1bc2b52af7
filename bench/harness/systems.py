"""The four systems for the orchestrator: environment, worker command, queue state.

Each measurement gets a ``Deployment``: a key namespace (or, for RQ, a queue
name in RQ's own database) that no other measurement uses, so leftovers of
one cannot change the next. ``cleanup`` deletes its keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench.harness.processes import BASE_DIR, python_command, script_command

PRODUCT_QUEUE = "emails"
RQ_REGISTRIES = ("wip", "finished", "failed", "deferred", "scheduled", "canceled")
PEER_QUEUE = "bench"


@dataclass(frozen=True)
class RunContext:
    """Settings that every deployment of one run shares."""

    run_id: str
    redis_url: str
    rq_redis_url: str
    database_url: str
    var_dir: Path
    #: The product's QUEUE_RECORD_WRITER: "process" runs ``write_job_records``
    #: beside each product worker command, "worker" writes records in a thread
    #: of each worker process.
    record_writer: str = "process"


@dataclass(frozen=True)
class QueueState:
    """Jobs not yet taken by a worker, jobs not yet finished, and jobs that failed."""

    waiting: int
    unfinished: int
    failed: int


@dataclass
class Deployment:
    """One system set up for one measurement."""

    system: str
    prefix: str
    queue: str
    redis_url: str
    env: dict[str, str] = field(default_factory=dict)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=10)

    def state(self, client: redis.Redis, jobs: int) -> QueueState:
        raise NotImplementedError

    def worker_command(self, processes: int, threads: int) -> list[str]:
        raise NotImplementedError

    def companion_commands(self) -> dict[str, list[str]]:
        """Return the commands (by name) that run beside the worker command; none by default."""
        return {}

    def cleanup(self, client: redis.Redis) -> None:
        _delete_matching(client, f"{self.prefix}:*")


def _delete_matching(client: redis.Redis, pattern: str) -> None:
    batch = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.delete(*batch)
            batch = []
    if batch:
        client.delete(*batch)


def _base_env(context: RunContext) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(BASE_DIR),
        PYTHONUNBUFFERED="1",
        VAR_DIR=str(context.var_dir),
        REDIS_URL=context.redis_url,
        DATABASE_URL=context.database_url,
        EMBEDDED_REDIS_AUTOSTART="false",
    )
    return env


class ProductDeployment(Deployment):
    """The product's worker command ``manage.py rundramatiq`` with the full middleware list."""

    def state(self, client: redis.Redis, jobs: int) -> QueueState:
        base = f"{self.prefix}:{self.queue}"
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(f"{base}.high")
            pipe.llen(base)
            pipe.llen(f"{base}.low")
            pipe.hlen(f"{base}.msgs")
            pipe.zcard(f"{base}.XQ")
            high, normal, low, unacked, dead = pipe.execute()
        return QueueState(waiting=high + normal + low, unfinished=unacked, failed=dead)

    def worker_command(self, processes: int, threads: int) -> list[str]:
        return python_command(
            "manage.py", "rundramatiq", "--skip-logging",
            "--processes", str(processes), "--threads", str(threads),
            "--queues", self.queue,
        )

    def companion_commands(self) -> dict[str, list[str]]:
        if self.env.get("QUEUE_RECORD_WRITER") == "process":
            return {"record-writer": python_command("manage.py", "write_job_records")}
        return {}

    def events_waiting(self, client: redis.Redis) -> int:
        """Return the job events not yet written into job records."""
        return client.llen(f"{self.prefix}:job-events")


class DramatiqDeployment(Deployment):
    """Plain Dramatiq's ``dramatiq`` command with its default middleware."""

    def state(self, client: redis.Redis, jobs: int) -> QueueState:
        base = f"{self.prefix}:{self.queue}"
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(base)
            pipe.hlen(f"{base}.msgs")
            pipe.zcard(f"{base}.XQ")
            waiting, unacked, dead = pipe.execute()
        return QueueState(waiting=waiting, unfinished=unacked, failed=dead)

    def worker_command(self, processes: int, threads: int) -> list[str]:
        return script_command(
            "dramatiq", "bench.peers.dramatiq_app",
            "--processes", str(processes), "--threads", str(threads),
        )


class CeleryDeployment(Deployment):
    """Celery's prefork worker; the thread count is ignored."""

    def state(self, client: redis.Redis, jobs: int) -> QueueState:
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(f"{self.prefix}:{self.queue}")
            pipe.hlen(f"{self.prefix}:unacked")
            waiting, unacked = pipe.execute()
        # Without a result backend Celery keeps no count of failed tasks.
        return QueueState(waiting=waiting, unfinished=waiting + unacked, failed=0)

    def worker_command(self, processes: int, threads: int) -> list[str]:
        return script_command(
            "celery", "-A", "bench.peers.celery_app", "worker",
            "--pool", "prefork", "--concurrency", str(processes),
            "--queues", self.queue, "--hostname", f"{self.prefix}@%h",
        )


class RqDeployment(Deployment):
    """RQ's ``rq worker`` with ``SimpleWorker`` (jobs run in the worker process, no fork per job)."""

    def state(self, client: redis.Redis, jobs: int) -> QueueState:
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(f"rq:queue:{self.queue}")
            pipe.zcard(f"rq:finished:{self.queue}")
            pipe.zcard(f"rq:failed:{self.queue}")
            waiting, finished, failed = pipe.execute()
        return QueueState(waiting=waiting, unfinished=max(0, jobs - finished - failed), failed=failed)

    def worker_command(self, processes: int, threads: int) -> list[str]:
        return script_command(
            "rq", "worker", "--url", self.redis_url,
            "--worker-class", "rq.worker.SimpleWorker",
            "--name", self.prefix, self.queue,
        )

    def cleanup(self, client: redis.Redis) -> None:
        # RQ has no key prefix option. Its keys name the queue (which is this
        # deployment's prefix) or a job id, so delete the keys that contain
        # either. RQ's global sets lose only this queue and worker.
        queue = self.queue
        job_ids = set(client.lrange(f"rq:queue:{queue}", 0, -1))
        job_ids |= set(client.lrange(f"rq:queue:{queue}:intermediate", 0, -1))
        for registry in RQ_REGISTRIES:
            job_ids |= set(client.zrange(f"rq:{registry}:{queue}", 0, -1))
        names = {job_id.decode() for job_id in job_ids} | {queue}
        batch = [
            key for key in client.scan_iter(match="rq:*", count=1000)
            if any(part in names for part in key.decode().split(":"))
        ]
        for start in range(0, len(batch), 1000):
            client.delete(*batch[start:start + 1000])
        client.srem("rq:queues", f"rq:queue:{queue}")
        client.srem("rq:workers", f"rq:worker:{self.prefix}")
        super().cleanup(client)


SYSTEMS = ("product", "dramatiq", "celery", "rq")

LABELS = {
    "product": "Product",
    "dramatiq": "Plain Dramatiq",
    "celery": "Celery",
    "rq": "RQ",
}


def deploy(system: str, context: RunContext, index: int, **env_overrides: str) -> Deployment:
    """Return a deployment of ``system`` with keys of its own (``index`` numbers it within the run)."""
    prefix = f"bench-{context.run_id}-{system}-{index}"
    env = _base_env(context)
    if system == "product":
        env.update(
            DJANGO_SETTINGS_MODULE="bench.settings_recording",
            QUEUE_REDIS_NAMESPACE=prefix,
            QUEUE_RECORD_WRITER=context.record_writer,
        )
        env.update(env_overrides)
        return ProductDeployment(system, prefix, PRODUCT_QUEUE, context.redis_url, env)
    redis_url = context.rq_redis_url if system == "rq" else context.redis_url
    queue = prefix if system == "rq" else PEER_QUEUE
    env.update(BENCH_REDIS_URL=redis_url, BENCH_PREFIX=prefix, BENCH_QUEUE=queue)
    env.update(env_overrides)
    classes = {"dramatiq": DramatiqDeployment, "celery": CeleryDeployment, "rq": RqDeployment}
    return classes[system](system, prefix, queue, redis_url, env)
