"""Benchmark settings: the project's settings plus a pyinstrument profiler in every worker thread."""

from bench.settings_recording import *  # noqa: F403
from bench.settings_recording import DRAMATIQ_BROKER

DRAMATIQ_BROKER = {
    **DRAMATIQ_BROKER,
    "MIDDLEWARE": [*DRAMATIQ_BROKER["MIDDLEWARE"], "bench.profiling.ThreadProfiler"],
}
