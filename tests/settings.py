"""Settings for the test suite: the project's settings with an isolated namespace.

Each test session gets its own Redis key namespace, its own ``var/`` folder
and its own test database, so sessions never touch data they did not create.
Worker subprocesses started by the tests inherit these through the
environment.
"""

import json
import os
import uuid
from pathlib import Path

_session = os.environ.setdefault("TEST_SESSION_ID", uuid.uuid4().hex[:10])
os.environ.setdefault("QUEUE_REDIS_NAMESPACE", f"test-{_session}")
os.environ.setdefault(
    "VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / f"test-{_session}")
)
# Short backoff so that retry tests finish quickly.
os.environ.setdefault("QUEUE_BACKOFF_DELAY", "100")
# The rate limit of the test actor ``limited_job``, beside the project's own.
os.environ.setdefault(
    "QUEUE_RATE_LIMITS",
    json.dumps({"sms": "10/minute", "external_api": "5/second", "test_limit": "2/second"}),
)

from config.settings import *  # noqa: E402,F403
from config.settings import DATABASES, INSTALLED_APPS, VAR_DIR  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory, so that worker subprocesses see the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_meetingflow_{_session}"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
