"""Every admin, lead and command-line change to a setting shows in the audit log: the right action, who did it,
the setting's name, and never a password or a token secret."""
from __future__ import annotations

import io
import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.conftest import _csrf, record
from triage.cli import main
from triage.core.audit import ACTIONS, OPERATOR
from triage.intake import dead_letters, ingest
from triage.intake.source_settings import ensure_source
from triage.models import ApiToken, Event, Queue, RoutingRule, SavedReply, SlaPolicy, Team, User
from triage.people.accounts import add_user, create_token

PASSWORD = "correct horse battery"  # every person's password in these tests
NEW_PASSWORD = "a brand new passphrase"
TOKEN_RE = re.compile(r"trg_[A-Za-z0-9_-]{20,}")
WEEK = {f"{day}_{edge}": hour for day in ("mon", "tue", "wed", "thu", "fri")
        for edge, hour in (("opens", "08:00"), ("closes", "18:00"))}


@pytest.fixture
def world(db):
    """One of each setting a change can touch, made before the change (their own events are not looked at)."""
    team = Team(name="Social care", holidays=[])
    db.add(team)
    db.flush()
    target = add_user(db, "target", PASSWORD, role="agent")
    reply = SavedReply(title="Lost bag", body="Hi {name}, sorry! DM us your reference.", intent="complaint")
    press = Queue(slug="press", name="Press", description="Journalists", position=10)
    spare = Queue(slug="spare", name="Spare", position=11)
    db.add_all([reply, press, spare])
    db.flush()
    rule = RoutingRule(position=10, queue_id=press.id, network="press")
    db.add(rule)
    feed = ensure_source(db, "Reddit feed", "rss", config={"url": "https://example.com/a.rss", "network": "reddit"})
    paused = ensure_source(db, "Forum feed", "rss", config={"url": "https://example.com/b.rss", "network": "rss"},
                           enabled=False)
    hooks = ensure_source(db, "Hooks", "import")
    db.commit()
    token_secret = create_token(db, "target", "zapier bridge")
    receipt = ingest.receive(db, hooks, [record(id="dl-1"), record(id="dl-2")])
    dead_letters.give_up(db, receipt.delivery_ids[0], "worker crashed on this batch")
    db.commit()
    letters = dead_letters.open_letters(db)
    return {"team": team.id, "user": target.id, "reply": reply.id, "queue": press.id, "spare": spare.id,
            "rule": rule.id, "feed": feed.id, "paused": paused.id, "letter": letters[0].id, "letter2": letters[1].id,
            "token": db.scalar(select(ApiToken.id)), "token_secret": token_secret,
            "policy": db.scalar(select(SlaPolicy.id).where(SlaPolicy.name == "Complaint"))}


def _fill(value, ids: dict):
    """Put the world's ids into "{queue}"-style slots (other braces, as in saved replies, stay)."""
    if not isinstance(value, str):
        return value
    for key, found in ids.items():
        value = value.replace("{" + key + "}", str(found))
    return value


# (case id, who, URL, form, action, a name the event must carry)
WEB_CHANGES = [
    ("user added", "admin", "/admin/users",
     {"username": "robin", "role": "agent", "team_id": "{team}", "password": NEW_PASSWORD}, "user added", "robin"),
    ("user role", "admin", "/admin/users/{user}", {"role": "lead", "team_id": ""}, "user changed", "target"),
    ("user team", "admin", "/admin/users/{user}", {"role": "agent", "team_id": "{team}"}, "user changed", "target"),
    ("password reset", "admin", "/admin/users/{user}/password", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
     "password reset", "target"),
    ("user deactivated", "admin", "/admin/users/{user}/deactivate", {}, "user deactivated", "target"),
    ("team added", "admin", "/admin/teams", {"name": "Night shift"}, "team added", "Night shift"),
    ("team renamed", "admin", "/admin/teams/{team}", {"name": "Social care EMEA"}, "team renamed", "Social care EMEA"),
    ("queue added", "lead", "/routing/queues", {"name": "VIP customers"}, "queue added", "VIP customers"),
    ("queue renamed", "lead", "/routing/queues/{queue}", {"name": "Press and media", "description": "Reporters"},
     "queue changed", "Press and media"),
    ("queue moved", "lead", "/routing/queues/{queue}/move", {"direction": "up"}, "queue moved", "Press"),
    ("queue deleted", "lead", "/routing/queues/{spare}/delete", {}, "queue deleted", "Spare"),
    ("rule added", "lead", "/routing/rules", {"queue_id": "{queue}", "intent": "question", "enabled": "1"},
     "rule added", "Press"),
    ("rule edited", "lead", "/routing/rules/{rule}", {"queue_id": "{queue}", "network": "instagram"}, "rule changed",
     "instagram"),
    ("rule disabled", "lead", "/routing/rules/{rule}/enabled", {"enabled": "0"}, "rule switched", "Press"),
    ("rule moved", "lead", "/routing/rules/{rule}/move", {"direction": "up"}, "rule moved", "Press"),
    ("rule deleted", "lead", "/routing/rules/{rule}/delete", {}, "rule deleted", "Press"),
    ("source added", "lead", "/sources/rss/new",
     {"name": "Brand alerts", "url": "https://alerts.example/feed?key=s3cr3t-key", "interval": "300",
      "network": "rss"}, "source added", "Brand alerts"),
    ("source edited", "lead", "/sources/{feed}/edit",
     {"name": "Reddit mentions", "url": "https://example.com/a.rss", "interval": "600", "network": "reddit"},
     "source changed", "Reddit mentions"),
    ("brand handles", "lead", "/sources/{feed}/edit",
     {"name": "Reddit feed", "url": "https://example.com/a.rss", "interval": "300", "network": "reddit",
      "brand_handles": "@NorthwindHelp, northwind"}, "source changed", "northwindhelp"),
    ("source paused", "lead", "/sources/{feed}/pause", {}, "source paused", "Reddit feed"),
    ("source resumed", "lead", "/sources/{paused}/resume", {}, "source resumed", "Forum feed"),
    ("saved reply added", "lead", "/saved-replies", {"title": "Opening hours", "body": "We are open 8-20, {name}."},
     "saved reply added", "Opening hours"),
    ("saved reply edited", "lead", "/saved-replies/{reply}", {"title": "Lost bag, v2", "body": "Hello {author}"},
     "saved reply changed", "Lost bag, v2"),
    ("saved reply deleted", "lead", "/saved-replies/{reply}/delete", {}, "saved reply deleted", "Lost bag"),
    ("token created", "lead", "/tokens", {"name": "status board", "scope": "read-only"}, "token created",
     "status board"),
    ("token revoked", "lead", "/tokens/{token}/revoke", {}, "token revoked", "zapier bridge"),
    ("sla policy added", "lead", "/sla/policies",
     {"name": "Chatter", "position": "9", "urgent": "no", "intent": "other", "first_response_minutes": "2880",
      "resolution_minutes": "10080"}, "sla policy saved", "Chatter"),
    ("sla policy edited", "lead", "/sla/policies/{policy}",
     {"name": "Complaint", "position": "1", "urgent": "any", "intent": "complaint", "first_response_minutes": "45",
      "resolution_minutes": "600"}, "sla policy saved", "Complaint"),
    ("sla policy deleted", "lead", "/sla/policies/{policy}/delete", {}, "sla policy deleted", "Complaint"),
    ("team hours", "lead", "/sla/teams/{team}",
     {"timezone": "Europe/London", "holidays": "2026-12-25", "escalate_breached_urgent": "on", **WEEK},
     "team hours saved", "Social care"),
    ("dead letter retried", "lead", "/sources/dead-letters/{letter}/retry",
     {"payload": json.dumps(record(id="dl-fixed"))}, "dead letter retried", "Hooks"),
    ("dead letter discarded", "lead", "/sources/dead-letters/{letter2}/discard", {}, "dead letter discarded", "Hooks"),
]


def _log_in(client, db, role: str) -> User:
    user = add_user(db, f"the-{role}", PASSWORD, role=role)
    db.commit()
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return user


def _last_event_id(db) -> int:
    db.rollback()
    return db.scalar(select(func.max(Event.id))) or 0


def _events_since(db, event_id: int) -> list[Event]:
    db.rollback()
    return list(db.scalars(select(Event).where(Event.id > event_id).order_by(Event.id)))


def _the_event(events: list[Event], action: str) -> Event:
    assert action in ACTIONS, f"'{action}' is not a registered audit action"
    found = [e for e in events if e.action == action]
    assert len(found) == 1, f"expected one '{action}' event, got {[(e.action, e.reason) for e in events]}"
    return found[0]


def _written(event: Event) -> str:
    """Everything the audit log shows or exports of an event."""
    return json.dumps([event.reason, event.from_state, event.to_state, event.detail], ensure_ascii=False, default=str)


def _assert_no_secret(db, event: Event, secrets: list[str]) -> None:
    written = _written(event)
    for secret in [*secrets, PASSWORD, NEW_PASSWORD]:
        assert secret not in written, f"a secret is in the '{event.action}' event: {written}"
    assert not TOKEN_RE.search(written), f"a token is in the '{event.action}' event: {written}"
    for stored in [*db.scalars(select(ApiToken.token_hash)), *db.scalars(select(User.password_hash))]:
        assert stored not in written, f"a token hash or password hash is in the '{event.action}' event"


@pytest.mark.parametrize(("who", "url", "data", "action", "name"), [c[1:] for c in WEB_CHANGES],
                         ids=[c[0] for c in WEB_CHANGES])
def test_a_change_made_in_the_web_app_is_in_the_audit_log(client, db, world, who, url, data, action, name):
    actor = _log_in(client, db, who)
    page = client.get("/tokens" if url == "/tokens" else "/queues").get_data(as_text=True)
    before = _last_event_id(db)
    response = client.post(_fill(url, world), data={"csrf_token": _csrf(page),
                                                    **{k: _fill(v, world) for k, v in data.items()}})
    assert response.status_code in (200, 302, 303), response.get_data(as_text=True)[:800]
    shown = set(TOKEN_RE.findall(response.get_data(as_text=True)))
    if url == "/tokens":
        assert len(shown) == 1, "the new token is shown once, on the page that created it"
    secrets = [world["token_secret"], "s3cr3t-key", *shown]
    event = _the_event(_events_since(db, before), action)
    assert event.mention_id is None
    assert event.actor_id == actor.id and event.detail.get("by") == actor.username
    assert name in _written(event), f"'{name}' is not named in {_written(event)}"
    _assert_no_secret(db, event, secrets)


# (case id, arguments, action, a name the event must carry); {...} filled from the world.
CLI_CHANGES = [
    ("user add", ["user", "add", "robin", "--role", "lead", "--team", "Night shift", "--password", NEW_PASSWORD],
     "user added", "robin"),
    ("token create", ["token", "create", "--user", "target", "--name", "nightly export", "--read-only"],
     "token created", "nightly export"),
    ("token revoke", ["token", "revoke", "{token}"], "token revoked", "zapier bridge"),
    ("source add-rss", ["source", "add-rss", "Brand alerts", "https://alerts.example/feed?key=s3cr3t-key",
                        "--network", "news", "--every", "600", "--brand-handle", "@NorthwindHelp"],
     "source added", "Brand alerts"),
]


@pytest.mark.parametrize(("args", "action", "name"), [c[1:] for c in CLI_CHANGES], ids=[c[0] for c in CLI_CHANGES])
def test_a_change_made_with_the_command_is_in_the_audit_log_as_the_operator(db, world, args, action, name):
    before = _last_event_id(db)
    result = CliRunner().invoke(main, [_fill(a, world) for a in args])
    assert result.exit_code == 0, result.output
    event = _the_event(_events_since(db, before), action)
    assert event.mention_id is None and event.actor_id is None
    assert event.detail.get("by") == OPERATOR and OPERATOR in event.reason
    assert name in _written(event), f"'{name}' is not named in {_written(event)}"
    _assert_no_secret(db, event, [world["token_secret"], "s3cr3t-key", *TOKEN_RE.findall(result.output)])


def test_an_import_into_a_new_source_with_brand_handles_is_in_the_audit_log(db, world, tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(record(id="imp-1")) + "\n")
    before = _last_event_id(db)
    result = CliRunner().invoke(main, ["import", str(path), "--source", "Legacy tool", "--brand-handle",
                                       "@NorthwindHelp", "--no-wait"])
    assert result.exit_code == 0, result.output
    event = _the_event(_events_since(db, before), "source added")
    assert event.actor_id is None and "Legacy tool" in event.reason
    assert event.detail["after"]["brand_handles"] == ["northwindhelp"]


def test_an_upload_into_a_new_source_with_brand_handles_is_in_the_audit_log(client, db, world):
    lead = _log_in(client, db, "lead")
    page = client.get("/sources").get_data(as_text=True)
    before = _last_event_id(db)
    response = client.post("/sources", data={
        "csrf_token": _csrf(page), "source": "Brandwatch export", "brand_handles": "@NorthwindHelp",
        "file": (io.BytesIO(json.dumps(record(id="up-1")).encode()), "export.jsonl"),
    }, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    event = _the_event(_events_since(db, before), "source added")
    assert event.actor_id == lead.id and "Brandwatch export" in event.reason
    assert event.detail["after"]["brand_handles"] == ["northwindhelp"]


def test_every_case_names_a_registered_action():
    for case in WEB_CHANGES:
        assert case[4] in ACTIONS, case
    for case in CLI_CHANGES:
        assert case[2] in ACTIONS, case
