"""Remove the middleware named in ``QUEUE_DISABLED_MIDDLEWARE`` from the broker's list.

The benchmark suite uses this to measure what each middleware costs per job.
Leaving one out in production removes the guarantee it gives (job records,
idempotency, retries and so on).
"""

from __future__ import annotations

from config.environment import ConfigurationError


def without_disabled_middleware(middleware: list[str], disabled: str) -> list[str]:
    """Return ``middleware`` without the entries named in the comma-separated ``disabled``.

    An entry matches by its dotted path or by its class name.

    Raises:
      ConfigurationError: a name matches no entry of ``middleware``.
    """
    names = [name.strip() for name in disabled.split(",") if name.strip()]
    unknown = [name for name in names if not any(_matches(path, name) for path in middleware)]
    if unknown:
        allowed = ", ".join(path.rsplit(".", 1)[-1] for path in middleware)
        raise ConfigurationError(
            f"QUEUE_DISABLED_MIDDLEWARE={disabled!r} is invalid: unknown middleware "
            f"{', '.join(unknown)}; allowed: {allowed}."
        )
    return [path for path in middleware if not any(_matches(path, name) for name in names)]


def _matches(path: str, name: str) -> bool:
    return path == name or path.rsplit(".", 1)[-1] == name
