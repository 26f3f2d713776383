"""The workflow through the JSON API, as an integration would use it."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import queued_mention, queued_mentions
from triage.models import Mention, Response
from triage.people.accounts import create_token


@pytest.fixture
def api(client, db, make_user):
    tokens = {}
    for name, role in (("alex", "agent"), ("jordan", "agent"), ("lee", "lead"), ("sam", "supervisor")):
        make_user(name, role)
        tokens[name] = create_token(db, name)
    db.commit()

    def call(method, url, user="alex", **kwargs):
        return client.open(url, method=method, headers={"Authorization": f"Bearer {tokens[user]}"}, **kwargs)

    return call


def test_queues_and_their_mentions_in_working_order(api, db):
    low, high = queued_mentions(db, "@northwind my parcel is late", "@northwind parcel late AGAIN, worst service ever")
    queues = api("GET", "/api/v1/queues").get_json()
    assert [q["name"] for q in queues] == ["urgent", "complaints", "questions", "advocacy", "other"]
    assert next(q for q in queues if q["name"] == "complaints")["open"] == 2
    items = api("GET", "/api/v1/queues/complaints/mentions").get_json()
    assert [i["id"] for i in items] == [high.id, low.id]
    assert items[0]["priority_reasons"] and items[0]["author"]["handle"]
    assert api("GET", "/api/v1/queues/nope/mentions").status_code == 404


def test_claim_next_until_empty_then_204(api, db):
    a, b = queued_mentions(db, "@northwind refund missing", "@northwind broken on arrival, refund")
    got = {api("POST", "/api/v1/queues/complaints/claim-next").get_json()["id"] for _ in range(2)}
    assert got == {a.id, b.id}
    assert api("POST", "/api/v1/queues/complaints/claim-next").status_code == 204


def test_claim_conflict_is_409_with_who_holds_it(api, db):
    m = queued_mention(db)
    assert api("POST", f"/api/v1/mentions/{m.id}/claim").status_code == 200
    refused = api("POST", f"/api/v1/mentions/{m.id}/claim", user="jordan")
    assert refused.status_code == 409 and "Alex is working on this mention" in refused.get_json()["error"]


def test_reply_escalate_assign_resolve_reopen_and_notes(api, db):
    m = queued_mention(db)
    replied = api("POST", f"/api/v1/mentions/{m.id}/reply", json={"text": "Sorry! DM us."})
    assert replied.status_code == 202 and replied.get_json()["response"]["delivery_status"] == "pending"
    assert api("POST", f"/api/v1/mentions/{m.id}/reply", json={"text": ""}).status_code == 400
    assert api("POST", f"/api/v1/mentions/{m.id}/reply", data=b"{nope", content_type="application/json"
               ).status_code == 400
    escalated = api("POST", f"/api/v1/mentions/{m.id}/escalate", json={"to": "lead", "reason": "VIP customer"})
    assert escalated.status_code == 200 and escalated.get_json()["owner"] == "lee"
    assert api("POST", f"/api/v1/mentions/{m.id}/assign", json={"user": "jordan"}).status_code == 403
    assigned = api("POST", f"/api/v1/mentions/{m.id}/assign", user="lee", json={"user": "jordan"})
    assert assigned.get_json()["claimed_by"] == "jordan"
    assert api("POST", f"/api/v1/mentions/{m.id}/resolve", user="jordan").get_json()["status"] == "resolved"
    assert api("POST", f"/api/v1/mentions/{m.id}/reopen").get_json()["status"] == "answered"
    noted = api("POST", f"/api/v1/mentions/{m.id}/notes", user="sam", json={"text": "Reviewed"})
    assert noted.status_code == 201
    detail = api("GET", f"/api/v1/mentions/{m.id}").get_json()
    assert [e["action"] for e in detail["events"]] == [
        "queued", "claimed", "replied", "escalated", "assigned", "resolved", "reopened", "note"]
    assert detail["responses"][0]["text"] == "Sorry! DM us."


def test_supervisor_token_cannot_work_items(api, db):
    m = queued_mention(db)
    for path in ("claim", "resolve", "release"):
        assert api("POST", f"/api/v1/mentions/{m.id}/{path}", user="sam").status_code in (403, 409)
    assert api("POST", "/api/v1/queues/complaints/claim-next", user="sam").status_code == 403
    db.expire_all()
    assert db.get(Mention, m.id).claimed_by_id is None and db.scalar(select(Response)) is None


def test_unknown_mention_and_missing_token(api, client, db):
    assert api("GET", "/api/v1/mentions/99999").status_code == 404
    assert api("POST", "/api/v1/mentions/99999/claim").status_code == 404
    assert client.get("/api/v1/queues").status_code == 401


def test_openapi_document_describes_every_route(client, app):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    described = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routes = {(str(r.rule).replace("<int:mention_id>", "{id}").replace("<int:customer_id>", "{id}")
              .replace("<name>", "{name}")
              .replace("<int:response_id>", "{response_id}"), method)
              for r in app.url_map.iter_rules() if str(r.rule).startswith("/api/v1/") and "openapi" not in str(r.rule)
              for method in r.methods - {"HEAD", "OPTIONS"}}
    assert routes == described


def test_openapi_document_is_valid_openapi(client):
    from openapi_spec_validator import validate

    validate(client.get("/api/v1/openapi.json").get_json())  # raises with the first problem found
