"""The scenarios of the benchmark; each module's ``run(bench)`` records its results."""
