"""One bad post never sinks its batch: refused at the door with a per-item error, or set aside as a dead letter
that a lead fixes and retries or discards."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import _csrf, record
from triage.db import utcnow
from triage.intake import ingest
from triage.intake.importer import read_rows
from triage.intake.posts import PostError, parse_post
from triage.models import DeadLetter, Delivery, Event, Mention
from triage.people.accounts import create_token
from workers import jobs

# Each of these passed the door before and then failed its whole batch in the worker, every time.
HOSTILE = {
    "handle of only @": {"author": "@"},
    "handle of spaces and @": {"author": "  @ "},
    "lone surrogate in the text": {"text": "my order \ud800 is late"},
    "lone surrogate in the name": {"author_name": "Dana \udfff"},
    "followers of 10^20": {"author_followers": 10**20},
    "followers Infinity": {"author_followers": float("inf")},
    "followers NaN": {"author_followers": float("nan")},
    "followers true": {"author_followers": True},
    "followers 1.5": {"author_followers": 1.5},
    "followers negative": {"author_followers": -3},
    "posted in 9999": {"posted_at": "9999-12-31T23:59:59Z"},
    "posted before year 1 in UTC": {"posted_at": "0001-01-01T00:00:00+01:00"},
    "posted in 1970": {"posted_at": "1970-01-01T00:00:00Z"},
    "posted a week ahead": {"posted_at": (utcnow() + timedelta(days=7)).isoformat()},
    "handle longer than its column": {"author": "a" * 201},
    "id longer than its column": {"id": "x" * 513},
    "id a huge number": {"id": 10**40},
}


def _count(db, model, *where) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("overrides", HOSTILE.values(), ids=HOSTILE.keys())
def test_each_hostile_value_is_refused_at_the_door_and_the_good_posts_land(db, make_source, overrides):
    source = make_source()
    with pytest.raises(PostError):
        parse_post(record(**overrides))
    good = [record(), record()]
    receipt = ingest.receive(db, source, [good[0], record(**{"id": "bad-1", **overrides}), good[1]])
    db.commit()
    assert receipt.accepted == 2 and [e["index"] for e in receipt.errors] == [1]
    assert receipt.errors[0]["id"] is not None and receipt.errors[0]["error"]
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id)
    db.commit()
    assert sorted(db.scalars(select(Mention.external_id))) == sorted(r["id"] for r in good)
    assert _count(db, Mention, Mention.tagged_at.is_(None)) == 0


def test_the_door_names_what_is_wrong():
    def error(**overrides) -> str:
        with pytest.raises(PostError) as caught:
            parse_post(record(**overrides))
        return str(caught.value)

    assert "author" in error(author="  @ ") and "empty" in error(author="@")
    assert "surrogate" in error(text="\ud800")
    assert "9,223,372,036,854,775,807" in error(author_followers=10**20)
    assert "whole number" in error(author_followers=float("inf"))
    assert "out of range" in error(posted_at="9999-12-31T23:59:59Z")
    assert "out of range" in error(posted_at="0001-01-01T00:00:00+01:00")


def test_sane_values_still_pass_the_door():
    post = parse_post(record(author="  @Dana ", author_followers="1200", posted_at="1995-06-01T12:00:00+02:00"))
    assert post.author_handle == "dana" and post.author_followers == 1200
    assert post.posted_at.year == 1995 and post.posted_at.hour == 10
    assert parse_post(record(author_followers=2**63 - 1, id=1790)).external_id == "1790"
    assert parse_post(record(author_followers=120.0)).author_followers == 120


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<script>x</script>", "JavaScript:x",
                                 "ftp://example.test/a", "//example.test/x"])
def test_a_url_that_is_not_http_is_dropped_and_the_post_kept(url):
    assert parse_post(record(url=url)).url is None
    assert parse_post(record(url="https://x.test/p/1")).url == "https://x.test/p/1"


def _token(db, make_user, role="lead") -> str:
    make_user(f"pusher-{role}", role)
    token = create_token(db, f"pusher-{role}")
    db.commit()
    return token


def test_push_api_answers_202_naming_every_refused_item_and_lands_the_rest(client, db, make_user, run_worker):
    token = _token(db, make_user)
    hostile = [record(**{"id": f"bad-{n}", **overrides}) for n, overrides in enumerate(HOSTILE.values())]
    good = [record(id="good-1"), record(id="good-2", url="javascript:alert(1)")]
    body = [good[0], *hostile, good[1]]
    response = client.post("/api/v1/mentions?source=Hooks", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["accepted"] == 2 and answer["rejected"] == len(hostile)
    assert [e["index"] for e in answer["errors"]] == list(range(1, len(hostile) + 1))
    assert all(e["error"] for e in answer["errors"])
    run_worker()
    db.expire_all()
    assert sorted(db.scalars(select(Mention.external_id))) == ["good-1", "good-2"]
    assert db.scalar(select(Mention.url).where(Mention.external_id == "good-2")) is None
    assert _count(db, Delivery, Delivery.processed_at.is_(None)) == 0 and _count(db, DeadLetter) == 0


def test_deeply_nested_json_is_a_clear_400_on_the_push_api(client, db, make_user):
    token = _token(db, make_user)
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/mentions", data=deep, content_type="application/json",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400 and "nested too deeply" in response.get_json()["error"]


def test_deeply_nested_json_lines_refuse_only_their_row():
    import io

    lines = b'{"id": "1", "network": "x", "text": "hi", "author": "a"}\n' + b"[" * 100_000 + b"\n"
    rows = list(read_rows(io.BufferedReader(io.BytesIO(lines)), "f.jsonl"))
    assert rows[0].record and rows[1].error == "not valid JSON: nested too deeply"


def _poisoned_delivery(db, source, *, followers_too_big: bool = True) -> tuple[int, list[dict]]:
    """A delivery whose raw posts were written around the door: each poison post passes nothing, but fails for
    real in the database (a 64-bit column overflows) or in the deadline maths (year 9999)."""
    good = [record(id=f"ok-{n}") for n in range(5)]
    poison = [record(id="too-many-followers", author_followers=10**20),
              record(id="from-the-future", posted_at="9999-12-31T23:59:59+00:00")]
    posts = [good[0], poison[0], good[1], good[2], poison[1], good[3], good[4]]
    delivery = Delivery(source_id=source.id, posts=posts, post_count=len(posts), received_at=utcnow())
    db.add(delivery)
    db.commit()
    return delivery.id, good


def test_posts_that_fail_to_store_become_dead_letters_and_the_rest_lands_via_a_real_worker(
        db, make_source, settings, run_worker):
    source = make_source()
    delivery_id, good = _poisoned_delivery(db, source)
    jobs.enqueue_delivery(settings, delivery_id)
    run_worker()
    db.expire_all()
    assert sorted(db.scalars(select(Mention.external_id))) == sorted(r["id"] for r in good)
    assert _count(db, Mention, Mention.tagged_at.is_(None)) == 0
    assert _count(db, Event, Event.action == "queued") == len(good)
    letters = db.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
    assert sorted(d.payload["id"] for d in letters) == ["from-the-future", "too-many-followers"]
    assert all(d.error and d.delivery_id == delivery_id and d.attempts == 1 and d.resolved_at is None
               for d in letters)
    delivery = db.get(Delivery, delivery_id)
    assert delivery.processed_at is not None and delivery.stored_count == len(good) and delivery.attempts == 1
    assert jobs.process_delivery(delivery_id) is None  # a repeat does nothing: no second mention, no second letter
    assert _count(db, DeadLetter) == 2 and _count(db, Mention) == len(good)


def _lead_page(client, login, role="lead"):
    login(role)
    page = client.get("/sources")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_sources_page_shows_dead_letters_with_the_reason(client, db, make_source, login):
    html = _lead_page(client, login)
    assert "No dead letters" in html
    delivery_id, _ = _poisoned_delivery(db, make_source())
    ingest.process_delivery(db, delivery_id)
    db.commit()
    html = client.get("/sources").get_data(as_text=True)
    assert "too-many-followers" in html and "from-the-future" in html and "Fix and retry" in html


def test_a_lead_fixes_and_retries_a_dead_letter_and_it_lands_audited(client, db, make_source, login, run_worker):
    import json

    delivery_id, _ = _poisoned_delivery(db, make_source())
    ingest.process_delivery(db, delivery_id)
    db.commit()
    letter = db.scalar(select(DeadLetter).where(DeadLetter.error.is_not(None)).order_by(DeadLetter.id))
    lead = login("lead")
    page = client.get(f"/sources/dead-letters/{letter.id}")
    assert page.status_code == 200 and "textarea" in page.get_data(as_text=True)
    token = _csrf(page.get_data(as_text=True))

    still_bad = client.post(f"/sources/dead-letters/{letter.id}/retry",
                            data={"payload": json.dumps(letter.payload), "csrf_token": token})
    assert still_bad.status_code == 400 and "still refused" in still_bad.get_data(as_text=True)
    broken = client.post(f"/sources/dead-letters/{letter.id}/retry", data={"payload": "{nope", "csrf_token": token})
    assert broken.status_code == 400 and "not valid JSON" in broken.get_data(as_text=True)

    fixed = {**letter.payload, "author_followers": 1200, "posted_at": "2026-11-20T10:00:00Z"}
    done = client.post(f"/sources/dead-letters/{letter.id}/retry",
                       data={"payload": json.dumps(fixed), "csrf_token": token})
    assert done.status_code == 303
    run_worker()
    db.expire_all()
    assert db.scalar(select(Mention).where(Mention.external_id == letter.payload["id"])).tagged_at is not None
    again = db.get(DeadLetter, letter.id)
    assert again.resolution == "retried" and again.resolved_by.username == lead and again.retry_delivery_id
    event = db.scalar(select(Event).where(Event.action == "dead letter retried"))
    assert event.mention_id is None and event.actor.username == lead
    assert event.detail["dead_letter"] == letter.id and event.detail["edited"] is True
    twice = client.post(f"/sources/dead-letters/{letter.id}/retry",
                        data={"payload": json.dumps(fixed), "csrf_token": token})
    assert twice.status_code == 400 and "already retried" in twice.get_data(as_text=True)


def test_a_lead_discards_a_dead_letter_audited_and_an_agent_cannot(client, db, make_source, login, app):
    delivery_id, _ = _poisoned_delivery(db, make_source())
    ingest.process_delivery(db, delivery_id)
    db.commit()
    first, second = db.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()

    agent_html = _lead_page(client, login, role="agent")
    assert "too-many-followers" in agent_html and "Discard" not in agent_html
    token = _csrf(client.get(f"/sources/dead-letters/{first.id}").get_data(as_text=True))
    refused = client.post(f"/sources/dead-letters/{first.id}/discard", data={"csrf_token": token})
    assert refused.status_code == 403
    refused_retry = client.post(f"/sources/dead-letters/{first.id}/retry", data={"payload": "{}", "csrf_token": token})
    assert refused_retry.status_code == 403
    assert db.get(DeadLetter, first.id).resolved_at is None

    lead = app.test_client()
    lead_name = _login_client(lead, db, "lead")
    token = _csrf(lead.get("/sources").get_data(as_text=True))
    done = lead.post(f"/sources/dead-letters/{first.id}/discard", data={"csrf_token": token})
    assert done.status_code == 303
    db.expire_all()
    assert db.get(DeadLetter, first.id).resolution == "discarded"
    assert db.get(DeadLetter, second.id).resolved_at is None
    event = db.scalar(select(Event).where(Event.action == "dead letter discarded"))
    assert event.actor.username == lead_name and event.detail["dead_letter"] == first.id
    assert lead.post("/sources/dead-letters/999999/discard", data={"csrf_token": token}).status_code == 404
    assert lead.get(f"/sources/dead-letters/{2**64}").status_code == 404


def _login_client(client, db, role: str) -> str:
    from triage.people.accounts import add_user

    username = f"{role}-{id(client)}"
    add_user(db, username, "correct horse battery", role=role)
    db.commit()
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": "correct horse battery",
                                           "csrf_token": token})
    assert response.status_code == 302
    return username


def test_healthz_is_degraded_while_dead_letters_wait_and_says_why(client, db, make_source):
    delivery_id, _ = _poisoned_delivery(db, make_source())
    ingest.process_delivery(db, delivery_id)
    db.commit()
    body = client.get("/healthz").get_json()
    assert body["status"] == "degraded" and body["dead_letters"] == 2
    assert any("dead letters" in p for p in body["problems"])


def test_healthz_is_degraded_when_deliveries_wait_past_the_sweep_window(client, db, make_source, settings):
    source = make_source()
    receipt = ingest.receive(db, source, [record()])
    db.commit()
    assert not any("waited" in p for p in client.get("/healthz").get_json()["problems"])
    db.get(Delivery, receipt.delivery_ids[0]).received_at = utcnow() - timedelta(
        seconds=settings.sweep_after_seconds + 600)
    db.commit()
    body = client.get("/healthz").get_json()
    assert body["status"] == "degraded" and body["oldest_delivery_wait_seconds"] >= 600
    assert any("1 delivery has waited" in p for p in body["problems"])


def test_sweep_gives_up_after_the_attempt_bound_and_sets_the_posts_aside(db, make_source, settings):
    source = make_source()
    receipt = ingest.receive(db, source, [record(), record(), record()])
    db.commit()
    [delivery_id] = receipt.delivery_ids
    db.get(Delivery, delivery_id).attempts = jobs.MAX_ATTEMPTS - 1  # four workers died on it already
    db.commit()
    assert jobs.sweep(stale_seconds=0) == [delivery_id]  # a fifth try
    from triage import broker

    broker.queue(settings, "ingest").empty()  # ...whose worker dies too (counted as it started)
    jobs._count_attempt(settings, delivery_id)
    assert jobs.sweep(stale_seconds=0) == []  # given up: not enqueued a sixth time
    db.expire_all()
    delivery = db.get(Delivery, delivery_id)
    assert delivery.processed_at is not None and delivery.attempts == jobs.MAX_ATTEMPTS
    letters = db.scalars(select(DeadLetter).where(DeadLetter.delivery_id == delivery_id)).all()
    assert len(letters) == 3 and all("gave up after 5 attempts" in d.error for d in letters)
    assert all(d.attempts == jobs.MAX_ATTEMPTS for d in letters)
    [event] = db.scalars(select(Event).where(Event.action == "delivery given up")).all()
    assert event.actor_id is None and event.detail["delivery"] == delivery_id and event.detail["posts"] == 3


def test_an_attempt_counts_when_the_job_starts(db, make_source, settings):
    source = make_source()
    receipt = ingest.receive(db, source, [record()])
    db.commit()
    jobs.process_delivery(receipt.delivery_ids[0])
    db.expire_all()
    delivery = db.get(Delivery, receipt.delivery_ids[0])
    assert delivery.attempts == 1 and delivery.last_attempt_at is not None and delivery.processed_at is not None


def test_import_of_a_file_with_a_poison_post_returns_and_says_how_many_were_set_aside(
        db, make_source, settings, run_worker, capsys):
    from triage.cli import intake

    source = make_source()
    delivery_id, good = _poisoned_delivery(db, source)
    jobs.enqueue_delivery(settings, delivery_id)
    run_worker()
    waiter = threading.Thread(target=intake.wait_for, args=(settings, [delivery_id], len(good) + 2), daemon=True)
    waiter.start()
    waiter.join(30)
    assert not waiter.is_alive(), "triage import would wait forever"
    assert "2 posts could not be stored and were set aside" in capsys.readouterr().err


ODD_VALUES = ["@", " @ ", "\ud800", "\x00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00",
              "1990-01-01T00:00:00+14:00", "2026-11-20T10:00:00.999999-12:00", "javascript:x", "http://", "https://a",
              "http://[::1", "1e400", "-0", "١٢", "１２", " 12 ", "+5", "x" * 600, "İ" * 150, "a" * 201]


def test_whatever_passes_the_door_can_be_stored(db, make_source):
    """Generated records, hostile field by field: each one the door accepts is stored, tagged and queued."""
    from hypothesis import HealthCheck, given
    from hypothesis import settings as examples
    from hypothesis import strategies as st

    source = make_source()
    value = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=40),
                      st.sampled_from(ODD_VALUES), st.lists(st.integers(), max_size=2),
                      st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
    fields = st.sampled_from(["id", "network", "text", "author", "author_name", "author_followers", "posted_at",
                              "url", "in_reply_to", "language"])
    accepted = []

    @examples(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(fields, value, max_size=2), st.integers(0, 10**12))
    def check(overrides, n):
        raw = {"id": f"fuzz-{n}", "network": "x", "text": "@northwind hello", "author": "dana", **overrides}
        try:
            parse_post(raw)
        except PostError:
            return
        receipt = ingest.receive(db, source, [raw])
        db.commit()
        [delivery_id] = receipt.delivery_ids
        result = ingest.process_delivery(db, delivery_id)
        db.commit()
        assert result.dead_letters == 0, (raw, db.scalars(select(DeadLetter.error)).all())
        accepted.append(raw)

    check()
    assert len(accepted) > 20, "the generator hardly reached the store: the test proves little"
    assert _count(db, Mention, Mention.tagged_at.is_(None)) == 0


@pytest.fixture
def refusing_database(db, settings):
    """A trigger that makes the database itself refuse one post, the way a constraint would."""
    from sqlalchemy import text

    from triage.db import get_engine, is_postgres

    engine = get_engine(settings.database_url)
    with engine.begin() as conn:
        if is_postgres(engine):
            conn.execute(text("CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN "
                              "RAISE EXCEPTION 'the database refuses post boom'; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER refuse_boom BEFORE INSERT ON mentions FOR EACH ROW "
                              "WHEN (NEW.external_id = 'boom') EXECUTE FUNCTION refuse_boom()"))
        else:
            conn.execute(text("CREATE TRIGGER refuse_boom BEFORE INSERT ON mentions WHEN NEW.external_id = 'boom' "
                              "BEGIN SELECT RAISE(ABORT, 'the database refuses post boom'); END"))
    yield
    db.rollback()  # the test's reads hold a lock on mentions (PostgreSQL) that DROP TRIGGER waits for
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_boom" + (" ON mentions" if is_postgres(engine) else "")))
        if is_postgres(engine):
            conn.execute(text("DROP FUNCTION refuse_boom()"))


def test_a_post_the_database_refuses_is_a_dead_letter_and_its_batch_lands_via_a_real_worker(
        db, make_source, settings, run_worker, refusing_database):
    source = make_source()
    posts = [record(id=f"fine-{n}") for n in range(9)]
    posts.insert(4, record(id="boom"))  # passes the door: only the database objects to it
    receipt = ingest.receive(db, source, posts)
    db.commit()
    assert receipt.accepted == 10 and not receipt.errors
    jobs.enqueue_deliveries(settings, receipt.delivery_ids)
    run_worker()
    db.expire_all()
    assert sorted(db.scalars(select(Mention.external_id))) == sorted(p["id"] for p in posts if p["id"] != "boom")
    assert _count(db, Mention, Mention.tagged_at.is_(None)) == 0
    [letter] = db.scalars(select(DeadLetter)).all()
    assert letter.payload["id"] == "boom" and "the database refuses post boom" in letter.error
    assert "INSERT" not in letter.error  # the reason, not the SQL statement and its parameters
    delivery = db.get(Delivery, receipt.delivery_ids[0])
    assert delivery.processed_at is not None and delivery.stored_count == 9


def test_the_cli_lists_dead_letters(db, make_source):
    from click.testing import CliRunner

    from triage.cli import main

    assert "no dead letters" in CliRunner().invoke(main, ["source", "dead-letters"]).output
    delivery_id, _ = _poisoned_delivery(db, make_source("Exports"))
    ingest.process_delivery(db, delivery_id)
    db.commit()
    output = CliRunner().invoke(main, ["source", "dead-letters"]).output
    assert "too-many-followers" in output and "Exports" in output and "out of range" in output
