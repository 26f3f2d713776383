"""The web UI in a real browser: Playwright driving Debian's chromium against the real app server."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import record
from triage.intake import ingest

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


def _fast_live(page, base: str, every_ms: int) -> list[int]:
    """Serve the pages with live regions polling every `every_ms` (not 4 s), and list the polls' statuses.
    Call it once logged in: the login page is not rewritten."""
    def quicker(route):
        response = route.fetch(max_redirects=0)
        body = response.text().replace(' data-live="', f' data-live-every="{every_ms}" data-live="')
        route.fulfill(response=response, body=body)

    for path in ("/queues", "/work"):
        page.route(f"{base}{path}", quicker)
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/fragment" in r.url else None)
    return statuses


def test_the_board_keeps_its_dom_while_nothing_changes_and_swaps_it_on_a_change(
        server, browser, db, make_user, make_source):
    make_user("alex", "agent")
    source = make_source()
    _ingest(db, source, [record(text="@northwind how do I add a bike to my booking?", author="sam")])
    page = browser.new_page()
    _log_in(page, server, "alex")
    statuses = _fast_live(page, server, 200)
    page.goto(f"{server}/queues")
    page.evaluate("document.querySelector('#board section.queue').dataset.kept = 'yes'")
    page.wait_for_timeout(1_500)
    assert len(statuses) >= 3 and set(statuses) == {304}, statuses
    assert page.locator("section.queue[data-kept=yes]").count() == 1

    _ingest(db, source, [record(text="Thank you @northwind, the crew was wonderful!", author="fan")])
    page.locator('section[data-queue="advocacy"] li.item').first.wait_for(timeout=5_000)
    assert page.locator("section.queue[data-kept=yes]").count() == 0 and 200 in statuses


def test_the_work_list_waits_while_boxes_are_ticked(server, browser, db, make_user, make_source):
    make_user("lee", "lead")
    source = make_source()
    _ingest(db, source, [record(text="@northwind charged twice for one ticket", author="pat")])
    page = browser.new_page()
    _log_in(page, server, "lee")
    statuses = _fast_live(page, server, 200)
    page.goto(f"{server}/work")
    page.check("input[name=mention]")
    _ingest(db, source, [record(text="@northwind my seat was given away, I want a refund", author="kim")])
    page.wait_for_timeout(1_500)
    assert "seat was given away" not in page.locator("#rows").inner_text()
    assert page.locator("input[name=mention]:checked").count() == 1
    page.uncheck("input[name=mention]")
    page.locator("#rows li.item:has-text('seat was given away')").wait_for(timeout=5_000)
    assert 200 in statuses


def test_polling_waits_while_the_tab_is_hidden_and_backs_off_while_the_server_fails(
        server, browser, db, make_user):
    make_user("alex", "agent")
    page = browser.new_page()
    _log_in(page, server, "alex")
    statuses = _fast_live(page, server, 100)
    page.goto(f"{server}/queues")
    page.evaluate("""() => { window.__hidden = true;
        Object.defineProperty(document, "hidden", {configurable: true, get: () => window.__hidden});
        document.dispatchEvent(new Event("visibilitychange")); }""")
    page.wait_for_timeout(300)
    hidden_from = len(statuses)
    page.wait_for_timeout(1_000)
    assert len(statuses) == hidden_from, "polled while the tab was hidden"
    page.evaluate("() => { window.__hidden = false; document.dispatchEvent(new Event('visibilitychange')); }")
    page.wait_for_timeout(300)
    assert len(statuses) > hidden_from, "did not catch up when the tab was shown again"

    page.route("**/queues/fragment", lambda route: route.fulfill(status=503, body="down for a moment"))
    failing_from = len(statuses)
    page.wait_for_timeout(3_000)
    failures = statuses[failing_from:]
    # Every 100 ms would be ~30 polls; doubling the wait each time (100, 200, 400, 800, 1600 ms) is about 5.
    assert 2 <= len(failures) <= 7 and set(failures) == {503}, failures
    assert "Urgent" in page.locator("#board").inner_text()  # the board shown stays up


def test_deleting_asks_first_and_a_no_keeps_the_row(server, browser, db, make_user):
    make_user("lee", "lead")
    page = browser.new_page()
    _log_in(page, server, "lee")
    page.goto(f"{server}/routing")
    rules = page.locator("#rules tbody tr")
    before = rules.count()
    asked: list[str] = []

    def answer(dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    rules.first.locator("button:has-text('Delete')").click()
    page.wait_for_timeout(300)
    assert asked == ["Delete this rule?"] and rules.count() == before
    page.once("dialog", lambda d: answer(d, True))
    with page.expect_navigation():
        rules.first.locator("button:has-text('Delete')").click()
    assert asked[-1] == "Delete this rule?" and page.locator("#rules tbody tr").count() == before - 1
