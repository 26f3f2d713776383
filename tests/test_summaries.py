"""Report summaries: a report read from them equals the report computed from the mentions (counts exactly,
percentiles within one 5% bucket), on SQLite and PostgreSQL; a change shows at once; the job catches up."""
from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from triage.db import session_factory
from triage.models import Author, Event, Mention, Queue, ReportPending, ReportPeriod, ReportStale, Response, User
from triage.models.summaries import DAY, EVENT_DAY, MONTH, WEEK
from triage.people.accounts import add_user
from triage.reporting import reports, summaries, summary_reading
from triage.reporting.facts import as_date
from triage.reporting.filters import DIMENSIONS, Filters
from triage.reporting.rollup import GROWTH
from triage.work import claims, replies

NOW = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
FIRST = date(2026, 9, 25)


@pytest.fixture
def history(db):
    """Eight weeks of mentions (Sep 25 to Nov 21), answered, resolved, spam or still open, by four agents."""
    rng = random.Random(5)
    agents = [add_user(db, f"agent{n}", "correct horse battery", role="agent", team=("Care", "Nights")[n % 2])
              for n in range(4)]
    queues = list(db.scalars(select(Queue).order_by(Queue.position)))
    db.flush()
    author = Author(network="x", handle="someone")
    db.add(author)
    db.flush()
    mentions = []
    start = datetime.combine(FIRST, datetime.min.time(), tzinfo=UTC)
    seconds = int((NOW.replace(hour=0) - start).total_seconds())
    for n in range(600):
        posted = start + timedelta(seconds=rng.randrange(seconds))
        intent = rng.choice(("complaint", "question", "advocacy", "other"))
        fate = rng.random()
        replied = posted + timedelta(seconds=int(rng.lognormvariate(7, 1.5))) if fate < 0.8 else None
        resolved = (replied or posted) + timedelta(seconds=rng.randrange(60, 200_000)) if fate < 0.6 else None
        owner = rng.choice(agents)
        mention = Mention(
            network=rng.choice(("x", "mastodon", "bluesky")), external_id=f"h{n}", author_id=author.id,
            text="my bag never arrived", posted_at=posted, posted_at_known=rng.random() > 0.05,
            ingested_at=posted, tagged_at=posted, sentiment=rng.choice(("negative", "neutral", "positive")),
            intent=intent, queue_id=rng.choice(queues).id, owner_id=owner.id,
            status="spam" if fate > 0.97 else "resolved" if resolved else "answered" if replied else "open",
            first_response_at=replied, resolved_at=resolved if fate <= 0.97 else posted + timedelta(minutes=5),
            first_response_due_at=None if intent == "other" else posted + timedelta(hours=1),
            resolution_due_at=None if intent == "other" else posted + timedelta(hours=30))
        db.add(mention)
        mentions.append((mention, owner, replied, resolved))
    db.flush()
    for mention, owner, replied, resolved in mentions:
        if replied:
            app = mention.id % 5 != 0  # some answered on the network, outside the app
            db.add(Response(mention_id=mention.id, user_id=owner.id if app else None, text="sorry",
                            origin="app" if app else "network", created_at=replied, sent_at=replied))
            db.add(Event(mention_id=mention.id, actor_id=owner.id, action="replied", created_at=replied))
        if resolved:
            db.add(Event(mention_id=mention.id, actor_id=owner.id, action="resolved", created_at=resolved))
    db.commit()
    return agents


def _refresh(settings, now=NOW):
    return summaries.refresh(session_factory(settings.database_url), now=now)


def _both(db, monkeypatch, since: date, until: date, now: datetime = NOW) -> tuple[dict, dict]:
    """The report computed exactly from the mentions, and read from the summaries."""
    f = Filters(since=since, until=until)
    exact = reports.report(db, f, now=now, exact=True)
    monkeypatch.setattr(summary_reading, "EXACT_UP_TO", -1)  # however few mentions the range holds
    summarised = reports.report(db, f, now=now)
    assert not exact["estimated"]
    return exact, summarised


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 0.05 * max(abs(a), 1.0) + 0.5  # one bucket


def _assert_same(exact: dict, summarised: dict) -> None:
    assert summarised["estimated"]

    def split(figures: dict) -> tuple[dict, dict]:
        times = {k: figures.pop(k) for k in ("first_response_seconds", "resolution_seconds")}
        return figures, times

    for a, b in [(exact["summary"], summarised["summary"])] + [
            (x, y) for dim in DIMENSIONS for x, y in zip(exact["by"][dim], summarised["by"][dim],
                                                                  strict=True)]:
        a, b = dict(a), dict(b)
        (counts_a, times_a), (counts_b, times_b) = split(a), split(b)
        assert counts_a == counts_b
        for measure, figures in times_a.items():
            for name, value in figures.items():
                if a.get("key") is not None and isinstance(a["key"], date):  # the per-day table is exact
                    assert value == times_b[measure][name], (a.get("label"), measure, name)
                else:
                    assert _close(value, times_b[measure][name]), (a.get("label"), measure, name, value,
                                                                   times_b[measure][name])
    assert exact["volume"] == summarised["volume"]
    assert exact["backlog"] == summarised["backlog"]
    strip = [{k: v for k, v in r.items() if k != "first_response_median"} for r in exact["workload"]]
    assert strip == [{k: v for k, v in r.items() if k != "first_response_median"} for r in summarised["workload"]]


def test_summaries_give_the_same_report_as_the_mentions(db, settings, history, monkeypatch):
    progress = _refresh(settings)
    assert progress.days == (NOW.date() - FIRST).days + 1 and not progress.waiting
    spans = dict(db.execute(select(ReportPeriod.span, func.count()).group_by(ReportPeriod.span)).all())
    assert spans[MONTH] == 1 and spans[WEEK] >= 7  # October, and the weeks from Monday 29 September
    for since, until in ((FIRST, NOW.date()), (date(2026, 10, 1), date(2026, 10, 31)),
                         (date(2026, 10, 3), date(2026, 11, 10)), (date(2026, 11, 21), date(2026, 11, 21))):
        exact, summarised = _both(db, monkeypatch, since, until)
        assert exact["summary"]["mentions"] > 0
        _assert_same(exact, summarised)
    # The coarse histograms were used: a month and weeks, not only days.
    cover = summary_reading.coverage(db, date(2026, 10, 1), date(2026, 11, 16), NOW)
    assert (MONTH, date(2026, 10, 1)) in cover.coarse and (WEEK, date(2026, 11, 2)) in cover.coarse


def test_a_change_shows_at_once_and_the_job_folds_it_in(db, settings, history, monkeypatch):
    _refresh(settings)
    assert not db.scalar(select(func.count()).select_from(ReportStale))
    # An agent answers and resolves an open item posted in October: its day is marked by the trigger.
    mention = db.scalar(select(Mention).where(
        Mention.status == "open", Mention.posted_at >= datetime(2026, 10, 1, tzinfo=UTC),
        Mention.posted_at < datetime(2026, 11, 1, tzinfo=UTC)).order_by(Mention.id).limit(1))
    day = mention.posted_at.date()
    agent = db.get(User, history[1].id)
    replies.reply(db, mention.id, agent, "Fixed it for you", now=NOW)
    replies.resolve(db, mention.id, agent, now=NOW)
    db.commit()
    stale = set(db.scalars(select(ReportStale.day).where(ReportStale.kind == DAY)))
    assert {as_date(d) for d in stale} == {day}
    cover = summary_reading.coverage(db, FIRST, NOW.date(), NOW)
    assert day in cover.live and day not in cover.days and (MONTH, date(2026, 10, 1)) not in cover.coarse
    exact, summarised = _both(db, monkeypatch, FIRST, NOW.date())
    _assert_same(exact, summarised)
    progress = _refresh(settings)
    assert progress.days >= 1 and not db.scalar(select(func.count()).select_from(ReportStale).where(
        ReportStale.kind == DAY))
    assert (MONTH, date(2026, 10, 1)) in summary_reading.coverage(db, FIRST, NOW.date(), NOW).coarse
    _assert_same(*_both(db, monkeypatch, FIRST, NOW.date()))


def test_claims_and_priority_changes_do_not_make_days_stale(db, settings, history):
    _refresh(settings)
    mention = db.scalar(select(Mention).where(Mention.status == "open").limit(1))
    claims.claim(db, mention.id, db.get(User, history[0].id), now=NOW)
    db.execute(update(Mention).where(Mention.id == mention.id).values(priority=99))
    db.commit()
    assert not db.scalar(select(func.count()).select_from(ReportStale).where(ReportStale.kind == DAY))


def test_only_peoples_events_and_days_a_change_touches_are_marked(db, settings, history):
    _refresh(settings)
    mention = db.scalar(select(Mention).where(Mention.status == "open").order_by(Mention.id).limit(1))
    db.add(Event(mention_id=mention.id, actor_id=None, action="deadline near", created_at=NOW))  # the system's
    db.commit()
    assert not db.scalar(select(func.count()).select_from(ReportStale))  # the workload counts people only
    db.add(Event(mention_id=mention.id, actor_id=history[0].id, action="note", created_at=NOW))
    db.commit()
    assert set(db.scalars(select(ReportStale.kind))) == {EVENT_DAY}
    db.execute(delete(ReportStale))
    # A mention moved to another day marks both days; a change on the same day marks only that day.
    old_day = mention.posted_at.date()
    db.execute(update(Mention).where(Mention.id == mention.id).values(posted_at=mention.posted_at - timedelta(days=3)))
    db.commit()
    marked = {as_date(d) for d in db.scalars(select(ReportStale.day).where(ReportStale.kind == DAY))}
    assert marked == {old_day, old_day - timedelta(days=3)}


def test_deadlines_that_pass_after_the_summary_count_as_missed(db, settings, history, monkeypatch):
    """Items summarised with time left are kept by due time: later, the report counts them missed."""
    _refresh(settings)
    pending = db.scalar(select(func.sum(ReportPending.n)).where(ReportPending.dim == "all"))
    assert pending  # open items posted on the last day had time left at NOW
    later = NOW + timedelta(days=2)  # every one of those deadlines has passed by then
    assert all(day > NOW.date() for day in summary_reading.coverage(db, FIRST, NOW.date(), later).live)
    exact, summarised = _both(db, monkeypatch, FIRST, NOW.date(), now=later)
    assert exact["summary"]["sla"]["first_response"]["pending"] == 0
    _assert_same(exact, summarised)
    exact, summarised = _both(db, monkeypatch, FIRST, NOW.date())  # and at NOW they are still pending
    assert exact["summary"]["sla"]["resolution"]["pending"] > 0
    _assert_same(exact, summarised)


def test_moving_a_person_to_another_team_rebuilds_everything(db, settings, history, monkeypatch):
    _refresh(settings)
    before = {r["label"]: r["mentions"] for r in _both(db, monkeypatch, FIRST, NOW.date())[1]["by"]["team"]}
    db.execute(update(User).where(User.id == history[0].id).values(team_id=history[1].team_id))
    db.commit()
    assert summary_reading.coverage(db, FIRST, NOW.date(), NOW) is None  # summaries wait for the job
    exact, fallback = _both(db, monkeypatch, FIRST, NOW.date())
    assert not fallback["estimated"] and exact["by"]["team"] == fallback["by"]["team"]
    _refresh(settings)
    exact, summarised = _both(db, monkeypatch, FIRST, NOW.date())
    after = {r["label"]: r["mentions"] for r in summarised["by"]["team"]}
    assert after["Nights"] > before["Nights"] and after["Care"] < before["Care"]  # agent0's items moved with them
    _assert_same(exact, summarised)


def test_the_job_runs_in_a_worker_and_carries_on_in_batches(db, settings, history, run_worker):
    from triage import broker
    from workers import jobs

    first = summaries.refresh(session_factory(settings.database_url), now=NOW, batch_days=10, budget_seconds=0)
    assert first.days == 10 and first.waiting > 0  # out of time after one batch: the rest waits for the next run
    job = broker.enqueue(settings, "maintenance", jobs.refresh_summaries)
    run_worker()
    job.refresh()
    assert job.get_status() == "finished", job.latest_result()
    assert job.return_value()["waiting"] == 0
    built = db.scalar(select(func.count()).select_from(ReportPeriod).where(ReportPeriod.span == DAY))
    assert built >= (NOW.date() - FIRST).days + 1


def test_percentiles_from_a_histogram_are_within_the_bucket_accuracy():
    rng = random.Random(3)
    for size in (1, 2, 7, 100, 5000):
        values = sorted(rng.lognormvariate(6, 2) for _ in range(size))
        hist: dict[int, int] = {}
        for v in values:
            bucket = 0 if v < 1 else math.floor(math.log(v) / math.log(GROWTH)) + 1
            hist[bucket] = hist.get(bucket, 0) + 1
        for p in (0.5, 0.9):
            position = (size - 1) * p
            low, high = values[int(position)], values[min(int(position) + 1, size - 1)]
            exact = low + (position - int(position)) * (high - low)
            assert _close(exact, summary_reading.percentile(hist, p)), (size, p)
    assert summary_reading.percentile({}, 0.5) is None


def test_the_report_page_says_when_percentiles_are_estimated(client, db, settings, history, login, monkeypatch):
    login("supervisor")
    args = {"since": FIRST.isoformat(), "until": date(2026, 11, 21).isoformat()}
    page = client.get("/reports", query_string=args).get_data(as_text=True)
    assert "data-estimated" not in page  # no summaries yet: computed from the items
    summaries.refresh(session_factory(settings.database_url))
    monkeypatch.setattr(summary_reading, "EXACT_UP_TO", -1)
    page = client.get("/reports", query_string=args).get_data(as_text=True)
    assert "data-estimated" in page and "within 5% of the exact figure" in page
    filtered = client.get("/reports", query_string={**args, "intent": "complaint"}).get_data(as_text=True)
    assert "data-estimated" not in filtered  # a filtered report always reads the items


def test_cli_brings_summaries_up_to_date_and_reports_from_them(db, history, monkeypatch):
    import json

    from click.testing import CliRunner

    from triage import cli

    result = CliRunner().invoke(cli.main, ["summaries"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("0 to go")
    assert db.scalar(select(func.count()).select_from(ReportPeriod).where(ReportPeriod.span == DAY)) > 50
    monkeypatch.setattr(summary_reading, "EXACT_UP_TO", -1)
    args = ["report", "--since", FIRST.isoformat(), "--until", "2026-11-21"]
    summarised = json.loads(CliRunner().invoke(cli.main, args).output)
    exact = json.loads(CliRunner().invoke(cli.main, [*args, "--exact"]).output)
    assert summarised["percentiles_estimated"] and not exact["percentiles_estimated"]
    assert summarised["mentions"] == exact["mentions"] == 600
    assert summarised["sla_attainment"] == exact["sla_attainment"]
    assert _close(exact["first_response_seconds"]["median"], summarised["first_response_seconds"]["median"])


def test_one_refresh_at_a_time_on_postgresql(db, settings, history):
    from sqlalchemy import text

    from triage.db import get_engine, is_postgres

    if not is_postgres(db):
        pytest.skip("PostgreSQL only: on SQLite the write lock makes a second refresh wait its turn instead")
    with get_engine(settings.database_url).connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": summaries.LOCK_KEY})
        progress = _refresh(settings)
        assert progress.busy and progress.days == 0
        other.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": summaries.LOCK_KEY})
    assert not _refresh(settings).busy
