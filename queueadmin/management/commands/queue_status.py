"""Print each queue's counts, throughput, workers and paused state."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from queueadmin import health, stats


class Command(BaseCommand):
    help = (
        "Show per queue: waiting, delayed and running jobs, jobs finished in the last "
        "1/5/15 minutes, live workers, dead letters and whether the queue is paused. "
        "Ages and times are in seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object instead of a table."
        )

    def handle(self, *args, **options):
        report = health.check_health()
        if not report.redis_reachable:
            self.stderr.write("Redis is unreachable.")
            raise SystemExit(2)
        queue_metrics = stats.get_queue_metrics()
        if options["json"]:
            data = {"health": report.as_dict(), "metrics": queue_metrics}
            self.stdout.write(json.dumps(data, indent=2, default=str))
            return
        self._print_table(report, queue_metrics)

    def _print_table(self, report, queue_metrics) -> None:
        header = (
            f"{'queue':<14}{'waiting':>8}{'delayed':>8}{'running':>8}{'1m':>6}{'5m':>6}"
            f"{'15m':>6}{'workers':>8}{'dead':>6}{'oldest s':>10}  paused"
        )
        self.stdout.write(header)
        for name, values in queue_metrics.items():
            queue = report.queues[name]
            throughput = values["throughput"]
            oldest = queue.oldest_waiting_age_seconds
            self.stdout.write(
                f"{name:<14}{values['waiting']:>8}{values['delayed']:>8}{values['running']:>8}"
                f"{throughput['last_1_minutes']:>6}{throughput['last_5_minutes']:>6}"
                f"{throughput['last_15_minutes']:>6}{queue.live_workers:>8}{values['dead']:>6}"
                f"{'-' if oldest is None else f'{oldest:.0f}':>10}  "
                f"{'yes' if queue.paused else 'no'}"
            )
        self.stdout.write(f"status: {report.status}")
        for reason in report.reasons:
            self.stdout.write(f"  - {reason}")
