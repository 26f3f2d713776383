"""Reply delivery: sent where we can post (the demo network), left to post by hand elsewhere, failures retried."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import make_mention, make_user
from triage.core.errors import Conflict, Forbidden, NotFound
from triage.models import Event, Response
from triage.work import outbound, replies


def _reply(db, **source):
    agent = make_user(db, "agent")
    mention = make_mention(db, "answered", by=agent, **source)
    response = db.scalar(select(Response).where(Response.mention_id == mention.id))
    assert response.delivery_status == "pending"
    return mention, response, agent


def _events(db, mention_id: int) -> list[Event]:
    return list(db.scalars(select(Event).where(Event.mention_id == mention_id).order_by(Event.id)))


def test_a_reply_on_the_demo_network_is_sent(db):
    mention, response, _ = _reply(db, source_name="Demo stream", kind="demo")
    assert outbound.deliver(db, response.id) == "sent"
    db.commit()
    db.refresh(response)
    assert (response.delivery_status, response.attempts) == ("sent", 1)
    assert response.external_id == f"demo-reply-{response.id}"
    assert response.sent_at is not None and response.last_error is None
    sent = _events(db, mention.id)[-1]
    assert (sent.action, sent.to_state, sent.detail) == ("reply sent", "sent", {"response_id": response.id,
                                                                                "attempt": 1})


def test_a_reply_where_we_cannot_post_is_left_to_post_by_hand_at_the_mention(db):
    mention, response, _ = _reply(db, url="https://forum.example/t/1")  # an import source: no sender
    assert outbound.deliver(db, response.id) == "manual"
    db.commit()
    db.refresh(response)
    assert (response.delivery_status, response.url) == ("manual", "https://forum.example/t/1")
    manual = _events(db, mention.id)[-1]
    assert (manual.action, manual.detail["url"]) == ("reply to post by hand", "https://forum.example/t/1")


def test_delivering_again_after_sending_does_nothing_more(db):
    mention, response, _ = _reply(db, source_name="Demo stream", kind="demo")
    outbound.deliver(db, response.id)
    db.commit()
    count = len(_events(db, mention.id))
    assert outbound.deliver(db, response.id) == "sent"  # a job run twice
    db.commit()
    assert db.get(Response, response.id).attempts == 1
    assert len(_events(db, mention.id)) == count


def test_a_failure_is_recorded_on_the_reply_and_raised_for_the_job_to_retry(db):
    mention, response, _ = _reply(db, source_name="Flaky demo", kind="demo", config={"reply_failure_rate": 1})
    with pytest.raises(outbound.DeliveryError, match="503"):
        outbound.deliver(db, response.id)
    db.commit()  # the job commits the failed attempt before RQ retries
    db.refresh(response)
    assert (response.delivery_status, response.attempts) == ("failed", 1)
    assert "503" in response.last_error
    failed = _events(db, mention.id)[-1]
    assert (failed.action, failed.to_state, failed.detail["attempt"]) == ("reply failed", "failed", 1)


def test_retrying_a_failed_reply_makes_it_pending_and_writes_who_retried(db):
    mention, response, agent = _reply(db, source_name="Flaky demo", kind="demo", config={"reply_failure_rate": 1})
    with pytest.raises(outbound.DeliveryError):
        outbound.deliver(db, response.id)
    db.commit()
    retried = outbound.retry(db, mention.id, response.id, agent)
    db.commit()
    assert retried.delivery_status == "pending"
    event = _events(db, mention.id)[-1]
    assert (event.action, event.actor_id, event.from_state, event.to_state) == ("retried reply", agent.id, "failed",
                                                                                 "pending")
    with pytest.raises(Conflict, match="only failed replies are retried"):
        outbound.retry(db, mention.id, response.id, agent)  # pressed twice: it is pending now


def test_a_retried_reply_is_sent_once_the_network_answers(db):
    mention, response, agent = _reply(db, source_name="Flaky demo", kind="demo", config={"reply_failure_rate": 1})
    with pytest.raises(outbound.DeliveryError):
        outbound.deliver(db, response.id)
    db.commit()
    mention.source.config = {"reply_failure_rate": 0}
    outbound.retry(db, mention.id, response.id, agent)
    db.commit()
    assert outbound.deliver(db, response.id) == "sent"
    db.commit()
    assert db.get(Response, response.id).attempts == 2


def test_retry_refuses_a_reply_of_another_mention_and_readers(db):
    mention, response, agent = _reply(db)
    other = make_mention(db)
    with pytest.raises(NotFound):
        outbound.retry(db, other.id, response.id, agent)
    with pytest.raises(Forbidden, match="supervisor cannot retry"):
        outbound.retry(db, mention.id, response.id, make_user(db, "supervisor"))


def test_a_reply_that_is_gone_is_reported_missing(db):
    assert outbound.deliver(db, 999_999) == "missing"


def test_replying_twice_queues_two_deliveries(db):
    mention, response, agent = _reply(db)
    second = replies.reply(db, mention.id, agent, "One more thing: we refunded the fee.")
    db.commit()
    assert second.id != response.id and second.delivery_status == "pending"
