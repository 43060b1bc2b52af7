"""The queue overview in headless Chromium: log in, pause a queue, see it paused."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from django.contrib.auth import get_user_model

from queueadmin.pausing import get_paused_queues

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} does not exist.")
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()


@pytest.fixture
def chief(transactional_db):
    # Created before Playwright starts: its event loop makes the ORM refuse calls.
    return get_user_model().objects.create_superuser("chief", password="pw-chief-123")


def test_pause_queue_in_overview(broker, live_server, chief, browser_page):
    page = browser_page

    page.goto(f"{live_server.url}/admin/login/?next=/admin/queueadmin/queueoverview/")
    page.fill("#id_username", "chief")
    page.fill("#id_password", "pw-chief-123")
    page.click("input[type=submit]")
    row = page.locator('tr[data-queue="emails"]')
    assert row.locator(".paused-state").inner_text() == "running"

    row.get_by_role("button", name="Pause").click()

    page.wait_for_selector('tr[data-queue="emails"] .paused-state:text-is("paused")')
    assert get_paused_queues() == ["emails"]
    assert row.get_by_role("button", name="Resume").is_visible()
    page.screenshot(path=str(live_server_screenshot()))


def live_server_screenshot():
    from django.conf import settings

    return settings.VAR_DIR / "queue-overview.png"
