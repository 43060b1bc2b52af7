"""Producer processes of the benchmark, one per measurement.

``python -m bench.clients SYSTEM COMMAND`` sends jobs to one system and prints
its result as one JSON object on the last line of stdout. Each system runs in
a process of its own because the product and plain Dramatiq each set
Dramatiq's global broker, and because a fresh process per measurement keeps
one run's caches and connections out of the next.
"""
