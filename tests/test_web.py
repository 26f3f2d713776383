"""Logging in and the queue pages."""
from __future__ import annotations

from tests.conftest import _csrf, record
from triage.intake import ingest


def _ingest(db, source, records):
    receipt = ingest.receive(db, source, records)
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id)
    db.commit()


def test_queue_pages_need_a_login(client, db):
    response = client.get("/queues")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_wrong_password_is_refused(client, make_user):
    make_user("casey")
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": "casey", "password": "nope-nope", "csrf_token": token})
    assert response.status_code == 401 and "wrong password" in response.get_data(as_text=True)
    assert client.get("/queues").status_code == 302


def test_login_without_csrf_token_is_refused(client, make_user):
    make_user("casey")
    response = client.post("/login", data={"username": "casey", "password": "correct horse battery"})
    assert response.status_code == 400
    assert client.get("/queues").status_code == 302


def test_login_does_not_redirect_off_site(client, make_user):
    make_user("casey")
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login?next=https://evil.test/x", data={
        "username": "casey", "password": "correct horse battery", "csrf_token": token})
    assert response.headers["Location"] == "/queues"


def test_queues_show_items_in_priority_order_with_their_reasons(client, db, login, make_source):
    login("agent")
    source = make_source()
    _ingest(db, source, [
        record(id="calm", text="@northwind how do I change my seat?", author="calm"),
        record(id="angry", text="@northwind you lost my bag AGAIN, worst service, I want a refund", author="angry",
               author_followers=250_000),
        record(id="xss", text='<img src=x onerror=alert(1)> what are your opening hours?', author="x"),
    ])
    page = client.get("/queues").get_data(as_text=True)
    assert page.index('data-queue="urgent"') < page.index('data-queue="complaints"') < page.index(
        'data-queue="questions"')
    assert "250k followers" in page and "reach +" in page and "intent +" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    questions = client.get("/queues/questions").get_data(as_text=True)
    assert "how do I change my seat?" in questions and "you lost my bag" not in questions


def test_empty_queue_says_what_to_do(client, db, login):
    login("agent")
    page = client.get("/queues/advocacy").get_data(as_text=True)
    assert "Nothing waiting here" in page and "/sources" in page


def test_unknown_queue_is_404(client, db, login):
    login("agent")
    assert client.get("/queues/nope").status_code == 404


def test_fragment_serves_the_board_for_live_refresh(client, db, login, make_source):
    login("agent")
    before = client.get("/queues/fragment").get_data(as_text=True)
    assert "<html" not in before and "Nothing waiting here" in before
    _ingest(db, make_source(), [record(text="@northwind thanks for the upgrade, you are the best!")])
    after = client.get("/queues/fragment").get_data(as_text=True)
    assert "thanks for the upgrade" in after


def test_lead_imports_a_file_through_the_upload_form(client, db, login, run_worker):
    import io
    import json

    login("lead")
    page = client.get("/sources").get_data(as_text=True)
    lines = [json.dumps(record(id="u1")), "{broken", json.dumps(record(id="u2"))]
    response = client.post("/sources", data={
        "csrf_token": _csrf(page), "source": "Brandwatch export", "brand_handles": "@NorthwindHelp",
        "file": (io.BytesIO("\n".join(lines).encode()), "export.jsonl"),
    }, content_type="multipart/form-data", follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "2 posts accepted" in text and "line 2: not valid JSON" in text
    run_worker()
    assert "Brandwatch export" in client.get("/sources").get_data(as_text=True)
    from sqlalchemy import select

    from triage.models import Mention, Source

    assert sorted(db.scalars(select(Mention.external_id))) == ["u1", "u2"]
    assert db.scalar(select(Source.brand_handles).where(Source.name == "Brandwatch export")) == ["northwindhelp"]


def test_agents_cannot_import(client, db, login):
    import io

    login("agent")
    page = client.get("/sources").get_data(as_text=True)
    assert "<h2>Import a file</h2>" not in page
    response = client.post("/sources", data={"csrf_token": _csrf(page), "source": "x",
                                             "file": (io.BytesIO(b"{}"), "a.jsonl")},
                           content_type="multipart/form-data")
    assert response.status_code == 403


def test_login_attempts_are_rate_limited(settings, db, make_user):
    from triage.web import create_app

    make_user("casey")
    app = create_app(settings.with_(login_limit="3 per minute", queue_prefix=settings.queue_prefix + "-rl"))
    client = app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    codes = [client.post("/login", data={"username": "casey", "password": "guess", "csrf_token": token}).status_code
             for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    blocked = client.post("/login", data={"username": "casey", "password": "correct horse battery",
                                          "csrf_token": token})
    assert blocked.status_code == 429 and "Too many login attempts" in blocked.get_data(as_text=True)


def test_error_pages_say_what_happened(client, db, login):
    login("agent")
    missing = client.get("/mentions/424242")
    assert missing.status_code == 404 and "Nothing here" in missing.get_data(as_text=True)
    forbidden = client.get("/admin/users")
    assert forbidden.status_code == 403 and "Your role cannot do this" in forbidden.get_data(as_text=True)
    api = client.get("/api/v1/nothing-here")
    assert api.status_code == 404 and api.get_json()["error"]
