"""Benchmark settings without job recording: no tracking middleware."""

from bench.settings_recording import *  # noqa: F403
from bench.settings_recording import DRAMATIQ_BROKER

DRAMATIQ_BROKER = {
    **DRAMATIQ_BROKER,
    "MIDDLEWARE": [
        name
        for name in DRAMATIQ_BROKER["MIDDLEWARE"]
        if name != "queueadmin.middleware.tracking.JobTracking"
    ],
}
