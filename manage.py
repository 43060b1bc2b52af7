#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if sys.argv[1:2] == ["embedded_redis"]:
        # The command starts and stops the server itself.
        os.environ["EMBEDDED_REDIS_AUTOSTART"] = "false"
    from config.environment import ConfigurationError, load_environment

    try:
        load_environment()
    except ConfigurationError as exc:
        sys.exit(f"Configuration error:\n{exc}")

    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ConfigurationError as exc:
        # Settings that combine several variables check them while loading.
        sys.exit(f"Configuration error:\n{exc}")


if __name__ == "__main__":
    main()
