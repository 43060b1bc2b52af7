"""Profile of the product's drain (1x8): py-spy samples the thread that holds the GIL.

Runs one drain of the product with its worker command under ``py-spy
record --gil --idle --threads --function --subprocesses --format raw``.
py-spy is the parent of the worker command, so it can read the worker's
memory where ptrace is allowed only on descendants (Yama's
``ptrace_scope=1``). At the end the harness sends SIGTERM to the worker
command (py-spy's child). Dramatiq then stops its worker processes, and py-spy
writes the collapsed stacks when the last of them has exited.
``bench.harness.profile`` summarises them. The timing of this drain is not
reported, because sampling slows the worker down.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import psutil

from bench.harness.processes import ManagedProcess, script_command
from bench.harness.profile import read_sampler_log, summarise_raw_profile
from bench.harness.session import BenchRun, progress
from bench.scenarios.drain import measure_drain

#: Samples per second that py-spy is asked for, in each process. Each sample
#: pauses the process: in three 3,000-job drains each on a shared 2-core
#: virtual machine, the drain took 2.7 to 3.3 s without py-spy, 2.7 to 3.6 s
#: at 200 Hz and 3.2 to 5.0 s at 500 Hz.
SAMPLING_RATE_HZ = 200

#: Seconds the worker command gets to stop after SIGTERM before py-spy is interrupted.
STOP_TIMEOUT_SECONDS = 60

#: Seconds py-spy gets to write its output after SIGINT.
WRITE_TIMEOUT_SECONDS = 30


def pyspy_command(output: Path, rate: int, command: list[str]) -> list[str]:
    """Return the command line that runs ``command`` under ``py-spy record``.

    ``--gil`` keeps only the thread that holds the GIL in each sample, and
    ``--idle`` keeps it even when py-spy takes it for idle. ``--threads``
    adds a frame for each thread, ``--function`` names each frame by the first
    line of its function, and ``--subprocesses`` adds Dramatiq's worker
    processes, each under a frame of its own.
    """
    return script_command(
        "py-spy", "record", "--gil", "--idle", "--threads", "--function", "--subprocesses",
        "--format", "raw", "--rate", str(rate), "--output", str(output), "--", *command,
    )


def stop_profiled_worker(worker: ManagedProcess) -> None:
    """Stop the worker command under py-spy so that py-spy writes its output.

    SIGTERM goes to py-spy's child, the worker command, which stops its
    worker processes, and py-spy exits after them. If that takes longer than
    ``STOP_TIMEOUT_SECONDS``, SIGINT makes py-spy write what it has and
    SIGKILL its child. The caller's ``ManagedProcess.stop`` then kills
    whatever is left of the process group.
    """
    if worker.process.poll() is not None:
        return
    try:
        children = psutil.Process(worker.pid).children()
    except psutil.NoSuchProcess:
        children = []
    for child in children:
        try:
            child.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    try:
        worker.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        return
    except subprocess.TimeoutExpired:
        pass
    worker.process.send_signal(signal.SIGINT)
    try:
        worker.process.wait(timeout=WRITE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        pass


def run(bench: BenchRun) -> None:
    output = bench.log_dir / "profile" / "product-drain.txt"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    binary = Path(script_command("py-spy")[0])
    if not binary.exists():
        bench.error("profile", f"py-spy is not installed at {binary}; install the bench extra.")
        return
    # py-spy logs each failed read of a process only at the warning level.
    deployment = bench.deploy("product", RUST_LOG="py_spy=warn")
    workers: list[ManagedProcess] = []

    def stop(worker: ManagedProcess) -> None:
        workers.append(worker)
        stop_profiled_worker(worker)

    progress(f"profile: product drain 1x8 under py-spy at {SAMPLING_RATE_HZ} Hz")
    try:
        result = measure_drain(
            bench, deployment, 1, 8,
            wrap_command=lambda command: pyspy_command(output, SAMPLING_RATE_HZ, command),
            stop_worker=stop,
        )
    except (RuntimeError, TimeoutError) as exc:
        bench.error("profile", str(exc))
        return
    log_path = workers[0].log_path
    if not output.exists():
        bench.error("profile", f"py-spy wrote no profile to {output}; see {log_path}.")
        return
    summary = summarise_raw_profile(output.read_text())
    if not summary.worker_samples:
        bench.error("profile", f"No GIL samples of a worker process in {output}; see {log_path}.")
        return
    sampler = read_sampler_log(log_path.read_text(errors="replace"), summary.pids)
    bench.extra["profile"] = {
        **summary.as_dict(),
        "path": str(output),
        "rate_hz": SAMPLING_RATE_HZ,
        "jobs": bench.settings.jobs,
        "drain_seconds": result["seconds"],
        "failed_reads": sampler.failed_reads,
        "delays": sampler.delays,
    }
