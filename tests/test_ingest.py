"""Ingest: every post stored exactly once, tagged, scored, routed; brand replies become responses."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.conftest import record
from triage.intake import ingest
from triage.models import Author, Delivery, Event, Mention, Queue, Response


def _receive_and_process(db, source, records):
    receipt = ingest.receive(db, source, records)
    db.commit()
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id)
        db.commit()
    return receipt


def test_a_post_delivered_twice_is_stored_once(db, make_source):
    source = make_source()
    post = record(id="dup-1")
    _receive_and_process(db, source, [post, dict(post)])
    _receive_and_process(db, source, [dict(post)])
    assert db.scalar(select(func.count()).select_from(Mention).where(Mention.external_id == "dup-1")) == 1
    assert db.scalar(select(func.count()).select_from(Event).where(Event.action == "queued")) == 1
    assert [d.duplicate_count for d in db.scalars(select(Delivery).order_by(Delivery.id))] == [1, 1]


def test_same_id_on_two_networks_is_two_mentions(db, make_source):
    source = make_source()
    _receive_and_process(db, source, [record(id="same", network="x"), record(id="same", network="mastodon")])
    assert db.scalar(select(func.count()).select_from(Mention)) == 2


def test_processed_mentions_are_tagged_scored_and_queued(db, make_source):
    source = make_source()
    _receive_and_process(db, source, [
        record(id="c1", text="@northwind my flight was cancelled and nobody at the desk helps, I want a refund"),
        record(id="q1", text="@northwind how do I add a checked bag to my booking?"),
        record(id="a1", text="Huge thanks to the @northwind crew today, amazing service, highly recommend!"),
        record(id="u1", text="@northwind there is smoke in the cabin and the crew ignores us, this is unsafe"),
    ])
    by_id = {m.external_id: m for m in db.scalars(select(Mention))}
    assert all(m.status == "open" and m.tagged_at is not None for m in by_id.values())
    queue_of = {m.external_id: db.get(Queue, m.queue_id).slug for m in by_id.values()}
    assert queue_of == {"c1": "complaints", "q1": "questions", "a1": "advocacy", "u1": "urgent"}
    assert by_id["c1"].sentiment == "negative" and by_id["a1"].sentiment == "positive"
    assert by_id["u1"].urgent and by_id["u1"].priority > by_id["c1"].priority > by_id["a1"].priority
    factors = {r["factor"] for r in by_id["c1"].priority_reasons}
    assert {"intent", "negativity"} <= factors
    assert sum(r["points"] for r in by_id["c1"].priority_reasons) == by_id["c1"].priority


def test_large_following_ranks_higher_and_says_why(db, make_source):
    source = make_source()
    text = "@northwind my order is late again"
    _receive_and_process(db, source, [record(id="small", text=text, author="small", author_followers=40),
                                      record(id="big", text=text, author="big", author_followers=2_000_000)])
    small, big = (db.scalar(select(Mention).where(Mention.external_id == i)) for i in ("small", "big"))
    assert big.priority == small.priority + 20
    assert any(r["factor"] == "reach" and "2,000,000 followers" in r["detail"] for r in big.priority_reasons)


def test_authors_are_upserted_with_their_latest_reach(db, make_source):
    source = make_source()
    _receive_and_process(db, source, [record(author="dana", author_followers=10, author_name=None)])
    _receive_and_process(db, source, [record(author="Dana", author_followers=5000, author_name="Dana W")])
    authors = db.scalars(select(Author).where(Author.handle == "dana")).all()
    assert len(authors) == 1 and authors[0].followers == 5000 and authors[0].display_name == "Dana W"


def test_brand_reply_is_recorded_as_the_mentions_response(db, make_source):
    source = make_source(brand_handles=["northwindhelp"])
    _receive_and_process(db, source, [
        record(id="m1", text="@northwind where is my refund?", posted_at="2026-11-20T10:00:00Z"),
        record(id="r1", author="NorthwindHelp", text="@customer1 sorry! DM us your booking code",
               in_reply_to="m1", posted_at="2026-11-20T10:12:00Z"),
    ])
    mentions = db.scalars(select(Mention)).all()
    assert [m.external_id for m in mentions] == ["m1"]  # the brand's reply is not a new mention
    mention = mentions[0]
    assert mention.status == "answered"
    assert mention.first_response_at.isoformat() == "2026-11-20T10:12:00+00:00"
    response = db.scalar(select(Response))
    assert (response.origin, response.author_handle, response.mention_id) == ("network", "northwindhelp", mention.id)
    # Delivered again: the response is not recorded twice.
    _receive_and_process(db, source, [record(id="r1", author="northwindhelp", text="again", in_reply_to="m1")])
    assert db.scalar(select(func.count()).select_from(Response)) == 1


def test_brand_broadcasts_and_replies_are_not_mentions(db, make_source):
    source = make_source(brand_handles=["northwind"])
    receipt = _receive_and_process(db, source, [
        record(author="northwind", text="Our winter sale starts today!"),
        record(author="northwind", text="@someone glad to help", in_reply_to="not-here-yet"),
    ])
    assert receipt.accepted == 2
    assert db.scalar(select(func.count()).select_from(Mention)) == 0
    assert db.scalar(select(Delivery.processed_at)) is not None
    waiting = db.scalar(select(Response))
    assert waiting.mention_id is None and waiting.in_reply_to == "not-here-yet"  # kept until its post arrives


def test_a_brand_reply_that_arrives_before_its_post_is_attached_when_the_post_arrives(db, make_source):
    source = make_source(brand_handles=["northwindhelp"])
    _receive_and_process(db, source, [record(id="r-early", author="northwindhelp", in_reply_to="m-late",
                                             text="@dana sorry! DM us", posted_at="2026-11-20T10:20:00Z")])
    _receive_and_process(db, source, [record(id="m-late", text="@northwind my refund?",
                                             posted_at="2026-11-20T10:00:00Z")])
    mention = db.scalar(select(Mention).where(Mention.external_id == "m-late"))
    assert mention.status == "answered"
    assert mention.first_response_at.isoformat() == "2026-11-20T10:20:00+00:00"
    assert db.scalar(select(Response.mention_id)) == mention.id
    assert [e.action for e in db.scalars(select(Event).where(Event.mention_id == mention.id).order_by(Event.id))] \
        == ["queued", "responded"]


def test_bad_records_are_refused_with_clear_errors_and_good_ones_land(db, make_source):
    source = make_source()
    receipt = ingest.receive(db, source, [
        record(id="good-1"),
        record(text=""),
        record(text="x" * 100_000),
        {"id": "no-author", "network": "x", "text": "hi"},
        "not an object",
        record(posted_at="yesterday"),
        record(author_followers="many"),
        record(network="bad network!"),
        record(id="good-2", text="bad \x00 bytes \x07 removed"),
    ])
    db.commit()
    assert receipt.accepted == 2
    errors = {e["index"]: e["error"] for e in receipt.errors}
    assert errors[1] == "missing field 'text'"
    assert "100,000 characters" in errors[2]
    assert errors[3] == "missing field 'author'"
    assert errors[4] == "a post must be a JSON object"
    assert "ISO 8601" in errors[5] and "whole number" in errors[6] and "network" in errors[7]
    ingest.process_delivery(db, receipt.delivery_ids[0])
    db.commit()
    texts = dict(db.execute(select(Mention.external_id, Mention.text)).all())
    assert sorted(texts) == ["good-1", "good-2"]
    assert texts["good-2"] == "bad  bytes  removed"  # control characters no person typed are dropped


def test_hostile_text_is_stored_verbatim_and_tagged(db, make_source):
    source = make_source()
    nasty = '<script>alert("x")</script> 🙃🙃 ' + "ё" * 9000
    _receive_and_process(db, source, [record(id="nasty", text=nasty)])
    mention = db.scalar(select(Mention))
    assert mention.text == nasty and mention.tagged_at is not None and mention.queue_id is not None


def test_processing_is_idempotent(db, make_source):
    source = make_source()
    receipt = ingest.receive(db, source, [record() for _ in range(5)])
    db.commit()
    first = ingest.process_delivery(db, receipt.delivery_ids[0])
    db.commit()
    again = ingest.process_delivery(db, receipt.delivery_ids[0])
    assert first.stored == 5 and again is None
    # Even a forced second pass over the same posts (as a racing worker would do) stores nothing new.
    delivery = db.get(Delivery, receipt.delivery_ids[0])
    delivery.processed_at = None
    db.commit()
    assert ingest.process_delivery(db, delivery.id).stored == 0
    db.commit()
    assert db.scalar(select(func.count()).select_from(Mention)) == 5
    assert db.scalar(select(func.count()).select_from(Event)) == 5


def _written_around_the_door(db, source, posts: list[dict]) -> int:
    """A delivery row as an older triage (or a bug) might have left it: its posts never passed `parse_post`."""
    delivery = Delivery(source_id=source.id, posts=posts, post_count=len(posts))
    db.add(delivery)
    db.commit()
    return delivery.id


def test_a_poison_post_is_set_aside_and_its_batch_lands_including_brand_replies(db, make_source):
    from triage.models import DeadLetter

    source = make_source(brand_handles=["northwindhelp"])
    question = record(id="q-1", text="@northwind where is my refund?")
    answer = record(id="a-1", author="northwindhelp", in_reply_to="q-1", text="@dana on its way")
    poison = record(id="poison", author_followers=10**20)  # overflows a 64-bit column on both backends
    delivery_id = _written_around_the_door(db, source, [question, poison, answer, {"id": "not even a post"}])
    result = ingest.process_delivery(db, delivery_id)
    db.commit()
    assert result.stored == 1 and result.responses == 1 and result.dead_letters == 2
    assert db.scalar(select(Mention.status).where(Mention.external_id == "q-1")) == "answered"
    reasons = {str(d.payload.get("id")): d.error for d in db.scalars(select(DeadLetter))}
    assert set(reasons) == {"poison", "not even a post"}
    assert reasons["not even a post"].startswith("refused: missing field")
    # Reprocessed by force (a racing worker), nothing is stored or set aside twice.
    db.get(Delivery, delivery_id).processed_at = None
    db.commit()
    again = ingest.process_delivery(db, delivery_id)
    db.rollback()  # the racing worker loses: its transaction is not committed
    assert again.stored == 0
    assert db.scalar(select(func.count()).select_from(Mention)) == 1
    assert db.scalar(select(func.count()).select_from(Response)) == 1


def test_a_split_batch_is_still_one_transaction(db, make_source, settings):
    """The SAVEPOINTs that isolate a poison post commit nothing on their own (pysqlite would, outside a BEGIN)."""
    from triage.db import get_engine

    source = make_source()
    for posts, stored in (([record(), record()], 2), ([record(), record(author_followers=10**20), record()], 2)):
        delivery_id = _written_around_the_door(db, source, posts)
        result = ingest.process_delivery(db, delivery_id)
        assert result.stored == stored
        with get_engine(settings.database_url).connect() as other:  # another connection sees nothing yet
            assert other.scalar(select(func.count()).select_from(Mention)) == 0
        db.rollback()
        assert db.scalar(select(func.count()).select_from(Mention)) == 0


def test_a_handle_is_measured_after_lowering(db, make_source):
    from triage.intake.posts import PostError, parse_post

    try:
        parse_post(record(author="İ" * 150))  # 150 characters, 300 once lowered: more than the column holds
    except PostError as exc:
        assert "author" in str(exc)
    else:
        raise AssertionError("a handle longer than its column passed the door")


def test_network_data_and_engagement_are_stored_and_counts_refreshed_on_a_second_sighting(db, make_source):
    from datetime import UTC, datetime

    source = make_source()
    first = record(id="eng-1", network_data={"uri": "at://did:plc:x/app.bsky.feed.post/1", "cid": "bafy",
                                             "root": {"uri": "at://r", "cid": "c"}},
                   engagement={"replies": 1, "likes": 3, "score": -2})
    receipt = ingest.receive(db, source, [first, record(id="eng-2")])
    db.commit()
    early = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    ingest.process_delivery(db, receipt.delivery_ids[0], now=early)
    db.commit()
    mention = db.scalar(select(Mention).where(Mention.external_id == "eng-1"))
    assert mention.network_data == first["network_data"]
    assert mention.engagement == {"replies": 1, "likes": 3, "score": -2} and mention.engagement_seen_at == early
    plain = db.scalar(select(Mention).where(Mention.external_id == "eng-2"))
    assert plain.network_data is None and plain.engagement is None and plain.engagement_seen_at is None
    assert db.scalar(select(func.count()).select_from(Mention).where(Mention.engagement.is_(None))) == 1  # SQL NULL

    later = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    again = ingest.receive(db, source, [
        {**first, "text": "edited text", "engagement": {"replies": 4, "likes": 9, "reposts": 1}},
        record(id="eng-2", engagement={"likes": 1}),
    ])
    db.commit()
    result = ingest.process_delivery(db, again.delivery_ids[0], now=later)
    db.commit()
    db.expire_all()
    assert result.stored == 0 and result.duplicates == 2
    mention, plain = (db.scalar(select(Mention).where(Mention.external_id == i)) for i in ("eng-1", "eng-2"))
    assert mention.engagement == {"replies": 4, "likes": 9, "reposts": 1} and mention.engagement_seen_at == later
    assert mention.text != "edited text" and mention.network_data == first["network_data"]  # the rest is kept
    assert plain.engagement == {"likes": 1} and plain.engagement_seen_at == later

    quiet = ingest.receive(db, source, [{k: v for k, v in first.items() if k != "engagement"}])
    db.commit()
    ingest.process_delivery(db, quiet.delivery_ids[0], now=datetime(2026, 11, 20, 13, 0, tzinfo=UTC))
    db.commit()
    db.expire_all()
    mention = db.scalar(select(Mention).where(Mention.external_id == "eng-1"))
    assert mention.engagement["likes"] == 9 and mention.engagement_seen_at == later  # no counts: nothing to refresh


def test_the_door_round_trips_network_data_and_engagement():
    from triage.intake.posts import parse_post

    raw = record(id="rt-1", network_data={"visibility": "unlisted", "ids": [1, 2]},
                 engagement={"replies": "2", "reposts": 0, "likes": 5.0, "quotes": 1, "score": -(2**63)})
    post = parse_post(raw)
    assert post.engagement == {"replies": 2, "reposts": 0, "likes": 5, "quotes": 1, "score": -(2**63)}
    assert parse_post(post.to_record()) == post
    assert post.to_record()["network_data"] == {"visibility": "unlisted", "ids": [1, 2]}
    assert "engagement" not in parse_post(record(engagement={"likes": None})).to_record()


def test_the_door_refuses_bad_network_data_and_engagement_by_field():
    import pytest

    from triage.intake.posts import PostError, parse_post

    deep = {"a": {"b": {"c": {"d": {"e": 1}}}}}
    bad = [
        ({"network_data": ["not", "an", "object"]}, "field 'network_data' must be a JSON object"),
        ({"network_data": {"blob": "x" * 5000}}, "field 'network_data' is 5,011 bytes as JSON, more than the 4,096"),
        ({"network_data": deep}, "field 'network_data' nests more than 4 levels deep"),
        ({"network_data": {1: "x"}}, "field 'network_data' must have text keys only"),
        ({"network_data": {"x": float("nan")}}, "field 'network_data' holds a value JSON cannot carry"),
        ({"engagement": [1, 2]}, "field 'engagement' must be a JSON object of counts"),
        ({"engagement": {"views": 3}}, "field 'engagement' has unknown counts views"),
        ({"engagement": {"likes": -1}}, "engagement.likes must not be negative"),
        ({"engagement": {"likes": 1.5}}, "engagement.likes must be a whole number"),
        ({"engagement": {"likes": True}}, "engagement.likes must be a whole number, not true/false"),
        ({"engagement": {"replies": 2**63}}, "engagement.replies is more than"),
        ({"engagement": {"score": -(2**63) - 1}}, "engagement.score is too small"),
    ]
    for overrides, message in bad:
        with pytest.raises(PostError) as refused:
            parse_post(record(**overrides))
        assert message in str(refused.value), (overrides, str(refused.value))
    assert parse_post(record(network_data={"a": {"b": {"c": {"d": 1}}}})).network_data  # four levels: fine
