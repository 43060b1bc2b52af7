"""Run the benchmark suite: the product against plain Dramatiq, Celery and RQ on one Redis.

Install the peers and run everything (36 to 43 minutes in two runs on 2 cores)::

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python -m bench.run

The run uses ``REDIS_URL`` when set, else the project's embedded Redis, and
``DATABASE_URL`` when it names PostgreSQL (a database is created for the run
and dropped at the end), else SQLite in the work folder. It writes
``BENCHMARKS.md`` at the repository root. ``--smoke`` runs every scenario
with 100 jobs and one repeat and writes to a temporary file instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import redis

from bench.harness import machine, report
from bench.harness.database import create_database, drop_database, is_postgres
from bench.harness.processes import BASE_DIR, python_command, stop_all
from bench.harness.session import BenchRun, BenchSettings, progress
from bench.harness.systems import RunContext
from bench.scenarios import admin, drain, enqueue, idle_load, latency, middleware, profile

INSTALL_COMMAND = ".venv/bin/pip install -e '.[bench]'"

#: Seconds a smoke run waits for its scenarios before it gives up on them.
SMOKE_TIMEOUT_SECONDS = 600

#: Scenario name -> module, in the order they run.
SCENARIOS = {
    "enqueue": enqueue,
    "drain": drain,
    "profile": profile,
    "latency": latency,
    "idle_load": idle_load,
    "middleware": middleware,
    "admin": admin,
}


def _settings(args: argparse.Namespace) -> BenchSettings:
    if args.smoke:
        return BenchSettings(
            jobs=args.jobs or 100, middleware_jobs=args.middleware_jobs or 100, repeats=args.repeat or 1, latency_probes=5, idle_seconds=1.0,
            idle_load_seconds=2.0, admin_records=1_000, admin_waiting=100, admin_requests=5, smoke=True,
        )
    return BenchSettings(
        jobs=args.jobs or 10_000, middleware_jobs=args.middleware_jobs or 3_000, repeats=args.repeat or 3, latency_probes=200, idle_seconds=1.0,
        idle_load_seconds=5.0, admin_records=1_000_000, admin_waiting=100_000, admin_requests=20,
        smoke=False,
    )


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="100 jobs, 1 repeat, small fills; write to a temporary file")
    parser.add_argument("--repeat", type=int, help="repeats per scenario (default 3, smoke 1)")
    parser.add_argument("--jobs", type=int, help="jobs per throughput measurement (default 10000, smoke 100)")
    parser.add_argument(
        "--middleware-jobs", type=int,
        help="jobs per drain of the per-middleware scenario (default 3000, smoke 100)",
    )
    parser.add_argument("--output", type=Path, help="Markdown report (default BENCHMARKS.md, smoke a temporary file)")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON to this file")
    parser.add_argument("--work-dir", type=Path, help="folder for logs, profiles and SQLite (default var/bench/<run id>)")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS),
        help=f"comma-separated scenarios to run (default all: {','.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--report-from", type=Path, metavar="JSON",
        help="write the report from the --json results of an earlier run, without measuring",
    )
    parser.add_argument(
        "--record-writer", choices=("process", "worker"), default="process",
        help="the product's QUEUE_RECORD_WRITER: 'process' runs write_job_records beside each "
        "product worker command, 'worker' writes records in the worker processes (default process)",
    )
    parser.add_argument("--rq-db", type=int, help="Redis database number for RQ (default: REDIS_URL's plus one)")
    args = parser.parse_args()
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    if args.repeat is not None and args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    return args


def _rq_redis_url(url: str, rq_db: int | None) -> tuple[str, int]:
    """Return the URL of RQ's Redis database and its number (default: ``url``'s plus one)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme == "unix":
        db = int(query.get("db", ["0"])[0])
    else:
        db = int(parts.path.strip("/") or 0)
    rq_db = (db + 1) % 16 if rq_db is None else rq_db
    if parts.scheme == "unix":
        query["db"] = [str(rq_db)]
        return urlunsplit(parts._replace(query=urlencode(query, doseq=True))), rq_db
    return urlunsplit(parts._replace(path=f"/{rq_db}")), rq_db


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class _Resources:
    """Redis and the database of a run, released by ``close``."""

    def __init__(self) -> None:
        self.embedded = None
        self.database_name: str | None = None
        self.database_base_url = ""

    def redis_url(self, env) -> str:
        if env.redis_url:
            return env.redis_url
        from config.embedded_redis import EmbeddedRedis

        self.embedded = EmbeddedRedis(env.var_dir / "redis")
        return self.embedded.ensure_running()

    def database_url(self, env, run_id: str, work_dir: Path) -> tuple[str, str]:
        """Return the run's database URL and the description the report prints."""
        if is_postgres(env.database_url):
            self.database_base_url = env.database_url
            self.database_name = f"bench_{run_id}"
            url = create_database(env.database_url, self.database_name)
            return url, f"PostgreSQL, database {self.database_name} created for the run"
        path = work_dir / "bench.sqlite3"
        return f"sqlite:///{path}", "SQLite (no PostgreSQL DATABASE_URL)"

    def close(self) -> None:
        if self.database_name:
            drop_database(self.database_base_url, self.database_name)
        if self.embedded is not None and self.embedded.started_here:
            self.embedded.stop()


def _migrate(context: RunContext) -> None:
    env = dict(
        os.environ, PYTHONPATH=str(BASE_DIR), DJANGO_SETTINGS_MODULE="bench.settings_recording",
        REDIS_URL=context.redis_url, DATABASE_URL=context.database_url, VAR_DIR=str(context.var_dir),
        QUEUE_REDIS_NAMESPACE=f"bench-{context.run_id}-migrate",
    )
    subprocess.run(python_command("manage.py", "migrate", "-v", "0"), cwd=BASE_DIR, env=env, check=True, timeout=300)


def _run_scenario(bench: BenchRun, name: str, crashed: list[str]) -> None:
    try:
        SCENARIOS[name].run(bench)
    except Exception as exc:  # noqa: BLE001 - the other scenarios still run and report
        logging.getLogger("bench").exception("Scenario %s failed.", name)
        bench.error(name, f"The scenario failed: {exc!r}; see the run's output.")
        crashed.append(name)


def _run_scenarios(bench: BenchRun, names: list[str], *, parallel: bool) -> list[str]:
    """Run the scenarios and return the names of those that raised.

    ``parallel`` runs them all at once, one thread each, which only a smoke
    run does: it checks that every scenario works, and its numbers mean
    nothing. Every scenario bounds its own waits, and the join has a limit too.
    """
    crashed: list[str] = []
    if not parallel:
        for name in names:
            _run_scenario(bench, name, crashed)
        return crashed
    threads = [threading.Thread(target=_run_scenario, args=(bench, name, crashed), daemon=True) for name in names]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + SMOKE_TIMEOUT_SECONDS
    for thread, name in zip(threads, names):
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            bench.error(name, f"The scenario did not finish within {SMOKE_TIMEOUT_SECONDS} s.")
            crashed.append(name)
    return crashed


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _report_from(args: argparse.Namespace) -> None:
    data = json.loads(args.report_from.read_text())
    settings = BenchSettings(**data["settings"])
    context = RunContext("report", "", "", "", Path("."))
    bench = BenchRun(context, settings, Path("."))
    for scenario, rows in data["results"].items():
        for row, metrics in rows.items():
            for metric, values in metrics.items():
                for value in values:
                    bench.record(scenario, row, metric, value)
    for scenario, notes in data["notes"].items():
        bench.notes[scenario].extend(notes)
    bench.extra.update(data["extra"])
    output = args.output or BASE_DIR / "BENCHMARKS.md"
    output.write_text(report.render(bench, data["header"]))
    progress(f"wrote {output} from {args.report_from}")


def main() -> None:
    args = _parse_args()
    if args.report_from:
        _report_from(args)
        return
    settings = _settings(args)
    run_id = uuid.uuid4().hex[:8]
    work_dir = (args.work_dir or BASE_DIR / "var" / "bench" / run_id).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    output = args.output or (
        Path(tempfile.mkstemp(prefix="bench-smoke-", suffix=".md")[1]) if args.smoke else BASE_DIR / "BENCHMARKS.md"
    )
    from config.environment import load_environment

    env = load_environment()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.time()
    resources = _Resources()
    try:
        redis_url = resources.redis_url(env)
        rq_redis_url, rq_db = _rq_redis_url(redis_url, args.rq_db)
        database_url, database_text = resources.database_url(env, run_id, work_dir)
        context = RunContext(run_id, redis_url, rq_redis_url, database_url, work_dir, args.record_writer)
        progress(f"run {run_id}: Redis {_masked(redis_url)} (RQ db {rq_db}), {database_text}; logs in {work_dir}")
        _migrate(context)
        bench = BenchRun(context, settings, work_dir / "logs")
        client = redis.Redis.from_url(redis_url)
        header = {
            "machine": machine.describe_machine(client, database_text),
            "versions": machine.package_versions(),
        }
        client.close()
        crashed = _run_scenarios(bench, args.scenarios.split(","), parallel=settings.smoke)
    finally:
        stop_all()
        resources.close()
    wall_seconds = time.time() - started
    header.update(
        record_writer=args.record_writer,
        commit=_git_commit(),
        command=_command_line(redis_url, env.database_url),
        install=INSTALL_COMMAND,
        started=time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(started)),
        wall_seconds=wall_seconds,
    )
    output.write_text(report.render(bench, header))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"settings": asdict(settings), "header": header, "results": bench.results,
                 "notes": bench.notes, "errors": bench.errors, "extra": bench.extra},
                indent=2, default=str,
            )
        )
    progress(f"wrote {output} after {wall_seconds / 60:.1f} min")
    if crashed:
        sys.exit(f"Scenarios that failed: {', '.join(crashed)}.")


def _git_commit() -> str:
    """Return the measured commit, with "+changes" when the work tree differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=BASE_DIR, capture_output=True, text=True, timeout=30
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{commit}+changes" if git("status", "--porcelain", "--untracked-files=no") else commit


def _command_line(redis_url: str, database_url: str | None) -> str:
    variables = []
    if os.environ.get("REDIS_URL"):
        variables.append(f"REDIS_URL={_masked(redis_url)}")
    if database_url:
        variables.append(f"DATABASE_URL={_masked(database_url)}")
    arguments = " ".join(shlex.quote(argument) for argument in sys.argv[1:])
    return " ".join([*variables, ".venv/bin/python -m bench.run", arguments]).strip()


if __name__ == "__main__":
    main()
