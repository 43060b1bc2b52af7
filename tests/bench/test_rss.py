"""The harness's RSS sampler, on real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from bench.harness.processes import RssSampler

#: Starts two children, a long-lived and a short-lived one, prints their pids,
#: then stops the short one on the first line from stdin, and the long one and
#: itself on the second.
PARENT = textwrap.dedent(
    """
    import subprocess, sys

    children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
    print(children[0].pid, children[1].pid, flush=True)
    sys.stdin.readline()
    children[1].kill()
    children[1].wait()
    print("stopped", flush=True)
    sys.stdin.readline()
    children[0].kill()
    children[0].wait()
    """
)


def test_sampler_skips_one_sample_process() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        long_lived, short_lived = map(int, parent.stdout.readline().split())
        sampler = RssSampler(parent.pid)
        sampler.sample()
        parent.stdin.write("\n")
        parent.stdin.flush()
        assert parent.stdout.readline() == "stopped\n"
        sampler.sample()

        counted = sampler.counted_peaks()
        parent.stdin.write("\n")
        parent.stdin.flush()
        parent.wait(timeout=10)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()

    assert set(counted) == {parent.pid, long_lived}
    assert short_lived in sampler.peaks
    assert counted[parent.pid][0] == "main"
    assert counted[long_lived][0] == "child"
    assert counted[long_lived][1] > 0
