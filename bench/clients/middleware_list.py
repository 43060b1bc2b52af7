"""Print the product's Dramatiq middleware as JSON: ``python -m bench.clients.middleware_list``.

Each entry has the dotted ``path`` and ``needed_by_actors``: the actor options
that this middleware alone defines and that a declared actor sets. Dramatiq
rejects such an actor when the middleware is missing, so the worker could not
start without it.
"""

from __future__ import annotations

import json


def main() -> None:
    import django

    django.setup()
    import dramatiq
    from django.conf import settings

    from queueadmin.actors import import_task_modules

    import_task_modules()
    broker = dramatiq.get_broker()
    used_options = set()
    for name in broker.get_declared_actors():
        used_options |= set(broker.get_actor(name).options)
    by_path = {f"{type(item).__module__}.{type(item).__qualname__}": item for item in broker.middleware}
    entries = []
    for path in settings.DRAMATIQ_BROKER["MIDDLEWARE"]:
        middleware = by_path.get(path)
        options = set(getattr(middleware, "actor_options", set())) if middleware else set()
        entries.append({"path": path, "needed_by_actors": sorted(options & used_options)})
    print(json.dumps(entries), flush=True)


if __name__ == "__main__":
    main()
