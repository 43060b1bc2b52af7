"""Relay the outbox from every worker process, so stored jobs go out once Redis is back."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connections
from dramatiq.middleware import Middleware

logger = logging.getLogger(__name__)


class OutboxRelay(Middleware):
    """Run ``queueadmin.outbox.relay`` every ``QUEUE_OUTBOX_RELAY_INTERVAL_SECONDS``.

    Workers reconnect to Redis on their own after an outage, so they are the
    first to notice that stored jobs can be sent. Relays of several workers
    may overlap safely: each outbox row is sent by the relay that deletes it.
    """

    def __init__(self) -> None:
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker, worker):
        self._thread = threading.Thread(
            target=self._run, args=(broker,), name="outbox-relay", daemon=True
        )
        self._thread.start()

    def before_worker_shutdown(self, broker, worker):
        self._stop_event.set()

    def _run(self, broker) -> None:
        interval = settings.QUEUE_OUTBOX_RELAY_INTERVAL_SECONDS
        while not self._stop_event.wait(interval):
            self._relay_once(broker)

    @staticmethod
    def _relay_once(broker) -> None:
        from queueadmin.outbox import outbox_size, relay

        try:
            if outbox_size():
                relay(broker)
        except Exception:  # noqa: BLE001 - the relay thread must outlive any one pass
            logger.exception("Relaying the outbox failed; the next pass tries again.")
        finally:
            connections.close_all()
