"""Managing the team (admins) and how work flows (leads): users, teams, saved replies, queues, routing, sources."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from tests.conftest import _csrf, record
from triage.intake import ingest
from triage.models import Event, Mention, Queue, RoutingRule, SavedReply, Source, Team, User
from triage.models.mentions import RESOLVED
from triage.people.accounts import authenticate

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MANAGED = (User, Team, Queue, RoutingRule, SavedReply, Source)


def _post(client, url: str, data: dict | None = None):
    """POST as a person would: with the CSRF token of a page they have open."""
    token = _csrf(client.get("/queues").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {})})


def _state(db) -> dict:
    """Every managed row as stored, read fresh from the database."""
    db.rollback()
    return {m.__tablename__: [tuple(r) for r in db.execute(select(m.__table__).order_by(m.__table__.c.id))]
            for m in MANAGED}


def _fresh(db, model, row_id):
    db.rollback()
    return db.get(model, row_id, populate_existing=True)


def _ingest(db, source, records) -> None:
    receipt = ingest.receive(db, source, records)
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id)
    db.commit()


def _queue(db, slug: str) -> Queue:
    return db.scalar(select(Queue).where(Queue.slug == slug))


@pytest.fixture
def world(db, make_user, make_source):
    """One of everything a write can touch, each in a state the write would change."""
    team = Team(name="Social care")
    db.add(team)
    db.flush()
    target = make_user("target", "agent")
    inactive = make_user("gone", "agent")
    inactive.active = False
    reply = SavedReply(title="Lost bag", body="Hi {name}, sorry! DM us your reference. ^{agent}", intent="complaint")
    press = Queue(slug="press", name="Press", description="Journalists", position=10)
    spare = Queue(slug="spare", name="Spare", position=11)
    db.add_all([reply, press, spare])
    db.flush()
    rule = RoutingRule(position=10, queue_id=press.id, network="press")
    db.add(rule)
    running = make_source("Reddit feed", "rss", config={"url": "https://example.com/a.rss", "network": "reddit"})
    paused = make_source("Forum feed", "rss", config={"url": "https://example.com/b.rss", "network": "rss"},
                         enabled=False)
    db.commit()
    return {"team": team.id, "user": target.id, "inactive": inactive.id, "reply": reply.id, "queue": press.id,
            "spare": spare.id, "rule": rule.id, "running": running.id, "paused": paused.id}


ADMIN_WRITES = [
    ("/admin/users", {"username": "newbie", "role": "agent", "password": "long enough pw"}),
    ("/admin/users/{user}", {"role": "lead", "team_id": "{team}"}),
    ("/admin/users/{user}/deactivate", {}),
    ("/admin/users/{inactive}/reactivate", {}),
    ("/admin/users/{user}/password", {"password": "another pw 123", "confirm": "another pw 123"}),
    ("/admin/teams", {"name": "Night shift"}),
    ("/admin/teams/{team}", {"name": "Social care EMEA"}),
]
LEAD_WRITES = [
    ("/saved-replies", {"title": "Opening hours", "body": "We are open 8-20, {name}."}),
    ("/saved-replies/{reply}", {"title": "Lost bag, v2", "body": "Hello {author}"}),
    ("/saved-replies/{reply}/delete", {}),
    ("/routing/queues", {"name": "VIP"}),
    ("/routing/queues/{queue}", {"name": "Press and media", "description": "Reporters", "team_id": "{team}"}),
    ("/routing/queues/{queue}/move", {"direction": "up"}),
    ("/routing/queues/{spare}/delete", {}),
    ("/routing/rules", {"queue_id": "{queue}", "intent": "question", "enabled": "1"}),
    ("/routing/rules/{rule}", {"queue_id": "{queue}", "intent": "other"}),
    ("/routing/rules/{rule}/enabled", {"enabled": "0"}),
    ("/routing/rules/{rule}/move", {"direction": "up"}),
    ("/routing/rules/{rule}/delete", {}),
    ("/sources/rss/new", {"name": "New feed", "url": "https://example.com/feed", "interval": "300"}),
    ("/sources/{running}/edit", {"name": "Renamed", "url": "https://example.com/a.rss", "interval": "60"}),
    ("/sources/{running}/pause", {}),
    ("/sources/{paused}/resume", {}),
]


def _fill(template: str, ids: dict) -> str:
    """Put the world's ids into "{queue}"-style slots; saved-reply placeholders such as {name} stay."""
    for key, value in ids.items():
        template = template.replace("{" + key + "}", str(value))
    return template


@pytest.mark.parametrize("role", ["agent", "lead", "supervisor"])
@pytest.mark.parametrize(("url", "data"), ADMIN_WRITES, ids=[u for u, _ in ADMIN_WRITES])
def test_only_admins_manage_users_and_teams(client, db, login, world, role, url, data):
    login(role)
    before = _state(db)
    response = _post(client, _fill(url, world), {k: _fill(v, world) for k, v in data.items()})
    assert response.status_code == 403
    assert _state(db) == before


@pytest.mark.parametrize("role", ["agent", "supervisor"])
@pytest.mark.parametrize(("url", "data"), LEAD_WRITES, ids=[u for u, _ in LEAD_WRITES])
def test_only_leads_and_admins_manage_replies_routing_and_sources(client, db, login, world, role, url, data):
    login(role)
    before = _state(db)
    response = _post(client, _fill(url, world), {k: _fill(v, world) for k, v in data.items()})
    assert response.status_code == 403
    assert _state(db) == before


@pytest.mark.parametrize(("role", "url", "data"), [("admin", u, d) for u, d in ADMIN_WRITES]
                         + [(r, u, d) for u, d in LEAD_WRITES for r in ("lead", "admin")])
def test_the_allowed_role_does_change_things(client, db, login, world, role, url, data):
    """The counterpart of the 403 tests: the same request by the right role is not a no-op."""
    login(role)
    before = _state(db)
    response = _post(client, _fill(url, world), {k: _fill(v, world) for k, v in data.items()})
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    assert _state(db) != before


def test_management_pages_need_a_login(client, db):
    for url in ("/admin/users", "/admin/teams", "/saved-replies", "/routing", "/sources/rss/new"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_agents_cannot_open_management_pages(client, login, world):
    login("agent")
    for url in ("/admin/users", "/admin/teams", "/saved-replies", "/routing", f"/routing/rules/{world['rule']}",
                f"/sources/{world['running']}/edit", "/sources/rss/new"):
        assert client.get(url).status_code == 403, url
    page = client.get("/queues").get_data(as_text=True)
    assert "/saved-replies" not in page and "/admin/users" not in page
    assert client.post("/saved-replies/preview", data={
        "body": "x", "csrf_token": _csrf(page)}).status_code == 403


def test_supervisors_read_replies_and_routing_without_forms(client, login, world):
    login("supervisor")
    replies = client.get("/saved-replies").get_data(as_text=True)
    assert "Lost bag" in replies and "New saved reply" not in replies and "/delete" not in replies
    routing = client.get("/routing").get_data(as_text=True)
    assert "Press" in routing and "network is press" in routing
    assert "Add a rule" not in routing and "/delete" not in routing and "/move" not in routing
    assert client.get("/admin/users").status_code == 403
    tried = client.get("/routing", query_string={"text": "@northwind where is my refund?"}).get_data(as_text=True)
    assert "Lands in <strong>Questions</strong>" in tried


# Users ------------------------------------------------------------------------------------------------------------

def test_admin_adds_a_user_who_can_then_log_in(client, db, login, world):
    login("admin")
    response = _post(client, "/admin/users", {"username": " Robin ", "display_name": "Robin <b>Reyes</b>",
                                              "role": "lead", "team_id": str(world["team"]),
                                              "password": "a good passphrase"})
    assert response.status_code == 302
    db.rollback()
    robin = db.scalar(select(User).where(User.username == "robin"))
    assert (robin.role, robin.team_id, robin.display_name) == ("lead", world["team"], "Robin <b>Reyes</b>")
    assert authenticate(db, "robin", "a good passphrase") is not None
    page = client.get("/admin/users").get_data(as_text=True)
    assert "Robin &lt;b&gt;Reyes&lt;/b&gt;" in page and "<b>Reyes" not in page
    assert "a good passphrase" not in page and robin.password_hash not in page


@pytest.mark.parametrize(("data", "message"), [
    ({"username": "target", "role": "agent", "password": "long enough pw"}, "User &#39;target&#39; exists already"),
    ({"username": "", "role": "agent", "password": "long enough pw"}, "Username is empty"),
    ({"username": "new person", "role": "agent", "password": "long enough pw"}, "A username starts with"),
    ({"username": "newbie", "role": "agent", "password": "short"}, "at least 8 characters"),
    ({"username": "newbie", "role": "owner", "password": "long enough pw"}, "Role must be one of"),
    ({"username": "newbie", "role": "agent", "password": "long enough pw", "team_id": "9999"}, "no team with id"),
    ({"username": "newbie", "role": "agent", "password": "long enough pw", "team_id": "abc"}, "no team with id"),
])
def test_adding_a_user_with_bad_input_is_refused_and_the_form_kept(client, db, login, world, data, message):
    login("admin")
    before = _state(db)
    response = _post(client, "/admin/users", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page and 'class="flash error"' in page
    assert f'value="{data["username"]}"' in page  # what was typed is still there
    assert _state(db) == before


def test_admin_changes_a_role_and_team(client, db, login, world):
    login("admin")
    assert _post(client, f"/admin/users/{world['user']}", {"role": "supervisor", "team_id": str(world["team"])}
                 ).status_code == 302
    user = _fresh(db, User, world["user"])
    assert (user.role, user.team_id) == ("supervisor", world["team"])
    assert _post(client, f"/admin/users/{world['user']}", {"role": "supervisor", "team_id": ""}).status_code == 302
    assert _fresh(db, User, world["user"]).team_id is None


def test_a_deactivated_user_cannot_log_in_and_is_kept(client, app, db, login, world, make_user):
    login("admin")
    response = _post(client, f"/admin/users/{world['user']}/deactivate")
    assert response.status_code == 302
    assert _fresh(db, User, world["user"]).active is False
    other = app.test_client()
    token = _csrf(other.get("/login").get_data(as_text=True))
    refused = other.post("/login", data={"username": "target", "password": "correct horse battery",
                                         "csrf_token": token})
    assert refused.status_code == 401
    assert "deactivated" in client.get("/admin/users").get_data(as_text=True)
    assert _post(client, f"/admin/users/{world['user']}/reactivate").status_code == 302
    assert authenticate(db, "target", "correct horse battery") is not None


def test_an_admin_cannot_deactivate_themself(client, db, login):
    me = login("admin")
    my_id = db.scalar(select(User.id).where(User.username == me))
    response = _post(client, f"/admin/users/{my_id}/deactivate")
    assert response.status_code == 400 and "cannot deactivate yourself" in response.get_data(as_text=True)
    assert _fresh(db, User, my_id).active is True


def test_the_last_admin_cannot_be_demoted_but_one_of_two_can(client, db, login, make_user):
    me = login("admin")
    my_id = db.scalar(select(User.id).where(User.username == me))
    response = _post(client, f"/admin/users/{my_id}", {"role": "lead"})
    assert response.status_code == 400 and "last active admin" in response.get_data(as_text=True)
    assert _fresh(db, User, my_id).role == "admin"

    other = make_user("second", "admin")
    assert _post(client, f"/admin/users/{other.id}", {"role": "lead"}).status_code == 302
    assert _fresh(db, User, other.id).role == "lead"
    # An inactive admin does not count: it cannot log in to fix anything.
    db.get(User, other.id).role = "admin"
    db.get(User, other.id).active = False
    db.commit()
    assert _post(client, f"/admin/users/{my_id}", {"role": "agent"}).status_code == 400
    assert _fresh(db, User, my_id).role == "admin"


def test_admin_resets_a_password(client, db, login, world):
    login("admin")
    response = _post(client, f"/admin/users/{world['user']}/password",
                     {"password": "brand new secret", "confirm": "brand new secret"})
    assert response.status_code == 302
    assert authenticate(db, "target", "brand new secret") is not None
    assert authenticate(db, "target", "correct horse battery") is None
    for data, message in (({"password": "short", "confirm": "short"}, "at least 8"),
                          ({"password": "brand new secret", "confirm": "brand new secrex"}, "differ")):
        response = _post(client, f"/admin/users/{world['user']}/password", data)
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert authenticate(db, "target", "brand new secret") is not None


def test_unknown_user_is_404(client, login):
    login("admin")
    assert client.get("/admin/users/999999").status_code == 404
    assert _post(client, "/admin/users/999999/deactivate").status_code == 404


# Teams ------------------------------------------------------------------------------------------------------------

def test_admin_adds_and_renames_teams_and_sees_members(client, db, login, world):
    login("admin")
    assert _post(client, "/admin/teams", {"name": "Night shift"}).status_code == 302
    assert _post(client, f"/admin/teams/{world['team']}", {"name": "Social care EMEA"}).status_code == 302
    db.rollback()
    assert sorted(db.scalars(select(Team.name))) == ["Night shift", "Social care EMEA"]
    db.get(User, world["user"]).team_id = world["team"]
    db.commit()
    page = client.get("/admin/teams").get_data(as_text=True)
    row = page[page.index('data-team="Social care EMEA"'):]
    assert "Target" in row[:row.index("</tr>")]


@pytest.mark.parametrize(("name", "message"), [("", "Team name is empty."), ("social CARE", "already"),
                                               ("x" * 81, "too long")])
def test_bad_team_names_are_refused(client, db, login, world, name, message):
    login("admin")
    before = _state(db)
    response = _post(client, "/admin/teams", {"name": name})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    response = _post(client, "/admin/teams", {"name": "Night"})
    renamed = _post(client, f"/admin/teams/{world['team']}", {"name": "night"})
    assert renamed.status_code == 400 and "already" in renamed.get_data(as_text=True)
    after = _state(db)
    assert len(after["teams"]) == len(before["teams"]) + 1  # only "Night" landed


# Saved replies ----------------------------------------------------------------------------------------------------

def test_lead_creates_edits_and_deletes_a_saved_reply(client, db, login):
    login("lead")
    empty = client.get("/saved-replies").get_data(as_text=True)
    assert "No saved reply yet" in empty
    response = _post(client, "/saved-replies", {"title": "Thanks", "body": "Thank you {author}! ^{agent}",
                                                "intent": "advocacy"})
    assert response.status_code == 302
    db.rollback()
    reply = db.scalar(select(SavedReply).where(SavedReply.title == "Thanks"))
    assert (reply.body, reply.intent, reply.uses) == ("Thank you {author}! ^{agent}", "advocacy", 0)
    assert reply.created_by_id is not None
    page = client.get("/saved-replies").get_data(as_text=True)
    assert "Thank you @dana_w! ^Lead" in page  # the preview, filled for the sample mention
    assert "used 0 times" in page

    db.get(SavedReply, reply.id).uses = 3
    db.commit()
    assert _post(client, f"/saved-replies/{reply.id}", {"title": "Thanks!", "body": "Cheers {name}",
                                                        "intent": ""}).status_code == 302
    edited = _fresh(db, SavedReply, reply.id)
    assert (edited.title, edited.body, edited.intent, edited.uses) == ("Thanks!", "Cheers {name}", None, 3)
    assert edited.updated_at > edited.created_at
    assert "used 3 times" in client.get("/saved-replies").get_data(as_text=True)

    reply_id = reply.id
    assert _post(client, f"/saved-replies/{reply_id}/delete").status_code == 302
    assert _fresh(db, SavedReply, reply_id) is None
    assert _post(client, f"/saved-replies/{reply_id}/delete").status_code == 404


@pytest.mark.parametrize(("data", "message"), [
    ({"title": "", "body": "Hello"}, "Title is empty."),
    ({"title": "Hi", "body": "   "}, "The reply is empty."),
    ({"title": "Hi", "body": "Hello", "intent": "rant"}, "Intent must be one of"),
    ({"title": "Hi", "body": "x" * 5001}, "too long"),
])
def test_bad_saved_replies_are_refused(client, db, login, world, data, message):
    login("lead")
    before = _state(db)
    response = _post(client, "/saved-replies", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page
    assert _state(db) == before
    response = _post(client, f"/saved-replies/{world['reply']}", data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _state(db) == before


def test_saved_reply_titles_are_unique(client, db, login, world):
    login("lead")
    before = _state(db)
    response = _post(client, "/saved-replies", {"title": "lost BAG", "body": "Hello"})
    assert response.status_code == 400 and "There is a saved reply titled “lost BAG” already." in response.get_data(
        as_text=True)
    assert _post(client, f"/saved-replies/{world['reply']}", {"title": "Lost bag", "body": "Hi"}).status_code == 302
    other = SavedReply(title="Thanks", body="Thank you!")
    db.add(other)
    db.commit()
    other_id = other.id
    before = _state(db)
    response = _post(client, f"/saved-replies/{other_id}", {"title": "LOST BAG", "body": "Hello"})
    assert response.status_code == 400 and "already" in response.get_data(as_text=True)
    assert _state(db) == before


def test_saved_replies_are_escaped(client, db, login):
    login("lead")
    _post(client, "/saved-replies", {"title": "<script>alert(1)</script>",
                                     "body": "<img src=x onerror=alert(2)> {name}"})
    page = client.get("/saved-replies").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt; Dana Whitfield" in page


def test_preview_fills_placeholders_and_names_unknown_ones(client, login):
    login("lead")
    token = _csrf(client.get("/saved-replies").get_data(as_text=True))
    preview = client.post("/saved-replies/preview", data={"csrf_token": token,
                                                          "body": "Hi {name} ({author} on {network}), {order}"}).json
    assert preview["text"] == "Hi Dana Whitfield (@dana_w on x), {order}"
    assert preview["unknown"] == ["order"] and preview["limit"] == 280
    assert client.post("/saved-replies/preview", data={"body": "x"}).status_code == 400  # no CSRF token


# Queues ------------------------------------------------------------------------------------------------------------

def test_lead_adds_renames_and_reorders_queues(client, db, login, world):
    login("lead")
    assert _post(client, "/routing/queues", {"name": "VIP customers", "description": "Big accounts",
                                             "team_id": str(world["team"])}).status_code == 302
    db.rollback()
    vip = _queue(db, "vip-customers")
    assert (vip.name, vip.description, vip.team_id) == ("VIP customers", "Big accounts", world["team"])
    assert vip.position > _queue(db, "press").position  # a new queue comes last

    assert _post(client, f"/routing/queues/{vip.id}", {"name": "VIPs", "description": ""}).status_code == 302
    vip = _fresh(db, Queue, vip.id)
    assert (vip.name, vip.slug, vip.description, vip.team_id) == ("VIPs", "vip-customers", "", None)

    assert _post(client, f"/routing/queues/{vip.id}/move", {"direction": "up"}).status_code == 302
    db.rollback()
    order = [q.slug for q in db.scalars(select(Queue).order_by(Queue.position))]
    assert order[-3:] == ["press", "vip-customers", "spare"]
    board = client.get("/queues").get_data(as_text=True)
    assert board.index('data-queue="press"') < board.index('data-queue="vip-customers"') < board.index(
        'data-queue="spare"')
    # The first queue cannot move further up: nothing changes.
    _post(client, f"/routing/queues/{_queue(db, 'urgent').id}/move", {"direction": "up"})
    db.rollback()
    assert [q.slug for q in db.scalars(select(Queue).order_by(Queue.position))] == order


def test_a_queue_named_like_a_page_gets_a_safe_address(client, db, login):
    login("lead")
    _post(client, "/routing/queues", {"name": "Fragment"})
    _post(client, "/routing/queues", {"name": "Fragment!"})
    db.rollback()
    assert {"fragment-queue", "fragment-queue-2"} <= set(db.scalars(select(Queue.slug)))
    assert client.get("/queues/fragment-queue").status_code == 200


@pytest.mark.parametrize(("data", "message"), [
    ({"name": ""}, "Queue name is empty."),
    ({"name": "complaints"}, "There is a queue called “Complaints” already."),
    ({"name": "New", "team_id": "424242"}, "no team with id"),
    ({"name": "New", "description": "d" * 301}, "too long"),
])
def test_bad_queues_are_refused(client, db, login, world, data, message):
    login("lead")
    before = _state(db)
    response = _post(client, "/routing/queues", data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    response = _post(client, f"/routing/queues/{world['queue']}", data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _state(db) == before


def test_a_queue_with_rules_or_open_mentions_cannot_be_deleted(client, db, login, world, make_source):
    login("lead")
    source = make_source()
    _ingest(db, source, [record(network="press", text="@northwind a note from the press office")])
    mention = db.scalar(select(Mention).where(Mention.network == "press"))
    assert mention.queue_id == world["queue"]

    response = _post(client, f"/routing/queues/{world['queue']}/delete")
    assert response.status_code == 400
    assert "Press still has 1 routing rule and 1 open mention" in response.get_data(as_text=True)
    assert _fresh(db, Queue, world["queue"]) is not None

    assert _post(client, f"/routing/rules/{world['rule']}/delete").status_code == 302
    response = _post(client, f"/routing/queues/{world['queue']}/delete")
    assert response.status_code == 400 and "still has 1 open mention" in response.get_data(as_text=True)

    db.get(Mention, mention.id).status = RESOLVED
    db.commit()
    assert _post(client, f"/routing/queues/{world['queue']}/delete").status_code == 302
    assert _fresh(db, Queue, world["queue"]) is None
    # The closed mention keeps its history, in the catch-all queue.
    assert _fresh(db, Mention, mention.id).queue_id == _queue(db, "other").id


def test_the_catch_all_queue_cannot_be_deleted(client, db, login):
    login("lead")
    other = _queue(db, "other")
    response = _post(client, f"/routing/queues/{other.id}/delete")
    assert response.status_code == 400 and "Rename it instead" in response.get_data(as_text=True)
    assert _fresh(db, Queue, other.id) is not None


# Routing rules ----------------------------------------------------------------------------------------------------

def test_rules_are_listed_in_order_and_the_test_box_shows_the_landing_queue(client, login, world):
    login("lead")
    page = client.get("/routing").get_data(as_text=True)
    assert (page.index("has urgent words") < page.index("priority ≥ 75") < page.index("intent is complaint")
            < page.index("network is press"))
    tried = client.get("/routing", query_string={"text": "@northwind my bag was stolen, I will call my lawyer",
                                                 "network": "x"})
    body = tried.get_data(as_text=True)
    assert tried.status_code == 200
    assert "Lands in <strong>Urgent</strong>" in body and "by rule 1 (has urgent words)" in body
    assert 'class="hit' in body and "urgency +50" in body
    chatter = client.get("/routing", query_string={"text": "just landed in Lisbon with northwind", "network": "x"})
    assert "Lands in <strong>Other</strong>" in chatter.get_data(as_text=True)
    press = client.get("/routing", query_string={"text": "just landed in Lisbon with northwind", "network": "press"})
    assert "Lands in <strong>Press</strong>" in press.get_data(as_text=True)


@pytest.mark.parametrize(("query", "message"), [
    ({"text": "   "}, "Type a text"), ({"text": "hi", "network": "no spaces"}, "A network is a short name"),
    ({"text": "hi", "followers": "many"}, "Followers must be a whole number"),
])
def test_the_test_box_explains_bad_input(client, login, query, message):
    login("lead")
    response = client.get("/routing", query_string=query)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_lead_adds_edits_reorders_disables_and_deletes_rules(client, db, login, world, make_source):
    login("lead")
    response = _post(client, "/routing/rules", {"queue_id": str(world["queue"]), "network": "Instagram",
                                                "intent": "complaint", "min_priority": "10", "urgent": "no",
                                                "enabled": "1"})
    assert response.status_code == 302
    db.rollback()
    rule = db.scalars(select(RoutingRule).order_by(RoutingRule.position.desc())).first()
    assert (rule.queue_id, rule.network, rule.intent, rule.min_priority, rule.urgent, rule.sentiment,
            rule.enabled) == (world["queue"], "instagram", "complaint", 10, False, None, True)
    source = make_source()

    def lands(network: str) -> str:
        post = record(network=network, text="@northwind my bag never arrived, worst airline, I want a refund")
        _ingest(db, source, [post])
        mention = db.scalar(select(Mention).where(Mention.external_id == post["id"]))
        return db.get(Queue, mention.queue_id).slug

    assert lands("instagram") == "complaints"  # the complaints rule comes first
    for _ in range(6):  # from 7th to 1st
        _post(client, f"/routing/rules/{rule.id}/move", {"direction": "up"})
    db.rollback()
    positions = [r.id for r in db.scalars(select(RoutingRule).order_by(RoutingRule.position))]
    assert positions.index(rule.id) == 0
    assert lands("instagram") == "press" and lands("x") == "complaints"

    assert _post(client, f"/routing/rules/{rule.id}/enabled", {"enabled": "0"}).status_code == 302
    assert _fresh(db, RoutingRule, rule.id).enabled is False
    assert lands("instagram") == "complaints"
    assert 'class=" off"' in client.get("/routing").get_data(as_text=True)
    _post(client, f"/routing/rules/{rule.id}/enabled", {"enabled": "1"})

    assert _post(client, f"/routing/rules/{rule.id}", {"queue_id": str(world["queue"]), "sentiment": "negative",
                                                       }).status_code == 302
    edited = _fresh(db, RoutingRule, rule.id)
    assert (edited.network, edited.intent, edited.sentiment, edited.min_priority, edited.urgent,
            edited.enabled) == (None, None, "negative", None, None, True)
    assert lands("x") == "press"

    assert _post(client, f"/routing/rules/{rule.id}/delete").status_code == 302
    assert _fresh(db, RoutingRule, rule.id) is None
    assert lands("x") == "complaints"


@pytest.mark.parametrize(("data", "message"), [
    ({"queue_id": "987654", "intent": "question"}, "There is no queue with id"),
    ({"queue_id": "", "intent": "question"}, "Choose a queue."),
    ({"queue_id": "{queue}", "min_priority": "101"}, "between 0 and 100"),
    ({"queue_id": "{queue}", "min_priority": "high"}, "whole number"),
    ({"queue_id": "{queue}", "sentiment": "angry"}, "Sentiment must be one of"),
    ({"queue_id": "{queue}", "urgent": "maybe"}, "Urgent words must be"),
    ({"queue_id": "{queue}", "network": "<x>"}, "A network is a short name"),
])
def test_bad_rules_are_refused(client, db, login, world, data, message):
    login("lead")
    before = _state(db)
    data = {k: _fill(v, world) for k, v in data.items()}
    response = _post(client, "/routing/rules", data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    response = _post(client, f"/routing/rules/{world['rule']}", data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _state(db) == before


def test_each_change_to_saved_replies_and_teams_is_in_the_audit_log(client, db, login, world):
    admin = login("admin")
    _post(client, "/saved-replies", {"title": "Opening hours", "body": "We are open 8-20, {name}."})
    reply = db.scalar(select(SavedReply.id).where(SavedReply.title == "Opening hours"))
    _post(client, f"/saved-replies/{reply}", {"title": "Opening hours", "body": "We are open 8-22, {name}."})
    _post(client, f"/saved-replies/{reply}/delete")
    _post(client, "/admin/teams", {"name": "Night shift"})
    team = db.scalar(select(Team.id).where(Team.name == "Night shift"))
    _post(client, f"/admin/teams/{team}", {"name": "Night owls"})
    assert _post(client, "/admin/teams", {"name": "night OWLS"}).status_code == 400  # refused: no event
    actions = ["saved reply added", "saved reply changed", "saved reply deleted", "team added", "team renamed"]
    events = {a: _setting_events(db, a) for a in actions}
    assert {a: len(e) for a, e in events.items()} == dict.fromkeys(actions, 1)
    assert all(e[0].actor.username == admin for e in events.values())
    changed = events["saved reply changed"][0]
    assert changed.detail["before"] == {"body": "We are open 8-20, {name}."} and "Opening hours" in changed.reason
    assert events["team renamed"][0].detail == {"by": admin, "team_id": team, "before": {"name": "Night shift"},
                                                "after": {"name": "Night owls"}}
    page = client.get("/audit?q=Night").get_data(as_text=True)
    assert "team renamed" in page and "team added" in page


def test_each_change_to_queues_and_rules_is_in_the_audit_log(client, db, login, world):
    lead = login("lead")
    _post(client, "/routing/queues", {"name": "VIP"})
    vip = _queue(db, "vip").id
    _post(client, f"/routing/queues/{vip}", {"name": "VIP customers", "description": "Big accounts"})
    _post(client, f"/routing/queues/{vip}/move", {"direction": "up"})
    _post(client, "/routing/rules", {"queue_id": str(vip), "network": "x", "enabled": "1"})
    rule = db.scalar(select(RoutingRule.id).where(RoutingRule.queue_id == vip))
    _post(client, f"/routing/rules/{rule}", {"queue_id": str(vip), "network": "instagram"})
    _post(client, f"/routing/rules/{rule}/enabled", {"enabled": "0"})
    _post(client, f"/routing/rules/{rule}/move", {"direction": "up"})
    _post(client, f"/routing/rules/{rule}/delete")
    _post(client, f"/routing/queues/{vip}/delete")
    assert _queue(db, "vip") is None
    actions = ["queue added", "queue changed", "queue moved", "rule added", "rule changed", "rule switched",
               "rule moved", "rule deleted", "queue deleted"]
    events = {a: _setting_events(db, a) for a in actions}
    assert {a: len(e) for a, e in events.items()} == dict.fromkeys(actions, 1)
    assert all(e[0].actor.username == lead for e in events.values())
    renamed = events["queue changed"][0]
    assert renamed.detail["before"] == {"name": "VIP", "description": ""} and "VIP customers" in renamed.reason
    assert events["rule changed"][0].detail["after"] == {"network": "instagram"}
    assert events["rule switched"][0].detail["after"] == {"enabled": False}
    assert "network is instagram → VIP customers" in events["rule deleted"][0].reason
    page = client.get("/audit?q=VIP+customers").get_data(as_text=True)  # leads read the log too
    assert all(action in page for action in ("queue deleted", "queue moved", "rule added"))


def test_refused_queue_deletions_write_no_event(client, db, login, world):
    login("lead")
    assert _post(client, f"/routing/queues/{_queue(db, 'other').id}/delete").status_code == 400
    assert _post(client, f"/routing/queues/{world['queue']}/delete").status_code == 400  # a rule still sends there
    assert _setting_events(db, "queue deleted") == []


def test_trying_a_text_uses_the_same_router_as_tagging(client, db, login, world):
    from triage.routing.rules import Router
    from triage.routing.settings import try_text

    trial = try_text(db, "hello from the press office", "press", None)
    rule_id, queue_id = Router(db).match(intent=trial.tags.intent, sentiment=trial.tags.sentiment, network="press",
                                         priority=trial.rank.score, urgent=trial.rank.urgent)
    assert (trial.rule.id, trial.queue.id) == (rule_id, queue_id) == (world["rule"], world["queue"])
    assert trial.number == db.scalar(select(func.count()).select_from(RoutingRule))  # the last of the rules
    db.get(RoutingRule, world["rule"]).enabled = False  # a rule switched off routes nothing, here as in tagging
    db.flush()
    off = try_text(db, "hello from the press office", "press", None)
    assert off.rule is None and off.queue.slug == "other"


def test_the_settings_functions_read_form_values_as_typed(db, make_user, world):
    """The views hand fields over as typed; the domain functions clean, convert and refuse them (for every shell)."""
    from triage.core.errors import Invalid
    from triage.people.teams import add_team
    from triage.routing.settings import add_queue, add_rule, try_text
    from triage.work.saved_replies import add_reply

    lead, admin = make_user("typist", "lead"), make_user("boss", "admin")
    rule = add_rule(db, lead, {"queue_id": f" {world['queue']} ", "intent": "", "sentiment": "negative",
                               "network": " Instagram ", "min_priority": "40", "urgent": "yes"})
    assert (rule.queue_id, rule.intent, rule.sentiment, rule.network, rule.min_priority, rule.urgent) == (
        world["queue"], None, "negative", "instagram", 40, True)
    queue = add_queue(db, lead, "  Press  desk ", "", str(world["team"]))
    assert (queue.name, queue.team_id) == ("Press  desk", world["team"])
    assert add_reply(db, lead, " Thanks ", " Thank you {author}! ", "").title == "Thanks"
    assert add_team(db, admin, " Night shift ").name == "Night shift"
    assert try_text(db, "  my bag is lost  ", "", " 1200 ").rank.score >= 0
    refusals = [
        (lambda: add_rule(db, lead, {"queue_id": str(world["queue"]), "min_priority": "high"}), "a whole number"),
        (lambda: add_rule(db, lead, {"queue_id": "", "urgent": ""}), "Choose a queue"),
        (lambda: add_rule(db, lead, {"queue_id": "²"}), "There is no queue with id “²”"),
        (lambda: add_rule(db, lead, {"queue_id": str(world["queue"]), "network": "x" * 33}), "Network is too long"),
        (lambda: add_queue(db, lead, "New", "d" * 301), "Description is too long"),
        (lambda: add_queue(db, lead, "New", "", "abc"), "There is no team with id “abc”"),
        (lambda: add_reply(db, lead, "t" * 121, "Hello"), "Title is too long"),
        (lambda: add_team(db, admin, "x" * 81), "Team name is too long"),
        (lambda: try_text(db, "hi", "x", "many"), "Followers must be a whole number"),
        (lambda: try_text(db, " ", "x", ""), "Type a text"),
    ]
    for refused, message in refusals:
        with pytest.raises(Invalid, match=message):
            refused()


# Sources ----------------------------------------------------------------------------------------------------------

def test_lead_adds_an_rss_source(client, db, login, world):
    login("lead")
    response = _post(client, "/sources/rss/new", {"name": "Reddit r/northwind", "url": "https://www.reddit.com/r/x/.rss",
                                                  "network": "Reddit", "interval": "120",
                                                  "brand_handles": "@NorthwindHelp, northwind,"})
    assert response.status_code == 302
    db.rollback()
    source = db.scalar(select(Source).where(Source.name == "Reddit r/northwind"))
    assert (source.kind, source.config, source.interval_seconds, source.brand_handles, source.enabled) == (
        "rss", {"url": "https://www.reddit.com/r/x/.rss", "network": "reddit"}, 120, ["northwind", "northwindhelp"],
        True)


@pytest.mark.parametrize(("data", "message"), [
    ({"url": "ftp://example.com/feed"}, "must start with http:// or https://"),
    ({"url": "javascript:alert(1)"}, "must start with http:// or https://"),
    ({"url": "https://"}, "must start with http:// or https://"),
    ({"url": ""}, "Feed URL is empty."),
    ({"name": "reddit FEED"}, "There is a source called “Reddit feed” already."),
    ({"name": ""}, "Name is empty."),
    ({"interval": "5"}, "between 30 and 86,400"),
    ({"brand_handles": "north wind"}, "is not a handle"),
])
def test_bad_rss_sources_are_refused(client, db, login, world, data, message):
    login("lead")
    before = _state(db)
    form = {"name": "New feed", "url": "https://example.com/feed", "interval": "300", **data}
    response = _post(client, "/sources/rss/new", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page
    assert f'value="{form["name"]}"' in page
    assert _state(db) == before


def test_lead_edits_pauses_and_resumes_a_source(client, db, login, world):
    login("lead")
    source_id = world["running"]
    db.get(Source, source_id).cursor = {"etag": "abc", "seen": ["1"]}
    db.commit()
    response = _post(client, f"/sources/{source_id}/edit", {"name": "Reddit", "url": "https://example.com/a.rss",
                                                           "network": "reddit", "interval": "600",
                                                           "brand_handles": "northwind"})
    assert response.status_code == 302
    source = _fresh(db, Source, source_id)
    assert (source.name, source.interval_seconds, source.brand_handles, source.cursor) == (
        "Reddit", 600, ["northwind"], {"etag": "abc", "seen": ["1"]})
    # Another URL is another feed: what was seen of the old one no longer applies.
    _post(client, f"/sources/{source_id}/edit", {"name": "Reddit", "url": "https://example.com/new.rss",
                                                "network": "reddit", "interval": "600"})
    source = _fresh(db, Source, source_id)
    assert source.config["url"] == "https://example.com/new.rss" and source.cursor == {}

    assert _post(client, f"/sources/{source_id}/pause").status_code == 302
    assert _fresh(db, Source, source_id).enabled is False
    assert "(paused)" in client.get("/sources").get_data(as_text=True)
    assert _post(client, f"/sources/{source_id}/resume", {"back": "edit"}).headers["Location"].endswith(
        f"/sources/{source_id}/edit")
    assert _fresh(db, Source, source_id).enabled is True


def _setting_events(db, action: str) -> list[Event]:
    db.rollback()
    return list(db.scalars(select(Event).where(Event.action == action, Event.mention_id.is_(None))
                           .order_by(Event.id)))


def test_each_change_to_a_source_is_in_the_audit_log(client, db, login, world):
    lead = login("lead")
    _post(client, "/sources/rss/new", {"name": "Forum", "url": "https://me:hunter2@forum.example/feed?key=s3cret",
                                       "interval": "120", "brand_handles": "@Northwind"})
    source_id = db.scalar(select(Source.id).where(Source.name == "Forum"))
    _post(client, f"/sources/{source_id}/edit", {"name": "Forum EN", "url": "https://forum.example/feed",
                                                "interval": "600", "brand_handles": "northwind, help"})
    _post(client, f"/sources/{source_id}/pause")
    _post(client, f"/sources/{source_id}/resume")
    (added,), (changed,) = _setting_events(db, "source added"), _setting_events(db, "source changed")
    assert added.actor.username == lead and "Forum" in added.reason and added.detail["after"]["interval_seconds"] == 120
    assert "hunter2" not in str(added.detail) and "s3cret" not in str(added.detail)  # a feed URL may carry a key
    assert changed.detail["before"] == {"name": "Forum", "interval_seconds": 120, "brand_handles": ["northwind"]}
    assert changed.detail["after"] == {"name": "Forum EN", "interval_seconds": 600,
                                       "brand_handles": ["help", "northwind"]}
    assert "Forum EN" in changed.reason and "interval seconds" in changed.reason
    toggled = _setting_events(db, "source paused") + _setting_events(db, "source resumed")
    assert [e.detail["after"] for e in toggled] == [{"enabled": False}, {"enabled": True}]
    page = client.get("/audit?q=Forum+EN").get_data(as_text=True)  # leads read the log too
    assert all(action in page for action in ("source changed", "source paused", "source resumed"))


def test_a_refused_source_change_writes_no_event(client, db, login, world):
    login("lead")
    assert _post(client, "/sources/rss/new", {"name": "Fast", "url": "https://e.com/x", "interval": "5"}
                 ).status_code == 400
    assert _post(client, f"/sources/{world['running']}/edit", {"name": "", "url": "https://e.com/x"}).status_code == 400
    assert _setting_events(db, "source added") == _setting_events(db, "source changed") == []


def test_editing_a_source_with_bad_input_is_refused(client, db, login, world, make_source):
    login("lead")
    pushed = make_source("Zapier", "api")
    before = _state(db)
    response = _post(client, f"/sources/{world['running']}/edit", {"name": "Forum FEED", "url": "https://e.com/x",
                                                                  "interval": "300"})
    assert response.status_code == 400 and "There is a source called “Forum feed” already." in response.get_data(
        as_text=True)
    response = _post(client, f"/sources/{pushed.id}/edit", {"name": "Zapier", "brand_handles": "a b"})
    assert response.status_code == 400 and "is not a handle" in response.get_data(as_text=True)
    assert _state(db) == before
    assert client.get("/sources/424242/edit").status_code == 404


def test_the_sources_page_links_to_management_and_shows_errors_escaped(client, db, login, world):
    source = db.get(Source, world["running"])
    source.last_error = "feed is not XML: <html><script>x</script>"
    db.commit()
    login("lead")
    page = client.get("/sources").get_data(as_text=True)
    assert f"/sources/{world['running']}/edit" in page and "/sources/rss/new" in page
    assert f"/sources/{world['running']}/pause" in page and f"/sources/{world['paused']}/resume" in page
    edit = client.get(f"/sources/{world['running']}/edit").get_data(as_text=True)
    assert "feed is not XML: &lt;html&gt;&lt;script&gt;" in edit and "<script>x" not in edit


def test_agents_see_sources_without_management_links(client, login, world):
    login("agent")
    page = client.get("/sources").get_data(as_text=True)
    assert "Reddit feed" in page and "/edit" not in page and "/pause" not in page and "/sources/rss/new" not in page


def test_a_forged_csrf_token_changes_nothing(client, db, login, world):
    login("admin")
    before = _state(db)
    response = client.post("/routing/queues", data={"name": "VIP", "csrf_token": "forged"})
    assert response.status_code == 400
    assert _state(db) == before


# In a real browser --------------------------------------------------------------------------------------------------

@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def _log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queues")


def test_a_lead_writes_a_saved_reply_and_a_routing_rule_in_the_browser(server, page, db, make_user, world):
    make_user("lee", "lead")
    db.get(User, db.scalar(select(User.id).where(User.username == "lee"))).display_name = "Lee Lead"
    db.commit()
    ARTIFACTS.mkdir(exist_ok=True)
    _log_in(page, server, "lee")

    page.click("nav >> text=Saved replies")
    form = page.locator("#new form")
    form.locator("input[name=title]").fill("Lost bag: first answer")
    form.locator("select[name=intent]").select_option("complaint")
    form.locator("textarea[name=body]").fill("Hi {name}, sorry about your bag! DM us your booking reference. ^{agent}")
    # The preview fills in the placeholders while the lead types, before anything is saved.
    preview = form.locator("[data-preview-text]")
    preview.filter(has_text="Hi Dana Whitfield, sorry about your bag!").wait_for(timeout=5_000)
    assert preview.inner_text().endswith("^Lee Lead")
    page.screenshot(path=str(ARTIFACTS / "saved-reply-preview.png"), full_page=True)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server}/saved-replies")
    card = page.locator('li[data-reply="Lost bag: first answer"]')
    assert "used 0 times" in card.inner_text() and "Hi Dana Whitfield" in card.inner_text()
    page.screenshot(path=str(ARTIFACTS / "saved-replies.png"), full_page=True)

    page.click("nav >> text=Routing")
    add = page.locator("#add-rule form")
    add.locator("input[name=network]").fill("instagram")
    add.locator("select[name=intent]").select_option("complaint")
    add.locator("select[name=queue_id]").select_option(label="Press")
    add.locator("button[type=submit]").click()
    page.wait_for_url(f"{server}/routing#rules")
    assert "Added a rule: intent is complaint and network is instagram → Press" in page.locator(".flash").inner_text()
    new_row = page.locator("#rules tbody tr").last
    assert "network is instagram" in new_row.inner_text()
    for _ in range(6):  # up to the top, one click at a time, as a lead would
        page.locator("#rules tbody tr").filter(has_text="network is instagram").locator("button[aria-label$=' up']") \
            .click()
        page.wait_for_load_state()
    assert "network is instagram" in page.locator("#rules tbody tr").first.inner_text()
    page.locator("#rules tbody tr").first.locator("text=Edit").click()
    page.locator("select[name=sentiment]").select_option("negative")
    page.click("text=Save rule")
    page.wait_for_url(f"{server}/routing#rules")
    assert "intent is complaint and sentiment is negative and network is instagram" in page.locator(
        "#rules tbody tr").first.inner_text()

    page.fill("#try textarea[name=text]", "@northwind you lost my bag again, worst airline ever")
    page.fill("#try input[name=network]", "instagram")
    page.click("#try button[type=submit]")
    assert "Lands in Press by rule 1" in page.locator(".trial .lands").inner_text()
    page.screenshot(path=str(ARTIFACTS / "routing.png"), full_page=True)


def test_an_admin_adds_a_user_in_the_browser(server, page, db, make_user, world):
    make_user("avery", "admin")
    ARTIFACTS.mkdir(exist_ok=True)
    _log_in(page, server, "avery")
    page.click("nav >> text=Users")
    form = page.locator("#add-user form")
    form.locator("input[name=username]").fill("robin")
    form.locator("input[name=display_name]").fill("Robin Reyes")
    form.locator("select[name=role]").select_option("lead")
    form.locator("select[name=team_id]").select_option(label="Social care")
    form.locator("input[name=password]").fill("short")
    form.locator("button[type=submit]").click()  # the browser's own check refuses 5 characters first
    assert page.url == f"{server}/admin/users"
    form.locator("input[name=password]").fill("a long passphrase")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server}/admin/users")
    assert "Added Robin Reyes (robin) as lead." in page.locator(".flash").inner_text()
    assert "Social care" in page.locator('tr[data-user="robin"]').inner_text()
    page.screenshot(path=str(ARTIFACTS / "admin-users.png"), full_page=True)
    page.click('tr[data-user="robin"] >> text=Manage')
    page.fill("input[name=password]", "a new passphrase")
    page.fill("input[name=confirm]", "a new passphrase!")
    page.click("text=Set password")
    assert "The two passwords differ." in page.locator(".flash.error").inner_text()
    page.screenshot(path=str(ARTIFACTS / "admin-user.png"), full_page=True)
    page.goto(f"{server}/admin/teams")
    page.screenshot(path=str(ARTIFACTS / "admin-teams.png"), full_page=True)
    source = db.get(Source, world["running"])
    source.last_error = "HTTP 404 from https://example.com/a.rss: check the feed URL"
    db.commit()
    page.goto(f"{server}/sources")
    page.locator("tr", has_text="Reddit feed").locator("text=Edit").click()
    assert "HTTP 404 from https://example.com/a.rss" in page.locator(".source-error").inner_text()
    page.click("text=Pause polling")
    page.locator("text=Resume polling").wait_for()
    assert "paused" in page.locator(".flash.info").inner_text()
    page.screenshot(path=str(ARTIFACTS / "source-edit.png"), full_page=True)
    page.goto(f"{server}/sources")
    page.screenshot(path=str(ARTIFACTS / "sources.png"), full_page=True)
