"""Service levels: the business-hours clock, due times on every item, the deadline job, the settings page, badges."""
from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.conftest import _csrf, record
from triage.db import utcnow
from triage.intake import ingest
from triage.models import Event, Mention, Notification, SlaPolicy, Team
from triage.people.accounts import add_user
from triage.sla import check, clock, deadlines
from triage.work import replies
from workers import jobs

WEEKDAYS = {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
COMPLAINT = "@northwind my bag never arrived, nobody answers the phone"
URGENT = "@northwind I was injured by your broken seat, my lawyer will call"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _ingest(db, source, rec: dict, now: datetime | None = None) -> Mention:
    receipt = ingest.receive(db, source, [rec])
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id, now=now)
    db.commit()
    return db.scalar(select(Mention).where(Mention.external_id == rec["id"]))


# ------------------------------------------------------------------------------------------------ the clock


def test_friday_16_45_with_a_30_minute_business_hours_target_is_due_monday_09_15():
    calendar = clock.Calendar("UTC", clock.parse_hours(WEEKDAYS))
    assert calendar.add(at("2026-11-20T16:45"), 30) == at("2026-11-23T09:15")  # Friday → Monday


def test_the_clock_waits_for_opening_time_and_skips_holidays():
    calendar = clock.Calendar("UTC", clock.parse_hours(WEEKDAYS), frozenset({datetime(2026, 11, 23).date()}))
    assert calendar.add(at("2026-11-20T16:45"), 30) == at("2026-11-24T09:15")  # Monday is a holiday
    assert calendar.add(at("2026-11-24T07:00"), 30) == at("2026-11-24T09:30")  # before opening
    assert calendar.add(at("2026-11-24T10:00"), 8 * 60) == at("2026-11-25T10:00")  # a full working day later


def test_business_hours_are_read_in_the_team_time_zone():
    calendar = clock.Calendar("America/New_York", clock.parse_hours(WEEKDAYS))
    # Friday 16:45 in New York (EST, UTC-5) is 21:45 UTC; due Monday 09:15 EST = 14:15 UTC.
    assert calendar.add(at("2026-11-20T21:45"), 30) == at("2026-11-23T14:15")


def test_the_clock_follows_daylight_saving_time():
    london = clock.Calendar("Europe/London", clock.parse_hours(WEEKDAYS))
    # Clocks go forward on Sunday 29 March 2026: Friday 16:45 GMT → Monday 09:15 BST, which is 08:15 UTC.
    assert london.add(at("2026-03-27T16:45"), 30) == at("2026-03-30T08:15")
    sundays = clock.Calendar("Europe/London", clock.parse_hours({"sun": ["00:00", "24:00"]}))
    # That Sunday has 23 hours: 23 hours of open time end at its midnight; the 24th falls a week later.
    assert sundays.add(at("2026-03-29T00:00"), 23 * 60) == at("2026-03-29T23:00")
    assert sundays.add(at("2026-03-29T00:00"), 24 * 60) == at("2026-04-05T00:00")
    new_york = clock.Calendar("America/New_York", clock.parse_hours(WEEKDAYS))
    # Clocks go back on Sunday 1 November 2026: Friday 16:45 EDT (20:45 UTC) → Monday 09:15 EST (14:15 UTC).
    assert new_york.add(at("2026-10-30T20:45"), 30) == at("2026-11-02T14:15")


def test_around_the_clock_calendars_count_every_minute():
    assert clock.Calendar().add(at("2026-11-20T16:45"), 30) == at("2026-11-20T17:15")
    assert clock.wall_clock(at("2026-11-20T16:45"), 24 * 60) == at("2026-11-21T16:45")


@pytest.mark.parametrize(("hours", "message"), [
    ({"mon": ["17:00", "09:00"]}, "must be after it opens"),
    ({"funday": ["09:00", "17:00"]}, "'funday' is not a day"),
    ({"mon": ["9am", "17:00"]}, "'9am' is not a time of day"),
    ({"mon": ["09:00"]}, "give opening and closing times"),
])
def test_bad_business_hours_are_refused_with_the_reason(hours, message):
    with pytest.raises(clock.SlaError, match=message):
        clock.parse_hours(hours)


def test_a_calendar_that_never_opens_is_an_error_not_a_hang():
    with pytest.raises(clock.SlaError, match="never open"):
        clock.Calendar("UTC", {}).add(at("2026-11-20T10:00"), 30)


# ------------------------------------------------------------------------------------- due times on items


def test_every_tagged_item_gets_the_due_times_of_its_first_matching_policy(db, make_source):
    source = make_source()
    complaint = _ingest(db, source, record(id="c", text=COMPLAINT, posted_at="2026-11-20T10:00:00Z"))
    urgent = _ingest(db, source, record(id="u", text=URGENT, posted_at="2026-11-20T10:00:00Z"))
    question = _ingest(db, source, record(id="q", text="@northwind how do I add a bike to my booking?",
                                          posted_at="2026-11-20T10:00:00Z"))
    chatter = _ingest(db, source, record(id="o", text="Buy cheap followers now at followers dot example",
                                         posted_at="2026-11-20T10:00:00Z"))
    assert (complaint.first_response_due_at, complaint.resolution_due_at) == (at("2026-11-20T11:00"),
                                                                             at("2026-11-21T10:00"))
    assert urgent.intent == "complaint" and urgent.urgent  # the Urgent policy comes first
    assert (urgent.first_response_due_at, urgent.resolution_due_at) == (at("2026-11-20T10:30"),
                                                                       at("2026-11-20T14:00"))
    assert question.first_response_due_at == at("2026-11-20T12:00")
    assert chatter.intent == "other" and chatter.first_response_due_at is None  # no policy for chatter


def test_the_clock_starts_at_ingest_time_when_the_network_gave_none(db, make_source):
    mention = _ingest(db, make_source(), record(id="n", text=COMPLAINT, posted_at=None), now=at("2026-11-20T08:00"))
    assert mention.posted_at_known is False
    assert mention.first_response_due_at == at("2026-11-20T09:00")


def test_business_hours_policies_use_the_team_calendar(db, make_source):
    add_user(db, "lee", "correct horse battery", role="lead", team="Care")
    db.execute(update(Team).values(timezone="UTC", business_hours=WEEKDAYS, holidays=[]))
    db.execute(update(SlaPolicy).where(SlaPolicy.name == "Complaint").values(
        first_response_minutes=30, business_hours=True))
    db.commit()
    mention = _ingest(db, make_source(), record(id="f", text=COMPLAINT, posted_at="2026-11-20T16:45:00Z"))
    assert mention.first_response_due_at == at("2026-11-23T09:15")
    assert mention.resolution_due_at == at("2026-11-25T16:45")  # 24 business hours: 15 min + 8 h + 8 h + 7 h 45


# ------------------------------------------------------------------------------------- the deadline check


def _events(db, mention_id: int, action: str) -> list[Event]:
    db.expire_all()
    return list(db.scalars(select(Event).where(Event.mention_id == mention_id, Event.action == action)))


def test_priority_rises_as_the_first_response_deadline_nears_once(db, make_source):
    mention = _ingest(db, make_source(), record(id="c", text=COMPLAINT, posted_at="2026-11-20T10:00:00Z"),
                      now=at("2026-11-20T10:01"))
    before = mention.priority
    assert check.check_deadlines(db, now=at("2026-11-20T10:30")).near == []  # half the hour left
    result = check.check_deadlines(db, now=at("2026-11-20T10:50"))  # ten minutes left of sixty
    db.commit()
    assert result.near == [mention.id]
    db.refresh(mention)
    assert mention.priority == before + check.NEAR_POINTS
    assert any(r["factor"] == "deadline" and "due in 10 min" in r["detail"] for r in mention.priority_reasons)
    [event] = _events(db, mention.id, "deadline near")
    assert event.actor_id is None and event.to_state == "first_response"
    assert check.check_deadlines(db, now=at("2026-11-20T10:55")).near == []  # said once
    db.commit()
    assert len(_events(db, mention.id, "deadline near")) == 1


def test_a_missed_deadline_is_flagged_once_and_raises_priority(db, make_source):
    mention = _ingest(db, make_source(), record(id="c", text=COMPLAINT, posted_at="2026-11-20T10:00:00Z"),
                      now=at("2026-11-20T10:01"))
    before = mention.priority
    result = check.check_deadlines(db, now=at("2026-11-20T11:05"))
    db.commit()
    assert result.breached == [mention.id] and result.escalated == []  # a complaint, not urgent
    db.refresh(mention)
    assert mention.first_response_breached_at == at("2026-11-20T11:00")
    assert mention.priority == before + check.BREACH_POINTS
    [event] = _events(db, mention.id, "sla breached")
    assert event.actor_id is None and "first response was due 2026-11-20 11:00 UTC" in event.reason
    assert check.check_deadlines(db, now=at("2026-11-20T11:10")).breached == []
    # The resolution deadline is a separate target, flagged when it passes.
    assert check.check_deadlines(db, now=at("2026-11-21T10:01")).breached == [mention.id]
    db.commit()
    db.refresh(mention)
    assert mention.resolution_breached_at == at("2026-11-21T10:00")


def test_answered_items_are_not_flagged_for_their_first_response(db, make_source, make_user):
    alex = make_user("alex", "agent")
    mention = _ingest(db, make_source(), record(id="c", text=COMPLAINT, posted_at="2026-11-20T10:00:00Z"),
                      now=at("2026-11-20T10:01"))
    replies.reply(db, mention.id, alex, "On it", now=at("2026-11-20T10:20"))
    db.commit()
    assert check.check_deadlines(db, now=at("2026-11-20T12:00")).breached == []
    db.commit()
    assert _events(db, mention.id, "sla breached") == []


def test_breached_urgent_items_are_escalated_to_the_team_lead(db, make_source):
    lead = add_user(db, "lee", "correct horse battery", role="lead", team="Care")
    add_user(db, "other", "correct horse battery", role="lead", team="Elsewhere")
    db.commit()
    mention = _ingest(db, make_source(), record(id="u", text=URGENT, posted_at="2026-11-20T10:00:00Z"),
                      now=at("2026-11-20T10:01"))
    result = check.check_deadlines(db, now=at("2026-11-20T10:31"))
    db.commit()
    assert result.escalated == [mention.id]
    db.refresh(mention)
    assert mention.escalated_to_id == lead.id and mention.escalated_by_id is None
    assert "missed its first-response target" in mention.escalation_reason
    [event] = _events(db, mention.id, "escalated")
    assert event.actor_id is None and event.to_state == "Lee (lead)" and event.detail["automatic"] is True
    [note] = db.scalars(select(Notification).where(Notification.user_id == lead.id)).all()
    assert note.mention_id == mention.id and note.kind == "escalation"
    assert check.check_deadlines(db, now=at("2026-11-21T10:31")).escalated == []  # once


def test_teams_can_turn_automatic_escalation_off(db, make_source):
    add_user(db, "lee", "correct horse battery", role="lead", team="Care")
    db.execute(update(Team).values(escalate_breached_urgent=False))
    db.commit()
    mention = _ingest(db, make_source(), record(id="u", text=URGENT, posted_at="2026-11-20T10:00:00Z"),
                      now=at("2026-11-20T10:01"))
    result = check.check_deadlines(db, now=at("2026-11-20T10:31"))
    db.commit()
    assert result.breached == [mention.id] and result.escalated == []
    db.refresh(mention)
    assert mention.escalated_at is None


def test_the_scheduled_job_checks_deadlines_and_repeats_safely(db, make_source, settings):
    mention = _ingest(db, make_source(), record(id="c", text=COMPLAINT, posted_at="2026-11-20T10:00:00Z"))
    assert jobs.check_deadlines() == {"near": 0, "breached": 2, "escalated": 0}  # both targets are long past
    assert jobs.check_deadlines() == {"near": 0, "breached": 0, "escalated": 0}
    assert len(_events(db, mention.id, "sla breached")) == 2


def test_the_cron_runs_the_deadline_check_every_minute(settings):
    """The scheduler `triage cron` starts (workers/schedule.py) enqueues the deadline check each minute."""
    from workers.schedule import cron_scheduler

    registered = {(job.func_name, job.queue_name, job.interval) for job in cron_scheduler(settings).get_jobs()}
    assert ("workers.jobs.check_deadlines", f"{settings.queue_prefix}-maintenance", 60) in registered


# --------------------------------------------------------------------------------------------- the badge


def test_queue_items_show_time_left_turning_amber_then_red(client, db, login, make_source):
    login("agent")
    source, now = make_source(), utcnow()
    for name, minutes_ago in (("fresh", 5), ("near", 50), ("late", 120)):
        posted = (now - timedelta(minutes=minutes_ago)).isoformat()
        _ingest(db, source, record(id=name, text=f"{COMPLAINT} {name}", posted_at=posted, author=name))
    page = client.get("/queues/complaints").get_data(as_text=True)
    stages = dict(re.findall(r'data-mention="(\d+)".*?data-sla="(\w+)"', page, re.S))
    ids = dict(db.execute(select(Mention.external_id, Mention.id)).all())
    assert stages == {str(ids["fresh"]): "ok", str(ids["near"]): "near", str(ids["late"]): "breached"}
    assert re.search(r'data-sla="near"[^>]*>(9|10) min left<', page)
    assert re.search(r'data-sla="breached"[^>]*>overdue (59 min|1 h|1 h 1 min)<', page)


def test_answered_items_count_down_to_their_resolution():
    mention = Mention(status="answered", posted_at=at("2026-11-20T10:00"), first_response_at=at("2026-11-20T10:05"),
                      first_response_due_at=at("2026-11-20T11:00"), resolution_due_at=at("2026-11-21T10:00"))
    status = deadlines.status(mention, now=at("2026-11-21T06:00"))
    assert (status.target, status.stage, status.label) == ("resolution", "near", "4 h left")
    mention.status, mention.resolved_at = "resolved", at("2026-11-20T12:00")
    assert deadlines.status(mention, now=at("2026-11-21T06:00")) is None


# ----------------------------------------------------------------------------------- editing, by leads


def _form(client, path: str) -> str:
    return _csrf(client.get(path).get_data(as_text=True))


def test_leads_edit_a_policy_and_the_change_is_audited(client, db, login, make_source):
    login("lead", "lee")
    policy = db.scalar(select(SlaPolicy).where(SlaPolicy.name == "Complaint"))
    token = _form(client, "/sla")
    response = client.post(f"/sla/policies/{policy.id}", data={
        "csrf_token": token, "name": "Complaint", "position": "1", "urgent": "any", "intent": "complaint",
        "first_response_minutes": "45", "resolution_minutes": "600"}, follow_redirects=True)
    assert "Saved “Complaint”" in response.get_data(as_text=True)
    db.expire_all()
    assert (policy.first_response_minutes, policy.resolution_minutes) == (45, 600)
    [event] = db.scalars(select(Event).where(Event.action == "sla policy saved")).all()
    assert event.mention_id is None and event.detail["before"]["first_response_minutes"] == 60
    mention = _ingest(db, make_source(), record(id="c", text=COMPLAINT, posted_at="2026-11-20T10:00:00Z"))
    assert mention.first_response_due_at == at("2026-11-20T10:45")


def test_a_bad_policy_is_refused_with_the_reason(client, db, login):
    login("lead")
    token = _form(client, "/sla")
    response = client.post("/sla/policies", data={
        "csrf_token": token, "name": "Slow", "position": "9", "urgent": "any", "intent": "",
        "first_response_minutes": "90", "resolution_minutes": "30"}, follow_redirects=True)
    assert "cannot be shorter than the first-response target" in response.get_data(as_text=True)
    assert db.scalar(select(SlaPolicy).where(SlaPolicy.name == "Slow")) is None


def test_leads_add_and_delete_policies(client, db, login):
    login("lead")
    token = _form(client, "/sla")
    client.post("/sla/policies", data={"csrf_token": token, "name": "Chatter", "position": "9", "urgent": "no",
                                       "intent": "other", "first_response_minutes": "2880",
                                       "resolution_minutes": "10080", "business_hours": "on"})
    added = db.scalar(select(SlaPolicy).where(SlaPolicy.name == "Chatter"))
    assert (added.urgent, added.intent, added.business_hours) == (False, "other", True)
    client.post(f"/sla/policies/{added.id}/delete", data={"csrf_token": token})
    db.expire_all()
    assert db.scalar(select(SlaPolicy).where(SlaPolicy.name == "Chatter")) is None
    assert db.scalar(select(Event).where(Event.action == "sla policy deleted")).reason == "Chatter"


def test_leads_set_a_team_s_hours_time_zone_and_holidays(client, db, login):
    login("lead")
    team = Team(name="Care", holidays=[])
    db.add(team)
    db.commit()
    token = _form(client, "/sla")
    form = {"csrf_token": token, "timezone": "Europe/London", "holidays": "2026-12-25\n2026-12-26",
            "escalate_breached_urgent": "on", **{f"{d}_opens": "09:00" for d in WEEKDAYS},
            **{f"{d}_closes": "17:30" for d in WEEKDAYS}}
    assert "Saved Care" in client.post(f"/sla/teams/{team.id}", data=form, follow_redirects=True).get_data(
        as_text=True)
    db.expire_all()
    assert (team.timezone, team.holidays) == ("Europe/London", ["2026-12-25", "2026-12-26"])
    assert team.business_hours["fri"] == ["09:00", "17:30"] and "sat" not in team.business_hours
    bad = client.post(f"/sla/teams/{team.id}", data={**form, "timezone": "Mars/Olympus"}, follow_redirects=True)
    assert "'Mars/Olympus' is not a time zone" in html.unescape(bad.get_data(as_text=True))
    form.pop("escalate_breached_urgent")
    client.post(f"/sla/teams/{team.id}", data={**form, "around_the_clock": "on"})
    db.expire_all()
    assert team.business_hours is None and team.escalate_breached_urgent is False


def test_supervisors_read_the_settings_but_cannot_change_them(client, db, login):
    login("supervisor")
    page = client.get("/sla")
    assert page.status_code == 200 and "Only leads can change them" in page.get_data(as_text=True)
    token = _csrf(page.get_data(as_text=True))
    policy = db.scalar(select(SlaPolicy).where(SlaPolicy.name == "Complaint"))
    assert client.post(f"/sla/policies/{policy.id}/delete", data={"csrf_token": token}).status_code == 403
    db.expire_all()
    assert db.get(SlaPolicy, policy.id) is not None


def test_agents_cannot_see_the_settings(client, db, login):
    login("agent")
    assert client.get("/sla").status_code == 403


def test_only_leads_and_admins_change_service_levels_and_the_console_may(db):
    from triage.core.errors import Forbidden
    from triage.sla import settings as sla_settings

    agent = add_user(db, "casey", "correct horse battery", role="agent")
    values = {"name": "VIP", "first_response_minutes": "15", "resolution_minutes": "60", "position": "0"}
    with pytest.raises(Forbidden, match="an agent cannot change service levels; it needs the role lead"):
        sla_settings.save_policy(db, agent, values)
    policy = sla_settings.save_policy(db, None, values)  # the operator at the console
    assert db.get(SlaPolicy, policy.id).first_response_minutes == 15
    with pytest.raises(clock.SlaError, match="urgent must be yes, no or any"):
        sla_settings.save_policy(db, None, values | {"urgent": "maybe"})
