"""Parts of the benchmark orchestrator (``bench.run``): processes, systems, statistics, report."""
