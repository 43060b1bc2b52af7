"""The state of one benchmark run: its settings, deployments, results and notes."""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.harness.processes import python_command, run_json_child
from bench.harness.systems import Deployment, RunContext, deploy

logger = logging.getLogger("bench")


@dataclass(frozen=True)
class BenchSettings:
    """Sizes and durations of a run (``--smoke`` makes them small)."""

    jobs: int
    middleware_jobs: int
    repeats: int
    latency_probes: int
    idle_seconds: float
    idle_load_seconds: float
    admin_records: int
    admin_waiting: int
    admin_requests: int
    smoke: bool

    @staticmethod
    def drain_timeout(jobs: int) -> float:
        """Return the seconds a drain of ``jobs`` may take: a floor of 20 jobs/s, plus start-up."""
        return 120 + jobs / 20


class BenchRun:
    """Results of every scenario, keyed by scenario, row and metric.

    ``results[scenario][row][metric]`` is the list of values of one metric,
    one per repeat. ``notes[scenario]`` contains what the report must mention
    (skips, errors), and ``errors[scenario]`` the errors alone.
    """

    def __init__(self, context: RunContext, settings: BenchSettings, log_dir: Path) -> None:
        self.context = context
        self.settings = settings
        self.log_dir = log_dir
        self.results: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list))
        )
        self.extra: dict[str, object] = {}
        self.notes: dict[str, list[str]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self._numbers = itertools.count(1)

    def deploy(self, system: str, **env_overrides: str) -> Deployment:
        return deploy(system, self.context, next(self._numbers), **env_overrides)

    def record(self, scenario: str, row: str, metric: str, value: float) -> None:
        self.results[scenario][row][metric].append(value)

    def note(self, scenario: str, text: str) -> None:
        logger.warning("%s: %s", scenario, text)
        self.notes[scenario].append(text)

    def error(self, scenario: str, text: str) -> None:
        """Note a measurement that failed; the run goes on with the next one."""
        self.errors[scenario].append(text)
        self.note(scenario, f"Error: {text}")

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{next(self._numbers):04d}-{name}.log"

    def run_client(self, deployment: Deployment, *args: str, timeout: float) -> dict:
        """Run ``python -m bench.clients`` for ``deployment`` and return its JSON result."""
        command = python_command("-m", "bench.clients", deployment.system, *args)
        log = self.log_path(f"{deployment.system}-{args[0]}")
        return run_json_child(command, deployment.env, log, timeout)


def progress(text: str) -> None:
    """Print one progress line of the run to stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)
