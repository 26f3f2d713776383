"""Working the queues through the web app: each action by role, with clear refusals that change nothing."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.conftest import _csrf, record
from tests.factories import queued_mention, queued_mentions
from triage.models import Event, Mention, Notification, Response, SavedReply, User
from triage.work import claims


def _token(client, mention_id=None) -> str:
    return _csrf(client.get(f"/mentions/{mention_id}" if mention_id else "/work").get_data(as_text=True))


def _post(client, url, token, **data):
    return client.post(url, data={"csrf_token": token, **data})


def _user(db, username) -> User:
    return db.scalar(select(User).where(User.username == username))


def test_agent_claims_and_replies_and_the_worker_sends_it(client, db, login, run_worker):
    login("agent", "alex")
    m = queued_mention(db, source_name="Demo", kind="demo")
    token = _token(client, m.id)
    assert _post(client, f"/mentions/{m.id}/claim", token).status_code == 302
    response = _post(client, f"/mentions/{m.id}/reply", token, text="So sorry, @customer! DM us please.")
    assert response.status_code == 302
    db.expire_all()
    [reply] = db.scalars(select(Response)).all()
    assert reply.delivery_status == "pending" and reply.user_id == _user(db, "alex").id
    run_worker()
    db.expire_all()
    assert db.get(Response, reply.id).delivery_status == "sent"
    page = client.get(f"/mentions/{m.id}").get_data(as_text=True)
    assert "✓ sent" in page and "So sorry, @customer!" in page
    assert [e.action for e in db.scalars(select(Event).where(Event.mention_id == m.id).order_by(Event.id))] == [
        "queued", "claimed", "replied", "reply sent"]


def test_a_source_that_cannot_post_asks_for_the_reply_by_hand(client, db, login, run_worker):
    login("agent", "alex")
    m = queued_mention(db, url="https://forum.example/t/123")
    _post(client, f"/mentions/{m.id}/reply", _token(client, m.id), text="We are on it.")
    run_worker()
    page = client.get(f"/mentions/{m.id}").get_data(as_text=True)
    assert "to be posted by hand" in page and "https://forum.example/t/123" in page


def test_a_failed_delivery_is_visible_and_can_be_retried(client, db, login, run_worker):
    login("agent", "alex")
    m = queued_mention(db, source_name="Flaky", kind="demo", config={"reply_failure_rate": 1.0})
    _post(client, f"/mentions/{m.id}/reply", _token(client, m.id), text="Hello!")
    run_worker()  # first attempt fails; RQ schedules its retries for later
    db.expire_all()
    reply = db.scalar(select(Response))
    assert reply.delivery_status == "failed" and "503" in reply.last_error and reply.attempts == 1
    page = client.get(f"/mentions/{m.id}").get_data(as_text=True)
    assert "failed after 1 attempt" in page and "Retry now" in page
    from triage.models import Source

    source = db.scalar(select(Source).where(Source.name == "Flaky"))
    source.config = {}
    db.commit()
    assert _post(client, f"/mentions/{m.id}/responses/{reply.id}/retry", _token(client, m.id)).status_code == 302
    run_worker()
    db.expire_all()
    assert db.get(Response, reply.id).delivery_status == "sent" and db.get(Response, reply.id).attempts == 2


def test_stale_form_claimed_by_someone_else_meanwhile_is_refused(client, db, login, make_user):
    login("agent", "alex")
    jordan = make_user("jordan")
    m = queued_mention(db)
    token = _token(client, m.id)  # alex opened the page while nobody held it
    claims.claim(db, m.id, jordan)
    db.commit()
    response = _post(client, f"/mentions/{m.id}/reply", token, text="Me first!")
    assert response.status_code == 409
    assert "Jordan is working on this mention" in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Response)) == 0


def test_empty_and_too_long_replies_are_refused(client, db, login):
    login("agent")
    m = queued_mention(db, network="x")
    token = _token(client, m.id)
    empty = _post(client, f"/mentions/{m.id}/reply", token, text="   ")
    assert empty.status_code == 400 and "the reply is empty" in empty.get_data(as_text=True)
    long = _post(client, f"/mentions/{m.id}/reply", token, text="z" * 281)
    assert long.status_code == 400 and "x allows 280" in long.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Response)) == 0
    db.expire_all()
    assert db.get(Mention, m.id).status == "open"


def test_forged_csrf_token_is_refused(client, db, login):
    login("agent")
    m = queued_mention(db)
    response = _post(client, f"/mentions/{m.id}/claim", "forged-token")
    assert response.status_code == 400
    db.expire_all()
    assert db.get(Mention, m.id).claimed_by_id is None


def test_unknown_mention_is_404(client, db, login):
    login("agent")
    token = _token(client)
    assert client.get("/mentions/987654").status_code == 404
    assert _post(client, "/mentions/987654/claim", token).status_code == 404
    assert _post(client, "/mentions/987654/reply", token, text="hi").status_code == 404


def test_supervisor_cannot_change_items_but_can_read_and_note(client, db, login):
    login("supervisor")
    m = queued_mention(db)
    token = _token(client, m.id)
    for action, data in (("claim", {}), ("resolve", {}), ("reply", {"text": "hi"}),
                         ("escalate", {"to": "lead", "reason": "x"}), ("assign", {"user": "x"})):
        assert _post(client, f"/mentions/{m.id}/{action}", token, **data).status_code == 403, action
    assert _post(client, f"/mentions/{m.id}/notes", token, text="Audited").status_code == 302
    db.expire_all()
    mention = db.get(Mention, m.id)
    assert mention.status == "open" and mention.claimed_by_id is None
    assert [e.action for e in db.scalars(select(Event).where(Event.mention_id == m.id).order_by(Event.id))] == [
        "queued", "note"]


def test_escalation_notifies_the_lead_in_the_app(client, db, login, make_user):
    make_user("lee", "lead")
    login("agent", "alex")
    m = queued_mention(db)
    token = _token(client, m.id)
    missing = _post(client, f"/mentions/{m.id}/escalate", token, to="lee", reason="")
    assert missing.status_code == 400 and "give a reason" in missing.get_data(as_text=True)
    assert _post(client, f"/mentions/{m.id}/escalate", token, to="lee", reason="Threatens to sue").status_code == 302
    client.post("/logout", data={"csrf_token": token})
    client.post("/login", data={"username": "lee", "password": "correct horse battery",
                                "csrf_token": _csrf(client.get("/login").get_data(as_text=True))})
    assert 'class="badge">1<' in client.get("/work").get_data(as_text=True)
    assert "Threatens to sue" in client.get("/notifications").get_data(as_text=True)
    escalated = client.get("/work?view=escalated").get_data(as_text=True)
    assert f'data-mention="{m.id}"' in escalated


def test_lead_assigns_many_at_once_and_agents_cannot(client, db, login, make_user):
    make_user("jordan")
    a, b, c = queued_mentions(db, "@northwind a", "@northwind b", "@northwind c")
    login("agent")
    token = _token(client)
    assert client.post("/work/assign", data={"csrf_token": token, "user": "jordan",
                                             "mention": [a.id]}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login("lead")
    token = _token(client)
    response = client.post("/work/assign", data={"csrf_token": token, "user": "jordan", "mention": [a.id, b.id]},
                           follow_redirects=True)
    assert "Assigned 2 mentions." in response.get_data(as_text=True)
    db.expire_all()
    jordan = _user(db, "jordan")
    assert {db.get(Mention, i).owner_id for i in (a.id, b.id)} == {jordan.id}
    assert db.get(Mention, c.id).owner_id is None
    assert db.scalar(select(Notification.message).where(Notification.user_id == jordan.id)).endswith("2 mentions")


def test_views_mine_unassigned_escalated_and_filters(client, db, login):
    login("agent", "alex")
    mine, free, other = queued_mentions(db, record(text="@northwind refund please", network="x"),
                                        record(text="@northwind how do I log in?", network="mastodon"),
                                        record(text="@northwind great job team!", network="x"))
    token = _token(client)
    _post(client, f"/mentions/{mine.id}/claim", token)

    def ids(url):
        return [int(i) for i in re.findall(r'data-mention="(\d+)"', client.get(url).get_data(as_text=True))]

    assert ids("/work?view=mine") == [mine.id]
    assert mine.id not in ids("/work?view=unassigned") and free.id in ids("/work?view=unassigned")
    assert ids("/work?view=all&network=mastodon") == [free.id]
    assert ids("/work?view=all&intent=advocacy") == [other.id]
    assert ids("/work?view=escalated") == []
    assert "No escalations open" in client.get("/work?view=escalated").get_data(as_text=True)
    assert client.get("/work?view=bogus").status_code == 404


def test_next_claims_the_top_item_and_says_when_the_queue_is_empty(client, db, login):
    login("agent")
    low, high = queued_mentions(db, "@northwind late parcel", "@northwind late parcel, I am calling my lawyer")
    token = _token(client)
    queue = high.queue.slug
    response = _post(client, f"/queues/{queue}/next", token)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/mentions/{high.id}")
    again = client.post(f"/queues/{queue}/next", data={"csrf_token": token}, follow_redirects=True)
    assert "Nothing left to claim" in again.get_data(as_text=True)


def test_item_page_shows_history_across_linked_accounts_and_the_timeline(client, db, login):
    login("agent")
    first, second = queued_mentions(
        db, record(text="@northwind lost my bag", author="dana", author_name="Dana W", network="x"),
        record(text="@northwind still no bag", author="dana@social.example", author_name="Dana W", network="mastodon"))
    page = client.get(f"/mentions/{second.id}").get_data(as_text=True)
    assert "Possibly the same person" in page and "First time we hear from them" in page
    token = _csrf(page)
    assert _post(client, f"/mentions/{second.id}/link", token, author_id=first.author_id).status_code == 302
    page = client.get(f"/mentions/{second.id}").get_data(as_text=True)
    assert "lost my bag" in page and "Possibly the same person" not in page
    assert "linked accounts" in page and "queued" in page


def test_presence_tells_who_else_is_looking_and_who_holds_it(app, db, make_user):
    make_user("alex")
    make_user("jordan")
    m = queued_mention(db)
    clients = {}
    for name in ("alex", "jordan"):
        c = app.test_client()
        c.post("/login", data={"username": name, "password": "correct horse battery",
                               "csrf_token": _csrf(c.get("/login").get_data(as_text=True))})
        clients[name] = (c, _csrf(c.get(f"/mentions/{m.id}").get_data(as_text=True)))
    alex, alex_token = clients["alex"]
    jordan, jordan_token = clients["jordan"]
    _post(jordan, f"/mentions/{m.id}/claim", jordan_token)
    state = _post(alex, f"/mentions/{m.id}/presence", alex_token).get_json()
    assert state["viewers"] == ["Jordan"] and state["holder"] == "Jordan" and not state["held_by_me"]
    assert "Jordan</strong> is working on this mention" in alex.get(f"/mentions/{m.id}").get_data(as_text=True)


def test_saved_reply_is_offered_filled_in_on_the_item_page(client, db, login):
    login("agent", "alex")
    db.add(SavedReply(title="Apology", body="Sorry {name}! {agent} from the team here.", intent="complaint"))
    db.commit()
    m = queued_mention(db, author_name="Dana W")
    page = client.get(f"/mentions/{m.id}").get_data(as_text=True)
    assert 'data-text="Sorry Dana W! Alex from the team here."' in page


def test_correcting_tags_moves_the_item_where_it_belongs_and_says_so(client, db, login):
    login("agent", "alex")
    m = queued_mention(db, "@northwind the plane at gate 4 has a new livery")
    assert m.queue.slug == "other"
    token = _token(client, m.id)
    response = _post(client, f"/mentions/{m.id}/relabel", token, intent="complaint", sentiment="negative")
    assert response.status_code == 302
    page = client.get(f"/mentions/{m.id}").get_data(as_text=True)
    db.expire_all()
    moved = db.get(Mention, m.id)
    assert f"the classifier will learn from it. Priority {moved.priority}, in Complaints." in page
    assert "moved Other → Complaints" in page  # the timeline
    assert "tags set by Alex" in page


def test_unsure_tags_are_marked_filtered_and_counted_for_leads(client, db, login):
    sure, unsure = queued_mentions(db, "@northwind you lost my bag and nobody helps, refund me now",
                                   "@northwind flying to Oslo tomorrow")
    db.execute(Mention.__table__.update().where(Mention.id == unsure.id).values(intent_confidence=0.41))
    db.commit()
    login("lead", "lee")
    listing = client.get("/work?tags=unsure").get_data(as_text=True)
    assert f'data-mention="{unsure.id}"' in listing and f'data-mention="{sure.id}"' not in listing
    assert 'aria-label="unsure">?</span>' in listing
    page = client.get("/model").get_data(as_text=True)
    assert 'data-unsure="1"' in page and "1 open item has tags the classifier is unsure of" in " ".join(page.split())
    # A person's correction settles it: the item leaves the list.
    token = _token(client, unsure.id)
    _post(client, f"/mentions/{unsure.id}/relabel", token, intent="other")
    assert f'data-mention="{unsure.id}"' not in client.get("/work?tags=unsure").get_data(as_text=True)
