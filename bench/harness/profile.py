"""Summarise a py-spy raw profile of a Dramatiq worker command into the parts of the per-job path.

The input is what ``py-spy record --gil --idle --threads --function
--subprocesses --format raw`` writes: one line per distinct stack,
``frame;frame;... count``, outermost frame first. ``--function`` names a code
frame ``function (file:line)`` by the first line of its function. With ``--subprocesses`` a stack starts with one
``process PID:"command line"`` frame per process from the profiled command
down to the sampled process. ``--threads`` adds a ``thread (ID): name`` frame
after those. With ``--gil`` each sample of a process contains only the
thread that held the GIL at that moment, and a process with no such thread adds
nothing. A count is therefore the number of samples in which that stack
held the GIL.

The worker processes are the processes below the profiled command
(Dramatiq's main process forks them). Each of their samples lands in exactly
one part, in one of three groups:

- ``process_message``: the callees of Dramatiq's ``WorkerThread.process_message``.
  The summary looks through the frames that only dispatch, namely the
  broker's ``emit_before`` and ``emit_after`` and Dramatiq's
  ``ConsumerThread.post_process_message``. A middleware hook, the actor call
  and the consumer's ``ack`` are parts of their own.
- ``consumer broker calls``: the outermost broker method that the consumer
  thread runs (fetch, wait for work).
- ``outside``: everything else, by thread and by the frame below the
  thread's loop. This covers Dramatiq's work queue handling, message
  decoding in the consumer, the product's background threads, and the
  worker process's start-up (imports, Django set-up) and shutdown.

A part named ``frame (own time)`` counts the samples in which that frame
was the innermost one, for example a dispatcher between two hooks.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass

PROCESS_MESSAGE = "process_message"
CONSUMER_BROKER_CALLS = "consumer broker calls"
OUTSIDE = "outside"

#: The groups in the order the report lists them.
GROUPS = (PROCESS_MESSAGE, CONSUMER_BROKER_CALLS, OUTSIDE)

#: The groups that make up the per-job path.
PER_JOB_PATH = (PROCESS_MESSAGE, CONSUMER_BROKER_CALLS)

_PROCESS_FRAME = re.compile(r'^process (?P<pid>\d+):"(?P<command>.*)"$')
_THREAD_FRAME = re.compile(r"^thread \((?P<id>[^)]*)\)(?:: (?P<name>.*))?$")
_CODE_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>.*):(?P<line>\d+)\)$")

#: Files of the broker classes whose methods count as the consumer's broker calls.
_BROKER_FILES = ("queueadmin/broker.py", "dramatiq/brokers/redis.py", "dramatiq/broker.py")

#: (function, file) of the frames that mark where a thread's own work starts.
_PROCESS_MESSAGE = ("WorkerThread.process_message", "dramatiq/worker.py")
_WORKER_LOOP = ("WorkerThread.run", "dramatiq/worker.py")
_CONSUMER_LOOP = ("ConsumerThread.run", "dramatiq/worker.py")
_WORKER_PROCESS = ("worker_process", "dramatiq/cli.py")
_THREAD_START = ("Thread._bootstrap_inner", "threading.py")
_THREAD_RUN = ("Thread.run", "threading.py")
_POST_PROCESS = ("ConsumerThread.post_process_message", "dramatiq/worker.py")


@dataclass(frozen=True)
class ProfilePart:
    """One part of a profile: its group, the thread that ran it, the frame that names it and its GIL samples."""

    group: str
    thread: str
    name: str
    samples: int


@dataclass(frozen=True)
class ProfileSummary:
    """The parts of the worker processes' GIL samples, and the samples of the profiled command itself."""

    parts: list[ProfilePart]
    worker_processes: int
    worker_samples: int
    main_samples: int
    #: Process ids by role: ``main`` (the profiled command) and ``worker``.
    pids: dict[str, list[int]]

    def group_samples(self, group: str) -> int:
        return sum(part.samples for part in self.parts if part.group == group)

    def as_dict(self) -> dict:
        return {
            "parts": [asdict(part) for part in self.parts],
            "worker_processes": self.worker_processes,
            "worker_samples": self.worker_samples,
            "main_samples": self.main_samples,
            "pids": self.pids,
        }


def _split(frame: str) -> tuple[str, str]:
    """Return the function and the file of a code frame, or the frame and "" if it has no file."""
    match = _CODE_FRAME.match(frame)
    if match is None:
        return frame, ""
    return match["function"], match["path"]


def _is(frame: str, marker: tuple[str, str]) -> bool:
    function, path = _split(frame)
    return function == marker[0] and (path == marker[1] or path.endswith(f"/{marker[1]}"))


def _index(frames: list[str], marker: tuple[str, str]) -> int | None:
    for index, frame in enumerate(frames):
        if _is(frame, marker):
            return index
    return None


def _is_broker_method(frame: str) -> bool:
    function, path = _split(frame)
    owner = function.rpartition(".")[0]
    return owner.endswith("Broker") and path.endswith(_BROKER_FILES)


def _is_dispatcher(frame: str) -> bool:
    """Return whether ``frame`` only passes a job on: the broker's middleware dispatch or Dramatiq's ack step."""
    if _is(frame, _POST_PROCESS):
        return True
    function, _ = _split(frame)
    return _is_broker_method(frame) and function.rpartition(".")[2] in ("emit_before", "emit_after")


def _own_time(frame: str) -> str:
    return f"{frame} (own time)"


def _below(frames: list[str], index: int) -> str:
    """Return the frame that ``frames[index]`` called, or its own time if it called none."""
    if index + 1 < len(frames):
        return frames[index + 1]
    return _own_time(frames[index])


def _process_message_part(frames: list[str], index: int) -> str:
    callee = index + 1
    while callee < len(frames) and _is_dispatcher(frames[callee]):
        callee += 1
    if callee < len(frames):
        return frames[callee]
    return _own_time(frames[callee - 1])


def classify(frames: list[str], thread_name: str | None) -> tuple[str, str, str]:
    """Return the group, the thread and the part name of one stack of a worker process.

    ``frames`` are the code frames, outermost first, without the process and
    thread frames.
    """
    if not frames:
        return OUTSIDE, _thread_label(thread_name), "(no Python frame)"
    index = _index(frames, _PROCESS_MESSAGE)
    if index is not None:
        return PROCESS_MESSAGE, "worker thread", _process_message_part(frames, index)
    index = _index(frames, _CONSUMER_LOOP)
    if index is not None:
        for frame in frames[index + 1:]:
            if _is_broker_method(frame):
                return CONSUMER_BROKER_CALLS, "consumer thread", frame
        return OUTSIDE, "consumer thread", _below(frames, index)
    index = _index(frames, _WORKER_LOOP)
    if index is not None:
        return OUTSIDE, "worker thread", _below(frames, index)
    index = _index(frames, _WORKER_PROCESS)
    if index is not None:
        return OUTSIDE, "main thread", _below(frames, index)
    index = _index(frames, _THREAD_START)
    if index is not None:
        if index + 1 < len(frames) and _is(frames[index + 1], _THREAD_RUN):
            index += 1
        return OUTSIDE, _thread_label(thread_name), _below(frames, index)
    return OUTSIDE, _thread_label(thread_name), frames[-1]


def _thread_label(name: str | None) -> str:
    return f"thread {name}" if name else "thread without a name"


def parse_line(line: str) -> tuple[list[int], str | None, list[str], int]:
    """Split one line of a raw profile into process ids, thread name, code frames and count.

    Raises:
      ValueError: the line does not end with a sample count.
    """
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        raise ValueError(f"Invalid py-spy raw line, expected 'frame;frame;... count': {line[:200]!r}")
    frames = stack.split(";")
    pids = []
    while frames and (match := _PROCESS_FRAME.match(frames[0])):
        pids.append(int(match["pid"]))
        frames.pop(0)
    thread_name = None
    if frames and (match := _THREAD_FRAME.match(frames[0])):
        thread_name = match["name"]
        frames.pop(0)
    return pids, thread_name, frames, int(count)


def summarise_raw_profile(text: str) -> ProfileSummary:
    """Return the parts of the worker processes' GIL samples in ``text``, most samples first within each group.

    ``text`` is a raw profile written by ``py-spy record --subprocesses
    --threads --format raw`` (see the module docstring). A stack with one
    process frame belongs to the profiled command itself, which is counted
    in ``main_samples`` only.
    """
    counts: Counter[tuple[str, str, str]] = Counter()
    main_pids: set[int] = set()
    worker_pids: set[int] = set()
    main_samples = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        pids, thread_name, frames, count = parse_line(line)
        if len(pids) < 2:
            main_pids.update(pids)
            main_samples += count
            continue
        worker_pids.add(pids[-1])
        counts[classify(frames, thread_name)] += count
    parts = [ProfilePart(group, thread, name, samples) for (group, thread, name), samples in counts.items()]
    parts.sort(key=lambda part: (GROUPS.index(part.group), -part.samples, part.thread, part.name))
    return ProfileSummary(
        parts=parts,
        worker_processes=len(worker_pids),
        worker_samples=sum(counts.values()),
        main_samples=main_samples,
        pids={"main": sorted(main_pids), "worker": sorted(worker_pids)},
    )


_FAILED_READ = re.compile(r"Failed to get stack trace from (?P<pid>\d+):")
_LATE = re.compile(r"(?P<delay>\S+) behind in sampling")


@dataclass(frozen=True)
class SamplerLog:
    """Sampling problems that py-spy reported: failed reads by process role, and delays over 1 s."""

    failed_reads: dict[str, int]
    delays: list[str]


def read_sampler_log(text: str, pids: dict[str, list[int]]) -> SamplerLog:
    """Count py-spy's failed reads per process role and collect its messages about falling behind.

    py-spy 0.4 (``record_samples`` in its ``src/main.rs``) logs each failed
    read of a process as a warning (with ``RUST_LOG=py_spy=warn``) and prints "<delay> behind in sampling" at
    most once a second while it is more than 1 s late. ``pids`` maps roles
    to process ids, as ``ProfileSummary.pids`` does; a process of no role,
    which had no GIL sample, counts as ``other``.
    """
    roles = {pid: role for role, role_pids in pids.items() for pid in role_pids}
    failed_reads: Counter[str] = Counter()
    delays = []
    for line in text.splitlines():
        if match := _FAILED_READ.search(line):
            failed_reads[roles.get(int(match["pid"]), "other")] += 1
        elif match := _LATE.search(line):
            delays.append(match["delay"])
    return SamplerLog(dict(failed_reads), delays)
