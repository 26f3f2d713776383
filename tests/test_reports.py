"""Reports against hand-computed figures (SQLite and PostgreSQL), their drill-downs, exports, the CLI and a browser."""
from __future__ import annotations

import csv
import io
import json
import re
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update
from werkzeug.serving import make_server

from tests.conftest import record
from triage.intake import ingest
from triage.models import Mention
from triage.people.accounts import add_user
from triage.reporting import exports, items, reports
from triage.reporting.filters import Filters, ReportError
from triage.work import replies

NOW = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
SINCE, UNTIL = date(2026, 11, 20), date(2026, 11, 21)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _ingest(db, source, rec: dict, now: datetime) -> None:
    receipt = ingest.receive(db, source, [rec])
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id, now=now)
    db.commit()


def _id(db, external_id: str) -> int:
    return db.scalar(select(Mention.id).where(Mention.external_id == external_id))


COMPLAINT = "@northwind my bag never arrived, nobody answers the phone"
QUESTION = "@northwind how do I add a bike to my booking?"
PRAISE = "Thank you @northwind, the crew was wonderful, highly recommend!"


@pytest.fixture
def world(db, make_source):
    """Ten mentions whose figures are worked out by hand in the tests below.

    name  posted (UTC)   intent     what happens                                      first resp. / resolution
    m1    20 Nov 10:00   complaint  alex replies 10:10, resolves 12:00                600 s met / 7200 s met
    m2    20 Nov 10:00   complaint  alex replies 10:30                                1800 s met / missed
    m3    20 Nov 11:00   complaint  jordan replies 13:00, resolves 21 Nov 09:00       7200 s missed / 79200 s met
    m4    21 Nov 09:00   question   jordan replies 09:20                              1200 s met / missed
    m5    21 Nov 10:00   question   nothing                                           missed / missed
    m6    21 Nov 12:00   advocacy   nothing (bluesky)                                 pending / pending
    m7    21 Nov 10:00   other      alex marks it spam at 10:30                       (no targets)
    m8    21 Nov 08:00   complaint  the brand answers on the network at 08:05        300 s met / missed
    m9    19 Nov 23:00   complaint  before the range: alex replies after 100 s        (outside)
    m10   (no time)      question   received 21 Nov 07:00, nothing                    missed / missed
    m3 is on mastodon, m6 on bluesky, the rest on x. Due: complaint 1 h / 24 h, question 2 h / 24 h.
    """
    source = make_source("Reports", brand_handles=["northwindhelp"])
    alex = add_user(db, "alex", "correct horse battery", role="agent", team="Care")
    jordan = add_user(db, "jordan", "correct horse battery", role="agent", team="Nights")
    db.commit()
    posts = {
        "m1": (COMPLAINT + " 1", "2026-11-20T10:00", "x"), "m2": (COMPLAINT + " 2", "2026-11-20T10:00", "x"),
        "m3": (COMPLAINT + " 3", "2026-11-20T11:00", "mastodon"), "m4": (QUESTION + " 4", "2026-11-21T09:00", "x"),
        "m5": (QUESTION + " 5", "2026-11-21T10:00", "x"), "m6": (PRAISE + " 6", "2026-11-21T12:00", "bluesky"),
        "m7": ("Buy cheap followers now at followers dot example", "2026-11-21T10:00", "x"),
        "m8": (COMPLAINT + " 8", "2026-11-21T08:00", "x"), "m9": (COMPLAINT + " 9", "2026-11-19T23:00", "x"),
    }
    for name, (text, posted, network) in posts.items():
        _ingest(db, source, record(id=name, text=text, posted_at=posted + ":00Z", network=network,
                                   author=f"customer-{name}"), at(posted) + timedelta(minutes=1))
    _ingest(db, source, record(id="m10", text=QUESTION + " 10", posted_at=None, author="customer-m10"),
            at("2026-11-21T07:00"))
    _ingest(db, source, record(id="r8", text="@customer-m8 so sorry, DM us", author="northwindhelp",
                               in_reply_to="m8", posted_at="2026-11-21T08:05:00Z"), at("2026-11-21T08:06"))
    ids = {name: _id(db, name) for name in list(posts) + ["m10"]}
    intents = dict(db.execute(select(Mention.external_id, Mention.intent)).all())
    assert intents == {"m1": "complaint", "m2": "complaint", "m3": "complaint", "m4": "question", "m5": "question",
                       "m6": "advocacy", "m7": "other", "m8": "complaint", "m9": "complaint", "m10": "question"}

    def act(fn, name, user, when, *args):
        fn(db, ids[name], user, *args, now=at(when))
        db.commit()

    act(replies.reply, "m9", alex, "2026-11-19T23:01:40", "Sorry, looking now")
    act(replies.reply, "m1", alex, "2026-11-20T10:10", "Sorry, looking now")
    act(replies.resolve, "m1", alex, "2026-11-20T12:00")
    act(replies.reply, "m2", alex, "2026-11-20T10:30", "Sorry, looking now")
    act(replies.reply, "m3", jordan, "2026-11-20T13:00", "Sorry, looking now")
    act(replies.resolve, "m3", jordan, "2026-11-21T09:00")
    act(replies.reply, "m4", jordan, "2026-11-21T09:20", "Here is how")
    act(replies.mark_spam, "m7", alex, "2026-11-21T10:30")
    return ids


def _report(db, **filters):
    return reports.report(db, Filters(since=SINCE, until=UNTIL, **filters), now=NOW)


def _row(data, dimension: str, value: str) -> dict:
    return next(r for r in data["by"][dimension] if r["value"] == value)


def test_due_times_follow_the_policies_from_the_clock_start(db, world):
    rows = {m.external_id: m for m in db.scalars(select(Mention))}
    assert rows["m1"].first_response_due_at == at("2026-11-20T11:00")
    assert rows["m1"].resolution_due_at == at("2026-11-21T10:00")
    assert rows["m4"].first_response_due_at == at("2026-11-21T11:00")
    assert rows["m6"].first_response_due_at == at("2026-11-22T12:00")
    assert rows["m10"].posted_at_known is False and rows["m10"].first_response_due_at == at("2026-11-21T09:00")
    assert rows["m7"].first_response_due_at is None  # no policy for "other"


def test_summary_figures_match_the_hand_computed_ones(db, world):
    s = _report(db)["summary"]
    assert s["mentions"] == 9  # m1..m8 and m10; m9 was posted before the range
    assert s["answered"] == 5
    assert s["first_response_seconds"] == {"median": 1200.0, "p90": 5040.0}  # 300 600 1200 1800 7200
    assert s["resolved"] == 2
    assert s["resolution_seconds"] == {"median": 43200.0, "p90": 72000.0}  # 7200 79200
    assert s["sla"]["first_response"] == {"met": 4, "missed": 3, "pending": 1}
    assert s["sla_attainment"] == 57.1  # 4 of 7 decided
    assert s["sla"]["resolution"] == {"met": 2, "missed": 5, "pending": 1}
    assert s["resolution_sla_attainment"] == 28.6
    assert s["clock_started_at_ingest"] == 1  # m10


def test_figures_by_agent_team_queue_intent_network_and_day(db, world):
    data = _report(db)
    alex, jordan, nobody = _row(data, "agent", "alex"), _row(data, "agent", "jordan"), _row(data, "agent", "none")
    assert (alex["mentions"], alex["answered"], alex["first_response_seconds"]) == (
        2, 2, {"median": 1200.0, "p90": 1680.0})
    assert alex["sla_attainment"] == 100.0
    assert (jordan["mentions"], jordan["first_response_seconds"]) == (2, {"median": 4200.0, "p90": 6600.0})
    assert jordan["sla_attainment"] == 50.0 and jordan["resolution_seconds"]["median"] == 79200.0
    assert nobody["mentions"] == 5 and nobody["first_response_seconds"]["median"] == 300.0  # m8, by the brand
    teams = {r["label"]: r["mentions"] for r in data["by"]["team"]}
    assert teams == {"Care": 2, "Nights": 2, "— no team": 5}
    queues = {r["value"]: r["mentions"] for r in data["by"]["queue"]}
    assert queues == {"complaints": 4, "questions": 3, "advocacy": 1, "other": 1}
    questions = _row(data, "intent", "question")
    assert (questions["mentions"], questions["answered"], questions["first_response_seconds"]["median"]) == (
        3, 1, 1200.0)
    assert questions["sla"]["first_response"] == {"met": 1, "missed": 2, "pending": 0}
    assert {r["value"]: r["mentions"] for r in data["by"]["network"]} == {"x": 7, "mastodon": 1, "bluesky": 1}
    days = {r["value"]: (r["mentions"], r["first_response_seconds"]["median"]) for r in data["by"]["day"]}
    assert days == {"2026-11-20": (3, 1800.0), "2026-11-21": (6, 750.0)}


def test_filters_narrow_every_figure(db, world):
    assert _report(db, queue="questions")["summary"]["mentions"] == 3
    alex = _report(db, agent="alex")["summary"]
    assert (alex["mentions"], alex["first_response_seconds"]["median"]) == (2, 1200.0)
    assert _report(db, network="mastodon")["summary"]["first_response_seconds"]["median"] == 7200.0
    assert _report(db, intent="complaint")["summary"]["sla"]["first_response"] == {"met": 3, "missed": 1,
                                                                                    "pending": 0}
    with pytest.raises(ReportError, match="no queue 'nope'"):
        _report(db, queue="nope")


def test_volume_backlog_and_workload(db, world):
    data = _report(db)
    intent = {d["day"]: d["counts"] for d in data["volume"]["intent"]["days"]}
    assert intent[SINCE] == {"advocacy": 0, "complaint": 3, "other": 0, "question": 0}
    assert intent[UNTIL] == {"advocacy": 1, "complaint": 1, "other": 1, "question": 3}
    sentiment = {d["day"]: d["counts"] for d in data["volume"]["sentiment"]["days"]}
    assert sum(sentiment[SINCE].values()) == 3 and sum(sentiment[UNTIL].values()) == 6
    # Open at the end of 20 Nov: m9, m2, m3 (m1 was resolved). End of 21 Nov: m2 m4 m5 m6 m8 m9 m10.
    assert [(b["day"], b["open"]) for b in data["backlog"]] == [(SINCE, 3), (UNTIL, 7)]
    assert [(b["arrived"], b["closed"]) for b in data["backlog"]] == [(3, 1), (6, 2)]
    work = {w["username"]: w for w in data["workload"]}
    assert (work["alex"]["items"], work["alex"]["replied"], work["alex"]["closed"]) == (2, 2, 2)
    assert (work["jordan"]["items"], work["jordan"]["replied"], work["jordan"]["closed"]) == (2, 2, 1)
    assert work["alex"]["holding"] == 2 and work["jordan"]["holding"] == 1  # m2 and m9; m4


def test_drill_down_lists_exactly_the_items_behind_a_figure(db, world):
    def names(**drill):
        f = Filters(since=SINCE, until=UNTIL, **drill)
        return sorted(r["external_id"] for r in items.items(db, f, now=NOW))

    assert names(target="first_response", sla="missed") == ["m10", "m3", "m5"]
    assert names(target="resolution", sla="pending") == ["m6"]
    assert names(agent="jordan", answered=True) == ["m3", "m4"]
    assert names(day=UNTIL, intent="question") == ["m10", "m4", "m5"]
    assert names(open_on=SINCE) == ["m2", "m3", "m9"]
    assert names(agent="none", answered=True) == ["m8"]
    assert names(clock="ingested") == ["m10"]
    assert items.count_items(db, Filters(since=SINCE, until=UNTIL, sla="missed"), now=NOW) == 3


def test_report_page_shows_figures_charts_and_links(client, db, world, login):
    login("supervisor")
    page = client.get("/reports?since=2026-11-20&until=2026-11-21")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-figure="mentions"><b>9</b>' in html
    assert html.count("<svg") >= 5  # response times, backlog, two volumes, agents
    assert "/reports/items?" in html and "target=first_response" in html and "sla=missed" in html
    assert 'data-export="agent"' in html


def test_agents_cannot_open_reports_or_exports(client, db, login):
    login("agent")
    assert client.get("/reports").status_code == 403
    assert client.get("/reports/items").status_code == 403
    assert client.get("/reports/export/items.csv").status_code == 403


def test_bad_dates_are_refused_with_the_reason(client, db, login):
    login("lead")
    response = client.get("/reports?since=2026-11-30&until=2026-11-01")
    assert response.status_code == 400 and "starts (2026-11-30) after it ends" in response.get_data(as_text=True)
    assert "not a date" in client.get("/reports?since=yesterday").get_data(as_text=True)


def test_items_page_lists_breached_items(client, db, world, login):
    login("supervisor")
    html = client.get("/reports/items?since=2026-11-20&until=2026-11-21&breached=first_response").get_data(
        as_text=True)
    # Pages run at the real time, after 22 Nov 12:00: m6's first response is overdue too.
    assert "4 items" in html
    shown = {int(x) for x in re.findall(r'data-mention="(\d+)"', html)}
    assert shown == {world["m3"], world["m5"], world["m6"], world["m10"]}


def test_csv_exports_every_table_and_the_raw_items(client, db, world, login):
    login("supervisor")
    rng = "since=2026-11-20&until=2026-11-21"
    for table in exports.TABLES:
        response = client.get(f"/reports/export/{table}.csv?{rng}")
        assert response.status_code == 200 and response.mimetype == "text/csv", table
        assert "attachment" in response.headers["Content-Disposition"]
    agents = list(csv.DictReader(io.StringIO(client.get(f"/reports/export/agent.csv?{rng}").get_data(as_text=True))))
    alex = next(r for r in agents if r["filter_value"] == "alex")
    assert (alex["mentions"], alex["first_response_median_s"], alex["first_response_sla_attainment_pct"]) == (
        "2", "1200", "100")
    items = list(csv.DictReader(io.StringIO(
        client.get(f"/reports/export/items.csv?{rng}&breached=first_response").get_data(as_text=True))))
    assert sorted(r["external_id"] for r in items) == ["m10", "m3", "m5", "m6"]  # at the real time, m6 too
    m3 = next(r for r in items if r["external_id"] == "m3")
    assert (m3["posted_at"], m3["first_response_at"], m3["resolved_at"]) == (
        "2026-11-20T11:00:00Z", "2026-11-20T13:00:00Z", "2026-11-21T09:00:00Z")
    assert (m3["first_response_due_at"], m3["first_response_sla"], m3["clock_start"]) == (
        "2026-11-20T12:00:00Z", "missed", "posted")
    assert m3["text"].startswith("'@northwind")  # would run as a formula in a spreadsheet otherwise
    m10 = next(r for r in items if r["external_id"] == "m10")
    assert m10["clock_start"] == "ingested" and m10["ingested_at"] == "2026-11-21T07:00:00Z"
    assert client.get(f"/reports/export/nope.csv?{rng}").status_code == 404


def test_cli_prints_the_same_figures_as_json_and_csv(db, world, settings):
    from triage.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["report", "--since", "2026-11-20", "--until", "2026-11-21", "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["mentions"], body["answered"]) == (9, 5)
    assert body["first_response_seconds"] == {"median": 1200.0, "p90": 5040.0}
    assert body["resolution_seconds"] == {"median": 43200.0, "p90": 72000.0}
    assert body["sla_attainment"] == 50.0  # run after 22 Nov 12:00, m6's first response is overdue as well
    result = runner.invoke(main, ["report", "--since", "2026-11-20", "--until", "2026-11-21", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows[0]["table"] == "all" and rows[0]["first_response_median_s"] == "1200"
    assert any(r["table"] == "agent" and r["filter_value"] == "jordan" and r["mentions"] == "2" for r in rows)
    result = runner.invoke(main, ["report", "--since", "2026-11-22", "--until", "2026-11-01"])
    assert result.exit_code != 0 and "after it ends" in result.output


def test_percentiles_interpolate_like_percentile_cont_on_odd_and_even_counts(db, make_source):
    """Interpolation at the edges: one answer, and four (median between the middle two)."""
    source = make_source("Edges")
    for n, delay in enumerate((10, 20, 40, 1000)):
        _ingest(db, source, record(id=f"e{n}", text=COMPLAINT, posted_at="2026-11-20T10:00:00Z"),
                at("2026-11-20T10:00"))
        db.execute(update(Mention).where(Mention.external_id == f"e{n}").values(
            first_response_at=at("2026-11-20T10:00") + timedelta(seconds=delay)))
        db.commit()
        s = reports.report(db, Filters(since=SINCE, until=SINCE), now=NOW)["summary"]["first_response_seconds"]
        expected = {0: (10, 10), 1: (15, 19), 2: (20, 36), 3: (30, 712)}[n]
        assert (s["median"], s["p90"]) == pytest.approx(expected)


# ------------------------------------------------------------------------------------------------ browser

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                                   "(apt-get install chromium; .ci/run installs it)")
def test_supervisor_changes_the_range_drills_down_to_breached_items_and_exports(server, db, world, make_user):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import ARGS, ARTIFACTS

    make_user("sam", "supervisor")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 1000}, accept_downloads=True)
        page.goto(f"{server}/login")
        page.fill("input[name=username]", "sam")
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit]")
        page.click("header.topbar nav a:has-text('Reports')")
        page.wait_for_url("**/reports")
        assert page.locator("h1").inner_text().startswith("Reports")  # the last 7 days

        page.fill("input[name=since]", "2026-11-20")
        page.fill("input[name=until]", "2026-11-21")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**since=2026-11-20**")
        assert page.locator('[data-figure="mentions"] b').inner_text() == "9"
        assert page.locator("[data-breached]").get_attribute("data-breached") == "4"  # m3 m5 m10, and m6 by now
        assert page.locator("svg.chart").count() >= 5
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)

        page.click('[data-figure="sla"]')
        page.wait_for_url("**sla=missed**")
        assert page.locator("h1").inner_text().startswith("4 items")
        shown = {int(page.locator("tbody tr").nth(i).get_attribute("data-mention")) for i in range(4)}
        assert shown == {world["m3"], world["m5"], world["m6"], world["m10"]}
        page.screenshot(path=str(ARTIFACTS / "report-breached.png"), full_page=True)

        with page.expect_download() as info:
            page.click('[data-export="items"]')
        path = info.value.path()
        rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
        assert sorted(r["external_id"] for r in rows) == ["m10", "m3", "m5", "m6"]
        assert info.value.suggested_filename == "triage-items-2026-11-20_2026-11-21.csv"
        browser.close()


def test_charts_escape_what_people_typed_and_link_every_mark():
    from triage.reporting import charts

    svg = charts.bar_list("By agent", [("<script>alert(1)</script>", 90.0, "/reports/items?agent=x&answered=yes")])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'href="/reports/items?agent=x&amp;answered=yes"' in svg
    bars = charts.stacked_bars("Volume", ["20 Nov", "21 Nov"], [
        charts.Series("complaint", [3, 1], ["/a", "/b"]), charts.Series("question", [0, 3], ["/c", "/d"])])
    assert bars.count("<rect") == 3 and bars.count("<a href") == 3  # no mark for a zero
    assert charts.nice_max(5) == 8 and charts.nice_duration_max(5000) == 7200  # round ticks: 2 and 30 min
