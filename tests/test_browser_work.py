"""The team's day in a real browser: an agent works the top complaint, a lead assigns, a supervisor audits,
and a second person sees a claim appear without reloading."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import record
from tests.factories import queued_mentions
from tests.test_browser import ARGS, ARTIFACTS, CHROMIUM, browser, server  # noqa: F401 - fixtures
from triage.models import Mention, Response, SavedReply

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's chromium at "
                                "/usr/bin/chromium (apt-get install chromium; .ci/run installs it)")


def _log_in(browser, base, username):  # noqa: F811
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queues")
    return page


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def team(make_user):
    return {n: make_user(n, r) for n, r in (("alex", "agent"), ("jordan", "agent"), ("lee", "lead"),
                                            ("sam", "supervisor"))}


def test_agent_claims_top_complaint_and_answers_with_a_saved_reply(server, browser, db, team, run_worker):  # noqa: F811
    db.add(SavedReply(title="Sorry about the bag", intent="complaint",
                      body="Hi {name}, so sorry about this! {agent} here: please DM us your booking code."))
    db.commit()
    low, top, _question = queued_mentions(
        db, record(text="@northwind my flight was delayed 40 minutes", author="pat"),
        record(text="@northwind you lost my bag and nobody at the desk helps, refund me now", author="dana",
               author_name="Dana Whitfield", author_followers=12_000),
        record(text="@northwind how do I check in online?", author="kim"), source_name="Demo", kind="demo")
    page = _log_in(browser, server, "alex")
    page.click('section[data-queue="complaints"] button:has-text("Next")')
    page.wait_for_url(f"{server}/mentions/{top.id}")
    assert "Held by you" in page.locator(".holder-line").inner_text()
    page.select_option("#saved-reply", label="Sorry about the bag (complaint)")
    text = page.input_value("#reply-text")
    assert text == "Hi Dana Whitfield, so sorry about this! Alex here: please DM us your booking code."
    _shot(page, "item-composing")
    page.click("button:has-text('Send reply')")
    page.wait_for_selector(".flash:has-text('Reply saved')")
    run_worker()
    page.reload()
    assert "✓ sent" in page.locator(".responses").inner_text()
    _shot(page, "item-answered")
    db.expire_all()
    assert db.scalar(select(Response.user_id)) == team["alex"].id
    assert db.get(Mention, top.id).status == "answered"


def test_lead_assigns_and_supervisor_reads_the_timeline(server, browser, db, team):  # noqa: F811
    [m] = queued_mentions(db, "@northwind charged twice for one ticket, fix it")
    lead = _log_in(browser, server, "lee")
    lead.goto(f"{server}/mentions/{m.id}")
    lead.select_option("select[name=user]", "jordan")
    lead.click("form[action$='/assign'] button")
    lead.wait_for_selector(".flash:has-text('Assigned')")
    assert "Owner: Jordan" in lead.locator(".holder-line").inner_text()

    supervisor = _log_in(browser, server, "sam")
    supervisor.goto(f"{server}/mentions/{m.id}")
    timeline = supervisor.locator(".timeline").inner_text()
    assert "Lee assigned" in timeline and "— → jordan" in timeline and "triage queued" in timeline
    assert supervisor.locator("#reply").count() == 0  # supervisors audit, they don't answer
    _shot(supervisor, "item-timeline-supervisor")


def test_a_second_browser_sees_a_claim_appear_without_reload(server, browser, db, team):  # noqa: F811
    [m] = queued_mentions(db, "@northwind my package is lost, please help")
    watcher = _log_in(browser, server, "jordan")
    row = watcher.locator(f'li[data-mention="{m.id}"]').first
    assert row.locator(".holder").count() == 0
    worker = _log_in(browser, server, "alex")
    worker.goto(f"{server}/mentions/{m.id}")
    worker.click("button[data-key=c]")
    worker.wait_for_selector(".flash:has-text('You hold it now')")
    watcher.locator(f'li[data-mention="{m.id}"] .holder').first.wait_for(timeout=10_000)
    assert "Alex" in watcher.locator(f'li[data-mention="{m.id}"] .holder').first.inner_text()
    _shot(watcher, "queues-live-claim")


def test_keyboard_moves_claims_and_escalates(server, browser, db, team):  # noqa: F811
    first, second = queued_mentions(db, "@northwind app crashes on login, fix it",
                                    "@northwind refund still missing after 3 weeks")
    page = _log_in(browser, server, "alex")
    page.goto(f"{server}/work")
    page.keyboard.press("?")
    assert page.locator("dialog#shortcuts").is_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    selected = page.locator("li.item.selected")
    assert selected.count() == 1
    chosen = int(selected.get_attribute("data-mention"))
    with page.expect_navigation():
        page.keyboard.press("c")
    assert "You hold it now" in page.locator(".flash").inner_text()
    db.expire_all()
    assert db.get(Mention, chosen).claimed_by_id == team["alex"].id
    page.goto(f"{server}/mentions/{chosen}")
    page.keyboard.press("e")
    assert page.evaluate("document.activeElement.name") == "to"
    _shot(page, "item-escalate-focus")


def test_lead_imports_a_labelled_csv_and_the_page_shows_the_new_model_and_its_mixups(
        server, browser, db, team, run_worker, settings, tmp_path, monkeypatch):  # noqa: F811
    import csv

    from tests.test_learning import team_labels
    from triage.tagging.learning.store import deactivate

    monkeypatch.setenv("TRIAGE_MIN_LABELS_PER_CLASS", "5")
    labels = tmp_path / "our labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "sentiment", "intent"), *((e.text, e.sentiment, e.intent)
                                                                    for e in team_labels())])
    try:
        page = _log_in(browser, server, "lee")
        page.goto(f"{server}/model")
        assert "No model yet" in page.locator("main").inner_text()
        page.set_input_files("#import-labels input[type=file]", str(labels))
        page.click("#import-labels button[type=submit]")
        page.wait_for_selector(".flash:has-text('60 labelled texts imported')")
        assert "Waiting for a worker" in page.locator("#retrain-state").inner_text()
        run_worker()  # the page follows the job and reloads when the model is ready
        page.wait_for_selector('[data-confusion="intent"]', timeout=20_000)
        assert "learned model, active" in page.locator("main").inner_text()
        assert page.locator('[data-confusion="sentiment"] td').count() == 9
        _shot(page, "model-after-import")
    finally:
        deactivate(settings.instance_path)
