"""Command line of the producer processes: ``python -m bench.clients SYSTEM COMMAND``.

Commands:

- ``enqueue --jobs N --mode single|bulk``: time sending N jobs, after
  ``--warmup`` untimed ones sent one at a time.
- ``fill --jobs N``: send N jobs as fast as the system allows (bulk calls of
  at most ``--batch`` jobs), to fill a queue before a drain.
- ``latency --probes N --mode back-to-back|idle``: send probes one after the
  other and return each probe's latency from the enqueue call to the job's
  start, in milliseconds.

The result is one JSON object on the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import time

from bench.clients.systems import CLIENTS, Payload


def _payload(index: int, label: str = "bench") -> Payload:
    return {"index": index, "label": label, "tag": "t1"}


def time_enqueue(client, jobs: int, mode: str, warmup: int) -> dict:
    for index in range(warmup):
        client.send_one(_payload(index, "warmup"))
    payloads = [_payload(index) for index in range(jobs)]
    started = time.perf_counter()
    if mode == "single":
        for payload in payloads:
            client.send_one(payload)
    else:
        client.send_many(payloads)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "jobs": jobs, "warmup": warmup}


def fill(client, jobs: int, batch: int) -> dict:
    started = time.perf_counter()
    for first in range(0, jobs, batch):
        client.send_many([_payload(index) for index in range(first, min(first + batch, jobs))])
    return {"seconds": time.perf_counter() - started, "jobs": jobs}


def _wait_for_start(client, label: str, timeout: float) -> float:
    """Return the start time (Unix seconds) that the probe ``label`` wrote."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"Probe {label} did not start within {timeout} s.")
        # One second at a time: the product's client has a 2 s socket timeout.
        item = client.redis.blpop([client.latency_key], timeout=1)
        if item is None:
            continue
        started_label, started = item[1].decode().split()
        if started_label == label:
            return float(started)


def measure_latency(
    client, probes: int, mode: str, warmup: int, start_at: float, idle_seconds: float, timeout: float
) -> dict:
    """Send probes one at a time; return their latencies in milliseconds.

    ``back-to-back`` sends each probe as soon as the previous one started.
    ``idle`` sends each probe at least ``idle_seconds`` after the previous
    one started, and not before ``start_at + index * (idle_seconds + 0.05)``
    (Unix seconds), so that processes started with different ``start_at``
    values take turns.
    """
    client.redis.delete(client.latency_key)
    for index in range(warmup):
        label = f"warmup-{index}"
        client.send_probe(_payload(index, label))
        _wait_for_start(client, label, timeout)
    latencies_ms = []
    last_start = time.time()
    for index in range(probes):
        if mode == "idle":
            slot = start_at + index * (idle_seconds + 0.05)
            send_at = max(slot, last_start + idle_seconds)
            time.sleep(max(0.0, send_at - time.time()))
        label = f"probe-{index}"
        sent = time.time()
        client.send_probe(_payload(index, label))
        last_start = _wait_for_start(client, label, timeout)
        latencies_ms.append((last_start - sent) * 1000)
    return {"latencies_ms": latencies_ms, "mode": mode}


def main() -> None:
    parser = argparse.ArgumentParser(description="Send benchmark jobs to one system.")
    parser.add_argument("system", choices=sorted(CLIENTS))
    commands = parser.add_subparsers(dest="command", required=True)

    enqueue = commands.add_parser("enqueue", help="time sending jobs")
    enqueue.add_argument("--jobs", type=int, required=True, help="jobs to time")
    enqueue.add_argument("--mode", choices=["single", "bulk"], required=True)
    enqueue.add_argument("--warmup", type=int, default=100, help="untimed jobs sent first")

    filling = commands.add_parser("fill", help="fill the queue")
    filling.add_argument("--jobs", type=int, required=True, help="jobs to send")
    filling.add_argument("--batch", type=int, default=10_000, help="jobs per bulk call")

    latency = commands.add_parser("latency", help="measure enqueue-to-start latency")
    latency.add_argument("--probes", type=int, required=True, help="timed probes")
    latency.add_argument("--mode", choices=["back-to-back", "idle"], required=True)
    latency.add_argument("--warmup", type=int, default=3, help="untimed probes sent first")
    latency.add_argument("--start-at", type=float, default=0.0, help="Unix time of the first idle slot")
    latency.add_argument("--idle-seconds", type=float, default=1.0, help="idle time before each probe")
    latency.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one probe")

    args = parser.parse_args()
    client = CLIENTS[args.system]()
    if args.command == "enqueue":
        result = time_enqueue(client, args.jobs, args.mode, args.warmup)
    elif args.command == "fill":
        result = fill(client, args.jobs, args.batch)
    else:
        result = measure_latency(
            client, args.probes, args.mode, args.warmup, args.start_at, args.idle_seconds, args.timeout
        )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
