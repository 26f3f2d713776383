"""The API refuses what it cannot use with a 400 that says why, and offers every action the item page offers."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from tests.factories import queued_mention, queued_mentions
from triage.core import errors
from triage.models import Author, Event, Label, Mention, Response, SavedReply
from triage.people.accounts import create_token
from triage.work import replies


@pytest.fixture
def api(client, db, make_user):
    tokens = {}
    for name, role in (("alex", "agent"), ("lee", "lead"), ("sam", "supervisor")):
        make_user(name, role)
        tokens[name] = create_token(db, name)
    db.commit()

    def call(method, url, user="alex", **kwargs):
        return client.open(url, method=method, headers={"Authorization": f"Bearer {tokens[user]}"}, **kwargs)

    return call


def _refused(response, *words: str) -> str:
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    message = response.get_json()["error"]
    for word in words:
        assert word in message
    return message


def _saved_reply(db) -> SavedReply:
    saved = SavedReply(title="Sorry", body="Sorry {author}!")
    db.add(saved)
    db.commit()
    return saved


# Typed bodies: nothing is coerced, nothing crashes.

@pytest.mark.parametrize("path,body,field", [
    ("reply", {"text": True}, "text"), ("reply", {"text": 12}, "text"), ("reply", {"text": ["hi"]}, "text"),
    ("notes", {"text": {"a": 1}}, "text"), ("escalate", {"to": "lead", "reason": False}, "reason"),
    ("assign", {"user": 7}, "user"), ("relabel", {"intent": 1}, "intent"),
])
def test_a_field_of_the_wrong_type_is_refused_not_stored(api, db, path, body, field):
    m = queued_mention(db)
    _refused(api("POST", f"/api/v1/mentions/{m.id}/{path}", user="lee", json=body), f"'{field}' must be a string")
    db.expire_all()
    assert db.scalar(select(Response)) is None
    assert [e.action for e in db.scalars(select(Event).where(Event.mention_id == m.id))] == ["queued"]


@pytest.mark.parametrize("value", [[1], {"id": 1}, "1", True, 2**31, 2**63, 10**30, 0, -5, 1.5])
def test_saved_reply_id_must_be_a_row_id(api, db, value):
    m = queued_mention(db)
    _refused(api("POST", f"/api/v1/mentions/{m.id}/reply", json={"text": "Sorry!", "saved_reply_id": value}),
             "saved_reply_id")
    assert db.scalar(select(Response)) is None


def test_saved_reply_id_of_no_saved_reply_is_refused_and_a_real_one_is_counted(api, db):
    m = queued_mention(db)
    _refused(api("POST", f"/api/v1/mentions/{m.id}/reply", json={"text": "Sorry!", "saved_reply_id": 999999}),
             "no saved reply 999999")
    saved = _saved_reply(db)
    ok = api("POST", f"/api/v1/mentions/{m.id}/reply", json={"text": "Sorry!", "saved_reply_id": saved.id})
    assert ok.status_code == 202
    db.refresh(saved)
    assert saved.uses == 1


def test_the_domain_refuses_a_saved_reply_id_past_the_database_range(db, make_user):
    """The web form's `type=int` gives a huge number as it came; the domain, not the database, refuses it."""
    m = queued_mention(db)
    agent = make_user("ada")
    with pytest.raises(errors.Invalid, match="no saved reply"):
        replies.reply(db, m.id, agent, "Sorry!", saved_reply_id=2**70)


@pytest.mark.parametrize("data", [b"[1, 2]", b'"text"', b"42", b"null", b"{nope", b"\xff\xfe{",
                                  b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
def test_a_body_that_is_not_one_json_object_is_refused(api, db, data):
    m = queued_mention(db)
    response = api("POST", f"/api/v1/mentions/{m.id}/notes", data=data, content_type="application/json")
    _refused(response)


def test_unknown_fields_and_missing_ones_are_named(api, db):
    m = queued_mention(db)
    _refused(api("POST", f"/api/v1/mentions/{m.id}/reply", json={"text": "hi", "txet": "typo"}), "unknown field 'txet'")
    _refused(api("POST", f"/api/v1/mentions/{m.id}/escalate", json={"to": "lead"}), "'reason' is required")
    _refused(api("POST", f"/api/v1/mentions/{m.id}/notes"), "'text' is required")


@pytest.mark.parametrize("text", ["nul\x00byte", "lone \ud800 surrogate"])
def test_text_that_cannot_be_stored_is_refused(api, db, text):
    m = queued_mention(db)
    _refused(api("POST", f"/api/v1/mentions/{m.id}/escalate", json={"to": text, "reason": text}), "not valid text")


@pytest.mark.parametrize("limit", ["0", "-1", "201", "abc", "1e3", "", "99999999999999999999999", "²", "5" * 5000])
def test_limit_out_of_range_or_not_a_number_is_refused(api, db, limit):
    queued_mention(db)
    _refused(api("GET", "/api/v1/queues/complaints/mentions", query_string={"limit": limit}), "limit")


def test_limit_within_range_is_used(api, db):
    queued_mentions(db, "@northwind my parcel is late", "@northwind parcel late AGAIN, worst service ever")
    assert len(api("GET", "/api/v1/queues/complaints/mentions?limit=1").get_json()) == 1
    assert len(api("GET", "/api/v1/queues/complaints/mentions?limit=200").get_json()) == 2


def test_a_queue_name_with_a_nul_is_refused(api, db):
    response = api("GET", "/api/v1/queues/ur%00gent/mentions")
    assert response.status_code in (400, 404) and response.get_json()["error"]


# Errors say what happened, in JSON, with the headers HTTP asks for.

def test_a_method_a_path_does_not_have_is_405_with_allow_and_json(api, client):
    response = api("DELETE", "/api/v1/queues")
    assert response.status_code == 405 and "error" in response.get_json()
    assert set(response.headers["Allow"].split(", ")) >= {"GET"}
    response = client.put("/api/v1/mentions/1/claim")
    assert response.status_code == 405 and "POST" in response.headers["Allow"] and response.is_json


def test_too_many_requests_is_429_in_json_with_retry_after(settings, db, make_user):
    from triage.web import create_app

    app = create_app(dataclasses.replace(settings, api_limit="2 per minute"))
    client = app.test_client()
    make_user("busy", "agent")
    headers = {"Authorization": f"Bearer {create_token(db, 'busy')}"}
    db.commit()
    assert [client.get("/api/v1/queues", headers=headers).status_code for _ in range(2)] == [200, 200]
    limited = client.get("/api/v1/queues", headers=headers)
    assert limited.status_code == 429 and limited.is_json and "too many requests" in limited.get_json()["error"]
    assert int(limited.headers["Retry-After"]) > 0
    assert client.get("/healthz").status_code in (200, 503)  # health checks are not counted


# Every action of the item page, through the same domain functions.

@pytest.mark.parametrize("path,status,action", [("spam", "spam", "marked spam"),
                                                ("irrelevant", "irrelevant", "marked not relevant")])
def test_mark_spam_and_not_relevant(api, db, path, status, action):
    m = queued_mention(db)
    assert api("POST", f"/api/v1/mentions/{m.id}/{path}", user="sam").status_code == 403
    done = api("POST", f"/api/v1/mentions/{m.id}/{path}")
    assert done.status_code == 200 and done.get_json()["status"] == status
    assert done.get_json()["events"][-1]["action"] == action
    assert api("POST", f"/api/v1/mentions/{m.id}/{path}").status_code == 409  # closed already
    assert api("POST", "/api/v1/mentions/999999/spam").status_code == 404


def test_relabel_moves_it_and_keeps_the_correction(api, db):
    m = queued_mention(db, "@northwind how do I change my seat?")
    assert m.intent == "question"
    _refused(api("POST", f"/api/v1/mentions/{m.id}/relabel", json={}), "give a sentiment or an intent")
    _refused(api("POST", f"/api/v1/mentions/{m.id}/relabel", json={"intent": "rant"}), "intent must be one of")
    done = api("POST", f"/api/v1/mentions/{m.id}/relabel", json={"intent": "complaint", "sentiment": "negative"})
    body = done.get_json()
    assert done.status_code == 200 and (body["intent"], body["sentiment"], body["queue"]) == (
        "complaint", "negative", "complaints")
    assert body["events"][-1]["action"] == "relabeled"
    label = db.scalar(select(Label).where(Label.mention_id == m.id))
    assert (label.intent, label.sentiment, label.origin) == ("complaint", "negative", "correction")


def test_link_accounts_offered_by_the_mention(api, db):
    x = queued_mention(db, network="x", author="dana_x", author_name="Dana Reyes")
    other = queued_mention(db, network="bluesky", author="dana.bsky", author_name="Dana Reyes")
    detail = api("GET", f"/api/v1/mentions/{x.id}").get_json()
    assert [a["handle"] for a in detail["possibly_same"]] == ["dana.bsky"]
    candidate = detail["possibly_same"][0]["id"]
    _refused(api("POST", f"/api/v1/mentions/{x.id}/link", json={"author_id": "dana.bsky"}), "author_id")
    _refused(api("POST", f"/api/v1/mentions/{x.id}/link", json={"author_id": detail["author"]["id"]}),
             "two different")
    assert api("POST", f"/api/v1/mentions/{x.id}/link", user="sam", json={"author_id": candidate}).status_code == 403
    linked = api("POST", f"/api/v1/mentions/{x.id}/link", json={"author_id": candidate})
    assert linked.status_code == 200
    assert [a["handle"] for a in linked.get_json()["linked_accounts"]] == ["dana.bsky"]
    assert linked.get_json()["events"][-1]["action"] == "linked accounts"
    db.expire_all()
    assert db.get(Author, x.author_id).customer_id == db.get(Author, other.author_id).customer_id is not None


def test_retry_a_failed_reply(api, db):
    m = queued_mention(db)
    reply = api("POST", f"/api/v1/mentions/{m.id}/reply", json={"text": "Sorry!"}).get_json()["response"]
    url = f"/api/v1/mentions/{m.id}/responses/{reply['id']}/retry"
    assert api("POST", url).status_code == 409  # pending, not failed
    db.get(Response, reply["id"]).delivery_status = "failed"
    db.commit()
    assert api("POST", url, user="sam").status_code == 403
    other = queued_mention(db)
    assert api("POST", f"/api/v1/mentions/{other.id}/responses/{reply['id']}/retry").status_code == 404
    retried = api("POST", url)
    assert retried.status_code == 202 and retried.get_json()["response"]["delivery_status"] == "pending"
    db.expire_all()
    assert db.get(Response, reply["id"]).delivery_status == "pending"
    event = db.scalar(select(Event).where(Event.mention_id == m.id, Event.action == "retried reply"))
    assert event.detail["response_id"] == reply["id"] and event.actor.username == "alex"


def test_the_mention_says_where_it_is_who_wrote_it_and_when_it_is_due(api, db):
    m = queued_mention(db, url="https://x.example/status/1")
    body = api("GET", f"/api/v1/mentions/{m.id}").get_json()
    assert body["url"] == "https://x.example/status/1"
    assert body["author"]["id"] == m.author_id and body["author"]["handle"]
    assert body["first_response_due_at"] and body["resolution_due_at"]
    db.expire_all()
    assert db.get(Mention, m.id).status == "open"
