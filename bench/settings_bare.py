"""Benchmark settings without any queue administration middleware.

Leaves out job recording, the cancellation check and the worker heartbeat.
"""

from bench.settings_recording import *  # noqa: F403
from bench.settings_recording import DRAMATIQ_BROKER

LEFT_OUT = {
    "queueadmin.middleware.tracking.JobTracking",
    "queueadmin.middleware.heartbeat.WorkerHeartbeat",
}

DRAMATIQ_BROKER = {
    **DRAMATIQ_BROKER,
    "MIDDLEWARE": [name for name in DRAMATIQ_BROKER["MIDDLEWARE"] if name not in LEFT_OUT],
}
