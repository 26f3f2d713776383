"""The push API and /healthz."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.conftest import record
from triage.models import Delivery, Event, Mention, Source
from triage.people.accounts import create_token


def _token(db, make_user, role="lead") -> str:
    make_user("integrator", role)
    token = create_token(db, "integrator")
    db.commit()
    return token


def test_push_accepts_good_posts_and_names_each_bad_one(client, db, make_user, run_worker):
    token = _token(db, make_user)
    posts = [record(id="p1"), record(id="p2", text=""), record(id="p3"), {"id": "p4"}]
    response = client.post("/api/v1/mentions?source=Zapier", json=posts, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["accepted"] == 2 and body["rejected"] == 2 and body["source"] == "Zapier"
    assert body["errors"] == [{"index": 1, "id": "p2", "error": "missing field 'text'"},
                              {"index": 3, "id": "p4", "error": "missing field 'network'"}]
    # Stored before the 202, so nothing depends on Redis keeping the job.
    assert db.scalar(select(func.sum(Delivery.post_count))) == 2
    run_worker()
    db.expire_all()
    assert sorted(db.scalars(select(Mention.external_id))) == ["p1", "p3"]
    assert db.scalar(select(func.count()).select_from(Mention).where(Mention.status == "open")) == 2


def test_push_twice_stores_once(client, db, make_user, run_worker):
    token = _token(db, make_user)
    posts = [record(id="same-1"), record(id="same-2")]
    for _ in range(2):
        pushed = client.post("/api/v1/mentions", json=posts, headers={"Authorization": f"Bearer {token}"})
        assert pushed.status_code == 202
    run_worker()
    assert db.scalar(select(func.count()).select_from(Mention)) == 2


def test_the_first_push_adds_its_source_with_an_audit_event_and_later_ones_reuse_it(client, db, make_user):
    token = _token(db, make_user)
    headers = {"Authorization": f"Bearer {token}"}
    for url in ("/api/v1/mentions", "/api/v1/mentions?source=api", "/api/v1/mentions?source=Zapier"):
        assert client.post(url, json=[record()], headers=headers).status_code == 202
    db.expire_all()
    added = db.scalars(select(Event).where(Event.action == "source added").order_by(Event.id)).all()
    assert [(e.detail["after"]["name"], e.detail["by"]) for e in added] == [("API", "integrator"),
                                                                           ("Zapier", "integrator")]
    assert "first push through the API" in added[0].reason
    assert db.scalar(select(func.count()).select_from(Source).where(Source.kind == "api")) == 2


def test_an_agent_token_cannot_add_a_source_by_pushing(client, db, make_user):
    token = _token(db, make_user, role="agent")
    response = client.post("/api/v1/mentions?source=Brand+new", json=[record()],
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and "creating one needs a lead's" in response.get_json()["error"]
    assert db.scalar(select(func.count()).select_from(Event).where(Event.action == "source added")) == 0


def test_push_without_a_valid_token_is_401_and_stores_nothing(client, db, make_user):
    _token(db, make_user)
    for headers in ({}, {"Authorization": "Bearer trg_wrong"}, {"Authorization": "Basic abc"}):
        response = client.post("/api/v1/mentions", json=[record()], headers=headers)
        assert response.status_code == 401
        assert "token" in response.get_json()["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0


def test_push_malformed_json_is_400_with_a_message(client, db, make_user):
    token = _token(db, make_user)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bad = client.post("/api/v1/mentions", data=b'[{"id": "1", "text": ', headers=auth)
    assert bad.status_code == 400 and "not valid JSON" in bad.get_json()["error"]
    wrong_shape = client.post("/api/v1/mentions", json={"id": "1"}, headers=auth)
    assert wrong_shape.status_code == 400 and "JSON array" in wrong_shape.get_json()["error"]
    invalid_utf8 = client.post("/api/v1/mentions", data=b'[{"text": "\xff\xfe"}]', headers=auth)
    assert invalid_utf8.status_code == 400
    all_bad = client.post("/api/v1/mentions", json=[{"id": 1}], headers=auth)
    assert all_bad.status_code == 400 and all_bad.get_json()["rejected"] == 1
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0


def test_push_oversized_text_is_refused_per_item(client, db, make_user):
    token = _token(db, make_user)
    response = client.post("/api/v1/mentions", json=[record(text="a" * 100_000), record()],
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["accepted"] == 1 and "100,000 characters" in body["errors"][0]["error"]


def test_healthz_reports_database_redis_workers_and_queue_counts(client, db, make_source):
    from triage.intake import ingest

    source = make_source()
    receipt = ingest.receive(db, source, [record(text="@northwind how do I change my seat?")])
    ingest.process_delivery(db, receipt.delivery_ids[0])
    db.commit()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["queues"]["questions"] == 1 and sum(body["queues"].values()) == 1
    assert body["workers"]["count"] == 0 and body["status"] == "degraded"  # no worker runs during this test


def test_healthz_is_503_when_redis_is_down(app, db):
    app.config["TRIAGE"] = app.config["TRIAGE"].with_(redis_url="redis://127.0.0.1:1/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "down" and body["database"]["ok"] and "error" in body["redis"]
