"""The web UI in a real browser: Playwright driving Debian's chromium against the real app server."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import record
from triage import ingest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                       "(apt-get install chromium; .ci/run installs it)")


@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _ingest(db, source, records):
    receipt = ingest.receive(db, source, records)
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id)
    db.commit()


def _log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/queues")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queues")


def test_agent_logs_in_and_sees_queues_fill_live(server, browser, db, make_user, make_source):
    make_user("alex", "agent")
    source = make_source()
    _ingest(db, source, [
        record(text="@northwind my flight got cancelled and nobody answers the phone, I want a refund",
               author="dana", author_name="Dana Whitfield", author_followers=48_000),
        record(text="@northwind how do I add a bike to my booking?", author="sam"),
    ])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _log_in(page, server, "alex")
    complaints = page.locator('section[data-queue="complaints"] li.item')
    assert complaints.count() == 1
    assert "Dana Whitfield" in complaints.first.inner_text() and "48k followers" in complaints.first.inner_text()
    assert "intent +" in complaints.first.locator(".why").inner_text()

    # A new mention arrives while the page is open: it appears without a reload.
    _ingest(db, source, [record(text="Thank you @northwind, the crew was wonderful, highly recommend!",
                                author="fan")])
    page.locator('section[data-queue="advocacy"] li.item').first.wait_for(timeout=10_000)
    assert "crew was wonderful" in page.locator('section[data-queue="advocacy"]').inner_text()
    assert page.locator('[data-queue-count="advocacy"]').inner_text() == "1"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "queues.png"), full_page=True)


def test_wrong_password_shows_a_clear_error_in_the_browser(server, browser, make_user, db):
    make_user("alex", "agent")
    page = browser.new_page()
    page.goto(f"{server}/login")
    page.fill("input[name=username]", "alex")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert "Unknown username or wrong password." in page.locator(".flash.error").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "login-error.png"))
