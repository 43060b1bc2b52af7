"""Summarise the pyinstrument sessions that ``bench.profiling.ThreadProfiler`` saved.

The per-job path of a Dramatiq worker runs in two kinds of threads. A worker
thread calls ``process_message``, which runs each middleware's hooks, the
actor and the acknowledgement. The consumer thread calls the broker to fetch messages, to wait for
work and to acknowledge finished jobs. The summary lists the parts of both,
each as microseconds per job: inclusive profile time divided by the job count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

#: Files of the broker classes whose methods the consumer thread calls.
_BROKER_FILES = ("queueadmin/broker.py", "dramatiq/brokers/redis.py")

#: Dramatiq frames that only dispatch to the middleware or to the consumer's ack
#: and nack (Dramatiq 2 acknowledges in the worker thread): their callees are the parts.
_DISPATCHERS = {
    ("emit_before", "broker.py"),
    ("emit_after", "broker.py"),
    ("post_process_message", "worker.py"),
}


@dataclass(frozen=True)
class ProfilePart:
    """One part of the per-job path and its share of the profiled time."""

    name: str
    thread: str
    microseconds_per_job: float
    share: float


def _frame_name(frame) -> str:
    if frame.is_synthetic:
        return f"{frame.identifier.split(chr(0))[0]} (own time)"
    owner = f"{frame.class_name}." if frame.class_name else ""
    path = frame.file_path_short or "?"
    return f"{owner}{frame.function} ({path}:{frame.line_no})"


def _is_dispatcher(frame) -> bool:
    path = frame.file_path or ""
    if frame.function in ("emit_before", "emit_after") and (frame.class_name or "").endswith("Broker"):
        # The project's broker overrides the dispatch to call only overridden hooks.
        return True
    return any(frame.function == name and path.endswith(f"dramatiq/{file}") for name, file in _DISPATCHERS)


def _parts_of(frame):
    """Yield the callees of ``frame``, looking through the middleware dispatchers."""
    for child in frame.children:
        if _is_dispatcher(child):
            yield from _parts_of(child)
        else:
            yield child


def _is_broker_call(frame) -> bool:
    """Return whether ``frame`` is a method of the Redis broker (fetch, ack, wait for work...)."""
    return (frame.class_name or "").endswith("Broker") and (frame.file_path or "").endswith(_BROKER_FILES)


def _walk(frame):
    """Yield the frames of the tree, but not the callees of ``process_message`` or a broker call."""
    yield frame
    if _is_process_message(frame) or _is_broker_call(frame):
        return
    for child in frame.children:
        yield from _walk(child)


def _is_process_message(frame) -> bool:
    return frame.function == "process_message" and (frame.file_path or "").endswith("dramatiq/worker.py")


def summarise_profiles(directory: Path, jobs: int) -> dict:
    """Return the parts of the per-job path found in ``directory``, most expensive first.

    The result has ``worker_parts`` (callees of ``process_message``),
    ``consumer_parts`` (the outermost broker method calls of the consumer threads),
    ``process_message_us`` (the whole of ``process_message`` per job) and
    ``sessions`` (the number of thread profiles read).
    """
    from pyinstrument.session import Session

    worker_times: dict[str, float] = defaultdict(float)
    consumer_times: dict[str, float] = defaultdict(float)
    process_message_total = 0.0
    files = sorted(directory.glob("*.json"))
    for path in files:
        root = Session.load(str(path)).root_frame()
        if root is None:
            continue
        for frame in _walk(root):
            if _is_process_message(frame):
                process_message_total += frame.time
                for part in _parts_of(frame):
                    worker_times[_frame_name(part)] += part.time
            elif _is_broker_call(frame):
                consumer_times[_frame_name(frame)] += frame.time

    def ranked(times: dict[str, float], thread: str, total: float) -> list[ProfilePart]:
        parts = [
            ProfilePart(name, thread, seconds * 1e6 / jobs, seconds / total if total else 0.0)
            for name, seconds in times.items()
        ]
        return sorted(parts, key=lambda part: part.microseconds_per_job, reverse=True)

    consumer_total = sum(consumer_times.values())
    return {
        "sessions": len(files),
        "process_message_us": process_message_total * 1e6 / jobs if jobs else 0.0,
        "worker_parts": ranked(worker_times, "worker", process_message_total),
        "consumer_parts": ranked(consumer_times, "consumer", consumer_total),
    }
