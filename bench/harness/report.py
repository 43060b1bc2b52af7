"""Write a benchmark run as Markdown: targets, one table per scenario, machine and versions."""

from __future__ import annotations

from dataclasses import dataclass

from bench.harness import profile
from bench.harness.session import BenchRun
from bench.harness.stats import Summary
from bench.scenarios import middleware
from bench.scenarios.drain import DEFAULT_PREFETCH_SUFFIX, config_name
from bench.scenarios.enqueue import WITHOUT_RECORDS

PRODUCT = "Product"
DRAMATIQ = "Plain Dramatiq"
DRAIN_ROWS = {
    "product_1": config_name("product", 1, 8),
    "product_2": config_name("product", 2, 8),
    "product_2_default": config_name("product", 2, 8) + DEFAULT_PREFETCH_SUFFIX,
    "dramatiq_1": config_name("dramatiq", 1, 8),
    "dramatiq_2": config_name("dramatiq", 2, 8),
    "celery": config_name("celery", 2, 0),
    "rq": config_name("rq", 1, 0),
}
#: The product configuration that each drain row is compared with.
DRAIN_COUNTERPART = {
    DRAIN_ROWS["product_1"]: DRAIN_ROWS["product_1"],
    DRAIN_ROWS["product_2"]: DRAIN_ROWS["product_2"],
    DRAIN_ROWS["product_2_default"]: DRAIN_ROWS["product_2_default"],
    DRAIN_ROWS["dramatiq_1"]: DRAIN_ROWS["product_1"],
    DRAIN_ROWS["dramatiq_2"]: DRAIN_ROWS["product_2"],
    DRAIN_ROWS["celery"]: DRAIN_ROWS["product_2"],
    DRAIN_ROWS["rq"]: DRAIN_ROWS["product_1"],
}
JOB_LIST_ENDPOINTS = ("jobs first page", "jobs middle page", "jobs deep page", "jobs status=dead")


@dataclass(frozen=True)
class TargetResult:
    """One target line: what was required, what was measured, and the margin."""

    text: str
    measured: str
    met: bool | None
    margin: str


#: Description in the report of each QUEUE_RECORD_WRITER value.
_WRITERS = {
    "process": "`manage.py write_job_records` beside each worker command (QUEUE_RECORD_WRITER=process)",
    "worker": "a thread in each worker process (QUEUE_RECORD_WRITER=worker)",
}


def _median(bench: BenchRun, scenario: str, row: str, metric: str) -> float | None:
    values = bench.results.get(scenario, {}).get(row, {}).get(metric)
    return Summary.of(values).median if values else None


def _at_least(text: str, measured: float | None, required: float | None, unit: str, show) -> TargetResult:
    if measured is None or required is None:
        return TargetResult(text, "not measured", None, "")
    met = measured >= required
    margin = f"{measured / required:.2f}x the required" if required else ""
    return TargetResult(text, f"{show(measured)}{unit} (required {show(required)}{unit})", met, margin)


def _at_most(text: str, measured: float | None, limit: float | None, unit: str, show) -> TargetResult:
    if measured is None or limit is None:
        return TargetResult(text, "not measured", None, "")
    met = measured <= limit
    margin = f"{measured / limit:.2f}x the limit" if limit else ""
    return TargetResult(text, f"{show(measured)}{unit} (limit {show(limit)}{unit})", met, margin)


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def evaluate_targets(bench: BenchRun) -> list[TargetResult]:
    """Return every target with its measured median and whether it was met."""
    rate = lambda value: f"{value:,.0f}"  # noqa: E731
    ms = lambda value: f"{value:.2f}"  # noqa: E731
    mib = lambda value: f"{value:.1f}"  # noqa: E731
    targets = []
    single = lambda row: _median(bench, "enqueue_single", row, "jobs_per_second")  # noqa: E731
    targets.append(_at_least("Single enqueue >= plain Dramatiq", single(PRODUCT), single(DRAMATIQ), " jobs/s", rate))
    targets.append(_at_least("Single enqueue >= 2x Celery", single(PRODUCT), _scaled(single("Celery"), 2), " jobs/s", rate))
    targets.append(
        _at_least(
            "Single enqueue without job records (validation and idempotency) >= plain Dramatiq",
            single(WITHOUT_RECORDS), single(DRAMATIQ), " jobs/s", rate,
        )
    )
    bulk = _median(bench, "enqueue_bulk", PRODUCT, "jobs_per_second")
    targets.append(_at_least("Bulk enqueue >= 50,000 jobs/s", bulk, 50_000.0, " jobs/s", rate))

    drain = lambda key: _median(bench, "drain", DRAIN_ROWS[key], "jobs_per_second")  # noqa: E731
    for count in (1, 2):
        targets.append(
            _at_least(
                f"Drain {count}x8 >= 0.8x plain Dramatiq {count}x8 (both prefetch 2 per thread)",
                drain(f"product_{count}"), _scaled(drain(f"dramatiq_{count}"), 0.8), " jobs/s", rate,
            )
        )
    targets.append(
        _at_least(
            "Drain 2x8 at the product's default prefetch (1 per thread) >= 0.8x plain Dramatiq 2x8",
            drain("product_2_default"), _scaled(drain("dramatiq_2"), 0.8), " jobs/s", rate,
        )
    )
    targets.append(
        _at_least("Drain 2x8 >= 2.5x Celery prefork 2", drain("product_2"), _scaled(drain("celery"), 2.5), " jobs/s", rate)
    )

    for scenario, mode in (("latency_back_to_back", "back-to-back"), ("latency_idle", "idle")):
        p50 = _median(bench, scenario, PRODUCT, "p50_ms")
        p99 = _median(bench, scenario, PRODUCT, "p99_ms")
        targets.append(_at_most(f"Latency {mode} p50 <= 3 ms", p50, 3.0, " ms", ms))
        targets.append(_at_most(f"Latency {mode} p99 <= 6 ms", p99, 6.0, " ms", ms))
        targets.append(_at_most(f"Latency {mode} p50 <= Celery's", p50, _median(bench, scenario, "Celery", "p50_ms"), " ms", ms))
        targets.append(_at_most(f"Latency {mode} p99 <= Celery's", p99, _median(bench, scenario, "Celery", "p99_ms"), " ms", ms))
    back_to_back_p99 = lambda row: _median(bench, "latency_back_to_back", row, "p99_ms")  # noqa: E731
    targets.append(
        _at_most(
            "Latency back-to-back p99 without job records <= Celery's",
            back_to_back_p99(WITHOUT_RECORDS), back_to_back_p99("Celery"), " ms", ms,
        )
    )

    idle = lambda row: _median(bench, "idle_load", row, "commands_per_second")  # noqa: E731
    targets.append(_at_most("Idle Redis load <= plain Dramatiq's", idle(PRODUCT), idle(DRAMATIQ), " commands/s", ms))

    for endpoint in ("health", "metrics"):
        targets.append(_at_most(f"{endpoint} p95 < 50 ms", _median(bench, "admin", endpoint, "p95_ms"), 50.0, " ms", ms))
    for endpoint in JOB_LIST_ENDPOINTS:
        targets.append(_at_most(f"{endpoint} p95 < 1 s", _median(bench, "admin", endpoint, "p95_ms"), 1000.0, " ms", ms))

    for count in (1, 2):
        product_row, peer_row = DRAIN_ROWS[f"product_{count}"], DRAIN_ROWS[f"dramatiq_{count}"]
        targets.append(
            _at_most(
                f"Worker process memory {count}x8 <= 1.5x plain Dramatiq",
                _median(bench, "memory", product_row, "worker_max_mib"),
                _scaled(_median(bench, "memory", peer_row, "worker_max_mib"), 1.5),
                " MiB", mib,
            )
        )
    return targets


def _cell(values: list[float] | None, show) -> str:
    if not values:
        return "-"
    summary = Summary.of(values)
    if summary.count == 1:
        return show(summary.median)
    return f"{show(summary.median)} ({show(summary.low)}-{show(summary.high)})"


def _table(bench: BenchRun, scenario: str, columns: list[tuple[str, str, object]], ratio=None) -> list[str]:
    """Return a Markdown table of ``scenario``: one row per system, one column per metric.

    ``columns`` contains ``(heading, metric, formatter)``. ``ratio`` is
    ``(heading, metric, counterpart)``, where ``counterpart(row)`` names the
    product row that ``row`` is compared with; the cell is product ÷ row.
    """
    rows = bench.results.get(scenario, {})
    if not rows:
        return ["No results."]
    headings = ["", *[heading for heading, _, _ in columns]]
    if ratio:
        headings.append(ratio[0])
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    for row, metrics in rows.items():
        cells = [row, *[_cell(metrics.get(metric), show) for _, metric, show in columns]]
        if ratio:
            heading, metric, counterpart = ratio
            own = _median(bench, scenario, row, metric)
            product = _median(bench, scenario, counterpart(row), metric)
            cells.append(f"{product / own:.2f}" if own and product is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _seconds(value: float) -> str:
    return f"{value:.2f}"


def _mib(value: float) -> str:
    return f"{value:.1f}"


def _cpu_us(value: float) -> str:
    return f"{value:,.0f}"


def _count(value: float) -> str:
    return f"{value:.0f}"


def render(bench: BenchRun, header: dict) -> str:
    """Return the whole report as Markdown."""
    settings = bench.settings
    lines = [
        "# Benchmarks",
        "",
        "The product's job machinery against plain Dramatiq, Celery 5 and RQ 2 on one Redis,",
        "measured in one run. Scenarios and definitions: [bench/README.md](bench/README.md).",
        "Cells give the median over the repeats and, in brackets, the minimum and maximum.",
        "The machine is shared with other work, so absolute numbers drift between runs;",
        "the ratios within one run are what the targets compare.",
        "",
        "## Run",
        "",
        f"- Command: `{header['command']}`",
        f"- Code: commit {header.get('commit', 'not recorded')}",
        f"- Installed with: `{header['install']}`",
        f"- Started: {header['started']}, wall time {header['wall_seconds'] / 60:.1f} min",
        f"- Job records of the product written by: {_WRITERS.get(header.get('record_writer'), 'not recorded')}",
        f"- Jobs per throughput measurement: {settings.jobs:,}; repeats: {settings.repeats}; "
        f"latency probes: {settings.latency_probes} per mode and repeat",
        "",
        "| Machine | |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in header["machine"].items()],
        "",
        "| Package | Version |",
        "|---|---|",
        *[f"| {name} | {version} |" for name, version in header["versions"].items()],
        "",
        "## Targets",
        "",
        "Reported, not asserted. Each compares medians of this run. The margin is the measured value",
        "divided by the required value (at least 1.00x to meet) or by the limit (at most 1.00x).",
        "",
        "| Target | Measured | Result | Margin |",
        "|---|---|---|---|",
    ]
    for target in evaluate_targets(bench):
        if target.met is None:
            result = "not measured"
        else:
            result = "met" if target.met else "missed"
        lines.append(f"| {target.text} | {target.measured} | {result} | {target.margin} |")

    product = lambda row: PRODUCT  # noqa: E731
    sections = [
        ("Single enqueue", "enqueue_single",
         [("jobs/s", "jobs_per_second", _rate)], ("Product ÷ this", "jobs_per_second", product)),
        ("Bulk enqueue", "enqueue_bulk",
         [("jobs/s", "jobs_per_second", _rate)], ("Product ÷ this", "jobs_per_second", product)),
        ("Drain", "drain",
         [("jobs/s", "jobs_per_second", _rate), ("drain s", "seconds", _seconds),
          ("start-up s", "startup_seconds", _seconds), ("records written after s", "records_seconds", _seconds)],
         ("Product (same processes) ÷ this", "jobs_per_second", DRAIN_COUNTERPART.get)),
        ("CPU during the drain (µs per job)", "drain_cpu",
         [("worker command", "worker_us", _cpu_us), ("record writer", "companions_us", _cpu_us),
          ("Redis server", "redis_us", _cpu_us), ("PostgreSQL", "postgres_us", _cpu_us),
          ("all", "total_us", _cpu_us), ("of which PostgreSQL backends of the run's database", "postgres_database_us", _cpu_us)],
         None),
        ("Worker memory during the drain (peak RSS, MiB)", "memory",
         [("processes", "processes", _count), ("main process", "main_mib", _mib),
          ("largest worker process", "worker_max_mib", _mib), ("all processes", "total_mib", _mib)],
         ("this ÷ product (worker process)", "worker_max_mib", None)),
        ("Latency, back-to-back (ms)", "latency_back_to_back",
         [("p50", "p50_ms", _ms), ("p95", "p95_ms", _ms), ("p99", "p99_ms", _ms)],
         ("Product ÷ this (p50)", "p50_ms", product)),
        ("Latency, after 1 s idle (ms)", "latency_idle",
         [("p50", "p50_ms", _ms), ("p95", "p95_ms", _ms), ("p99", "p99_ms", _ms)],
         ("Product ÷ this (p50)", "p50_ms", product)),
        ("Idle Redis load", "idle_load",
         [("commands/s incl. script commands", "commands_per_second", _ms),
          ("commands/s sent", "client_commands_per_second", _ms)],
         ("Product ÷ this", "commands_per_second", product)),
        (f"Per-middleware cost (product drain 1x8, {settings.middleware_jobs:,} jobs)", "middleware",
         [("drain s", "seconds", _seconds), ("jobs/s", "jobs_per_second", _rate)], None),
        ("Queue administration endpoints (ms)", "admin",
         [("p50", "p50_ms", _ms), ("p95", "p95_ms", _ms)], None),
    ]
    for title, scenario, columns, ratio in sections:
        lines += ["", f"## {title}", ""]
        if scenario == "memory":
            lines += _memory_table(bench, columns)
        else:
            lines += _table(bench, scenario, columns, ratio)
        lines += _scenario_extra(bench, scenario)
        for note in bench.notes.get(scenario, []):
            lines.append(f"\nNote: {note}")
    lines += ["", "## Profile of the product's drain (1x8)", ""]
    lines += _profile_lines(bench)
    for scenario, notes in bench.notes.items():
        if scenario in {"profile"} or scenario in {section[1] for section in sections}:
            continue
        lines += [f"\nNote ({scenario}): {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def _memory_table(bench: BenchRun, columns) -> list[str]:
    lines = _table(bench, "memory", columns)
    if len(lines) < 3:
        return lines
    lines[0] += " this ÷ product (worker process) |"
    lines[1] += "---|"
    for index, row in enumerate(bench.results["memory"], start=2):
        own = _median(bench, "memory", row, "worker_max_mib")
        product = _median(bench, "memory", DRAIN_COUNTERPART.get(row, ""), "worker_max_mib")
        lines[index] += f" {own / product:.2f} |" if own and product else " - |"
    return lines


def _scenario_extra(bench: BenchRun, scenario: str) -> list[str]:
    if scenario == "drain_cpu" and bench.results.get("drain_cpu"):
        return [
            "",
            "User plus system CPU time between the drain's start and end, divided by the jobs. The worker",
            "command and the record writer count their process trees. The Redis server's CPU serves all its",
            "clients, including the harness's queue polling every 5 ms. PostgreSQL counts every local",
            "`postgres` process, whatever it serves, and is \"-\" where the database is not a local PostgreSQL.",
            "The last column counts only the live backends connected to the run's database, so it leaves out",
            "other clients' work and the server's shared processes. Linux reports process times in 10 ms",
            "clock ticks.",
        ]
    if scenario == "middleware":
        costs = middleware.costs(bench.results.get("middleware", {}), bench.settings.middleware_jobs)
        if not costs:
            return []
        lines = ["", "| Left out | Cost, µs per job |", "|---|---|"]
        lines += [f"| {name.removeprefix('without ')} | {cost:.0f} |" for name, cost in costs.items()]
        return lines
    if scenario == "idle_load" and "idle_load_commands" in bench.extra:
        lines = [""]
        for row, breakdown in bench.extra["idle_load_commands"].items():
            seconds = breakdown["seconds"]
            sent = ", ".join(f"{name} {count / seconds:.1f}" for name, count in breakdown["client"].items())
            scripted = ", ".join(f"{name} {count / seconds:.1f}" for name, count in breakdown["script"].items())
            lines.append(f"- {row}, per second in the last repeat: sent {sent or 'none'}; in scripts {scripted or 'none'}.")
        return lines
    if scenario == "admin" and "admin" in bench.extra:
        admin = bench.extra["admin"]
        lines = [
            "",
            f"Filled {bench.settings.admin_records:,} job records in {admin['fill_seconds']:.1f} s and sent "
            f"{bench.settings.admin_waiting:,} waiting jobs in {admin['enqueue_seconds']:.1f} s. Paths:",
            "",
        ]
        lines += [f"- {name}: `{path}`" for name, path in admin["paths"].items()]
        return lines
    return []


#: Rows per group of the profile table. The smaller parts of a group share one row after them.
PROFILE_ROWS_PER_GROUP = 15

_PROFILE_GROUP_TITLES = {
    profile.PROCESS_MESSAGE: "callees of `process_message`",
    profile.CONSUMER_BROKER_CALLS: "broker calls of the consumer thread",
    profile.OUTSIDE: "outside both",
}


@dataclass(frozen=True)
class _ProfileScale:
    """The scale from sample counts of a profile to shares and microseconds per job."""

    rate_hz: int
    jobs: int
    total_samples: int

    def per_job(self, samples: int) -> str:
        return f"{samples / self.rate_hz / self.jobs * 1e6:,.0f}"

    def share(self, samples: int) -> str:
        return f"{samples / self.total_samples * 100:.1f} %"


def _profile_lines(bench: BenchRun) -> list[str]:
    data = bench.extra.get("profile")
    if not data or "parts" not in data:
        return [f"Not profiled. {' '.join(bench.notes.get('profile', []))}".rstrip()]
    scale = _ProfileScale(data["rate_hz"], data["jobs"], data["worker_samples"])
    lines = _profile_intro(data)
    lines += [
        "",
        "The three most expensive parts of the per-job path (callees of `process_message` in the worker",
        "threads and broker calls of the consumer thread):",
        "",
    ]
    lines += _profile_top_parts(data["parts"], scale)
    lines += [""]
    lines += _profile_table(data["parts"], scale)
    return lines


def _profile_intro(data: dict) -> list[str]:
    rate, jobs = data["rate_hz"], data["jobs"]
    processes = "process" if data["worker_processes"] == 1 else "processes"
    failed = data["failed_reads"]
    if data["delays"]:
        delays = (
            f"It reported falling more than 1 s behind {len(data['delays'])} times, the last time by"
            f" {data['delays'][-1]}."
        )
    else:
        delays = "It never reported falling more than 1 s behind."
    per_job_samples = sum(part["samples"] for part in data["parts"] if part["group"] in profile.PER_JOB_PATH)
    return [
        f"One product drain (1x8, {jobs:,} jobs) under py-spy, which started the worker command:",
        f"`py-spy record --gil --idle --threads --function --subprocesses --format raw --rate {rate}`.",
        "In each sample of a process py-spy records the thread that holds the GIL, or nothing while no",
        "thread holds it, so the counts measure GIL time, not thread wall time. The drain took",
        f"{data['drain_seconds']:.2f} s under py-spy. Its timing is not in the tables above.",
        "",
        f"- GIL samples: {data['worker_samples']:,} of the worker {processes}, all in the table, and"
        f" {data['main_samples']:,} of the main process (the start-up of `manage.py rundramatiq`), left out.",
        f"- µs per job = samples ÷ {rate} ÷ {jobs:,} jobs, with the requested rate of {rate} samples per second,"
        " not a measured one: the raw format records no sample times. py-spy draws random intervals with that"
        f" mean and catches up after a delay. {delays}",
        f"- Failed reads that py-spy logged: {failed.get('worker', 0):,} of the worker {processes},"
        f" {failed.get('main', 0):,} of the main process (py-spy cannot read it after `rundramatiq` replaces"
        f" itself with the `dramatiq` command) and {failed.get('other', 0):,} of other processes.",
        "- py-spy pauses a process's threads one after another for each sample, and a thread can release the"
        " GIL before its turn. Such a sample finds no holder, so the figures can fall short of the GIL time."
        " The worker command's CPU time is in \"CPU during the drain\".",
        "- The main thread of the worker process only starts and stops the worker (imports, Django set-up),"
        " so its rows are not per-job work.",
        f"- The per-job path held the GIL for {per_job_samples / rate:.2f} s of the drain's"
        f" {data['drain_seconds']:.2f} s.",
    ]


def _profile_top_parts(parts: list[dict], scale: _ProfileScale) -> list[str]:
    # A frame's own time is not a part of the path that one could change alone.
    candidates = [
        part for part in parts
        if part["group"] in profile.PER_JOB_PATH and not part["name"].endswith("(own time)")
    ]
    top = sorted(candidates, key=lambda part: part["samples"], reverse=True)[:3]
    lines = [
        f"{rank}. `{part['name']}` ({part['thread']}): {scale.per_job(part['samples'])} µs per job,"
        f" {scale.share(part['samples'])} of the worker process's GIL samples"
        for rank, part in enumerate(top, start=1)
    ]
    if len(top) < 3:
        lines.append(f"{len(top) + 1}. No other part of the per-job path had a sample.")
    return lines


def _profile_table(parts: list[dict], scale: _ProfileScale) -> list[str]:
    lines = [
        "| Group | Thread | Part | GIL samples | share | µs per job |",
        "|---|---|---|---:|---:|---:|",
    ]
    for group in profile.GROUPS:
        members = [part for part in parts if part["group"] == group]
        title = _PROFILE_GROUP_TITLES[group]
        for part in members[:PROFILE_ROWS_PER_GROUP]:
            samples = part["samples"]
            lines.append(
                f"| {title} | {part['thread']} | `{part['name']}` | {samples:,} | {scale.share(samples)}"
                f" | {scale.per_job(samples)} |"
            )
        rest = members[PROFILE_ROWS_PER_GROUP:]
        if rest:
            samples = sum(part["samples"] for part in rest)
            lines.append(
                f"| {title} | | {len(rest)} smaller parts | {samples:,} | {scale.share(samples)}"
                f" | {scale.per_job(samples)} |"
            )
        samples = sum(part["samples"] for part in members)
        lines.append(
            f"| **{title}, all** | | | **{samples:,}** | **{scale.share(samples)}** | **{scale.per_job(samples)}** |"
        )
    total = scale.total_samples
    lines.append(f"| **worker process, all** | | | **{total:,}** | **100.0 %** | **{scale.per_job(total)}** |")
    return lines
