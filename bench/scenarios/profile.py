"""Profile of the product's drain (1x8) with pyinstrument in every worker thread.

Runs one drain with ``bench.settings_profile`` and stops the worker with
SIGTERM to its main process, so that each thread saves its profile. The
timing of this drain is not reported: profiling slows it down.
"""

from __future__ import annotations

import shutil

from bench.harness.profile import summarise_profiles
from bench.harness.session import BenchRun, progress
from bench.scenarios.drain import measure_drain


def run(bench: BenchRun) -> None:
    directory = bench.log_dir / "profile"
    shutil.rmtree(directory, ignore_errors=True)
    deployment = bench.deploy(
        "product", DJANGO_SETTINGS_MODULE="bench.settings_profile", BENCH_PROFILE_DIR=str(directory)
    )
    progress("profile: product drain 1x8 under pyinstrument")
    try:
        measure_drain(bench, deployment, 1, 8, graceful_stop=True)
    except (RuntimeError, TimeoutError) as exc:
        bench.error("profile", str(exc))
        return
    summary = summarise_profiles(directory, bench.settings.jobs)
    if not summary["worker_parts"]:
        bench.error("profile", f"No process_message frames in the {summary['sessions']} profiles in {directory}.")
        return
    bench.extra["profile"] = {
        "sessions": summary["sessions"],
        "directory": str(directory),
        "process_message_us": summary["process_message_us"],
        "worker_parts": [part.__dict__ for part in summary["worker_parts"][:12]],
        "consumer_parts": [part.__dict__ for part in summary["consumer_parts"][:6]],
    }
