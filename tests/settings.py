"""Settings for the test suite: the project's settings with an isolated namespace.

Each pytest process (the main one, or each pytest-xdist worker) gets its own
Redis key namespace, its own ``var/`` folder and its own test database, so
test runs never touch data they did not create. Subprocesses started by the
tests (workers, management commands) inherit these through the environment.
"""

import json
import os
import uuid
from pathlib import Path

_owner = os.environ.get("PYTEST_XDIST_WORKER", "main")
if os.environ.get("TEST_SETTINGS_OWNER") != _owner:
    # A new pytest process: choose fresh names. A subprocess started by a test
    # has the same owner and keeps the names it inherited.
    _session = f"{uuid.uuid4().hex[:10]}-{_owner}"
    os.environ["TEST_SETTINGS_OWNER"] = _owner
    os.environ["TEST_SESSION_ID"] = _session
    os.environ["QUEUE_REDIS_NAMESPACE"] = f"test-{_session}"
    os.environ["VAR_DIR"] = str(
        Path(__file__).resolve().parent.parent / "var" / f"test-{_session}"
    )
_session = os.environ["TEST_SESSION_ID"]
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
    DATABASES["default"]["TEST"] = {"NAME": f"test_meetingflow_{_session.replace('-', '_')}"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
