"""Idle Redis load: the commands per second that one idle worker command sends.

The product's ``rundramatiq`` and plain Dramatiq's ``dramatiq`` (1 process,
8 threads each, one queue, no jobs) start together. After they report ready
and ``settle`` seconds pass, the harness counts with MONITOR, over
``idle_load_seconds``, the commands sent from each one's connections, plus
the commands that their Lua scripts ran (see ``bench.harness.monitor``).
"""

from __future__ import annotations

import time

from bench.harness.monitor import count_commands
from bench.harness.processes import ManagedProcess, start_companions
from bench.harness.session import BenchRun, progress
from bench.harness.systems import LABELS

SYSTEMS = ("product", "dramatiq")
READY_LINE = "Worker process is ready for action."


def run(bench: BenchRun) -> None:
    settings = bench.settings
    settle = 1.0 if settings.smoke else 3.0
    for repeat in range(settings.repeats):
        progress(f"idle load {repeat + 1}/{settings.repeats}")
        deployments = {system: bench.deploy(system) for system in SYSTEMS}
        workers: dict[str, ManagedProcess] = {}
        companions: dict[str, list[ManagedProcess]] = {}
        try:
            for system, deployment in deployments.items():
                workers[system] = ManagedProcess(
                    deployment.worker_command(1, 8), deployment.env, bench.log_path(f"{system}-idle-worker")
                )
                companions[system] = start_companions(
                    deployment, lambda name, system=system: bench.log_path(f"{system}-idle-{name}")
                )
            for worker in workers.values():
                worker.wait_for_output(READY_LINE, timeout=120)
            time.sleep(settle)
            # A system's commands include those of its companion processes
            # (the product's record writer).
            counts = count_commands(
                bench.context.redis_url,
                {
                    system: [worker.pid, *(companion.pid for companion in companions[system])]
                    for system, worker in workers.items()
                },
                settings.idle_load_seconds,
            )
        except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
            bench.error("idle_load", f"repeat {repeat + 1}: {exc}")
            continue
        finally:
            for worker in workers.values():
                worker.stop()
            for companion in (process for started in companions.values() for process in started):
                companion.stop()
            for deployment in deployments.values():
                client = deployment.client()
                deployment.cleanup(client)
                client.close()
        for system, count in counts.items():
            row = LABELS[system]
            seconds = settings.idle_load_seconds
            bench.record("idle_load", row, "commands_per_second", count.total / seconds)
            bench.record(
                "idle_load", row, "client_commands_per_second", sum(count.client_commands.values()) / seconds
            )
            # The breakdown of the last repeat, for the report.
            bench.extra.setdefault("idle_load_commands", {})[row] = {
                "client": dict(count.client_commands.most_common()),
                "script": dict(count.script_commands.most_common()),
                "seconds": seconds,
            }
