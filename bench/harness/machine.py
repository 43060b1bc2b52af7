"""Describe the machine and the software versions of a run."""

from __future__ import annotations

import platform
from importlib import metadata

import psutil
import redis

PACKAGES = (
    "meetingflow", "django", "dramatiq", "django-dramatiq", "redis", "celery", "kombu",
    "billiard", "rq", "psycopg", "pydantic", "psutil", "py-spy",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_machine(redis_client: redis.Redis, database: str) -> dict[str, str]:
    """Return the facts about the machine and the servers that the report prints."""
    memory = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{value:.2f}" for value in psutil.getloadavg())
    server = redis_client.info("server")
    return {
        "CPU": cpu_model(),
        "Cores": f"{psutil.cpu_count(logical=True)} logical, {psutil.cpu_count(logical=False)} physical",
        "Memory": f"{memory:.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "Redis server": server.get("redis_version", "unknown"),
        "Database": database,
        "Load average at start": load,
    }


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
