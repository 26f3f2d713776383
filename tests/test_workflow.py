"""Workflow transitions, allowed and refused, by role; each writes its audit event in the same transaction."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import queued_mention, queued_mentions
from triage.core.errors import Conflict, Forbidden, Invalid, NotFound
from triage.db import utcnow
from triage.models import Event, Label, Mention, Notification, Queue, Response, SavedReply
from triage.work import claims, corrections, escalation, replies


@pytest.fixture
def people(make_user):
    return {name: make_user(name, role) for name, role in
            (("alex", "agent"), ("jordan", "agent"), ("lee", "lead"), ("sam", "supervisor"), ("ava", "admin"))}


def events(db, mention_id, action=None):
    query = select(Event).where(Event.mention_id == mention_id).order_by(Event.id)
    if action:
        query = query.where(Event.action == action)
    db.expire_all()
    return db.scalars(query).all()


def test_claim_writes_who_and_when_and_is_exclusive(db, people):
    m = queued_mention(db)
    claimed = claims.claim(db, m.id, people["alex"])
    db.commit()
    assert claimed.claimed_by_id == people["alex"].id and claimed.first_claimed_at is not None
    [event] = events(db, m.id, "claimed")
    assert (event.actor_id, event.from_state, event.to_state) == (people["alex"].id, None, "alex")
    with pytest.raises(Conflict, match="Alex is working on this mention"):
        claims.claim(db, m.id, people["jordan"])
    db.rollback()
    assert len(events(db, m.id, "claimed")) == 1


def test_claiming_again_by_the_holder_is_harmless(db, people):
    m = queued_mention(db)
    claims.claim(db, m.id, people["alex"])
    claims.claim(db, m.id, people["alex"])
    db.commit()
    assert len(events(db, m.id, "claimed")) == 1


def test_an_idle_claim_can_be_taken_over_and_expires(db, people):
    m1, m2 = queued_mentions(db, "@northwind bag lost", "@northwind refund please")
    past = utcnow() - timedelta(minutes=20)
    claims.claim(db, m1.id, people["alex"], now=past)
    claims.claim(db, m2.id, people["alex"], now=past)
    db.commit()
    taken = claims.claim(db, m1.id, people["jordan"], idle_minutes=15)
    db.commit()
    assert taken.claimed_by_id == people["jordan"].id
    assert events(db, m1.id, "claimed")[-1].from_state == "alex"
    assert claims.expire_idle_claims(db, idle_minutes=15) == [m2.id]
    db.commit()
    assert db.get(Mention, m2.id).claimed_by_id is None and events(db, m2.id, "claim expired")


def test_claim_next_takes_the_top_unclaimed_item_of_the_queue(db, people):
    low, high, other = queued_mentions(
        db, "@northwind my order is late", "@northwind my order is late and I will sue you, calling my lawyer",
        "@northwind how do I change my address?")
    complaints = db.get(Mention, low.id).queue_id
    first = claims.claim_next(db, high.queue_id, people["alex"])
    db.commit()
    assert first.id == high.id  # urgent queue
    assert claims.claim_next(db, high.queue_id, people["jordan"]) is None
    assert claims.claim_next(db, complaints, people["jordan"]).id == low.id
    db.commit()
    assert events(db, low.id, "claimed")[0].detail == {"via": "next"}


def test_release_by_holder_and_by_lead_but_not_by_another_agent(db, people):
    m = queued_mention(db)
    claims.claim(db, m.id, people["alex"])
    db.commit()
    with pytest.raises(Forbidden, match="an agent cannot release someone else's claim; it needs the role lead"):
        claims.release(db, m.id, people["jordan"])
    db.rollback()
    claims.release(db, m.id, people["lee"])
    db.commit()
    assert db.get(Mention, m.id).claimed_by_id is None
    assert events(db, m.id, "released")[0].from_state == "alex"
    with pytest.raises(Conflict, match="nobody holds"):
        claims.release(db, m.id, people["alex"])


def test_reply_claims_sets_first_response_and_records_a_pending_response(db, people):
    m = queued_mention(db)
    response = replies.reply(db, m.id, people["alex"], "  So sorry! DM us your order number.  ")
    db.commit()
    mention = db.get(Mention, m.id)
    assert mention.status == "answered" and mention.claimed_by_id == people["alex"].id
    assert mention.first_response_at is not None
    assert (response.text, response.delivery_status, response.origin) == (
        "So sorry! DM us your order number.", "pending", "app")
    first = mention.first_response_at
    replies.reply(db, m.id, people["alex"], "Following up")
    db.commit()
    assert db.get(Mention, m.id).first_response_at == first  # only the first reply sets it
    assert [e.action for e in events(db, m.id)] == ["queued", "claimed", "replied", "replied"]


def test_reply_refusals_change_nothing(db, people):
    m = queued_mention(db, network="x")
    claims.claim(db, m.id, people["alex"])
    db.commit()
    for user, text, error in ((people["alex"], "   ", Invalid), (people["alex"], "x" * 281, Invalid),
                              (people["jordan"], "hi", Conflict), (people["sam"], "hi", Forbidden)):
        with pytest.raises(error):
            replies.reply(db, m.id, user, text)
        db.rollback()
    with pytest.raises(NotFound):
        replies.reply(db, 999_999, people["alex"], "hi")
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Response)) == 0
    assert db.get(Mention, m.id).status == "open"


def test_reply_length_follows_the_network(db, people):
    m = queued_mention(db, network="mastodon")
    replies.reply(db, m.id, people["alex"], "y" * 500)
    with pytest.raises(Invalid, match="mastodon allows 500"):
        replies.reply(db, m.id, people["alex"], "y" * 501)


def test_saved_reply_placeholders_and_use_count(db, people):
    m = queued_mention(db, author="dana", author_name="Dana W")
    saved = SavedReply(title="Sorry", body="Hi {author} ({name}), {agent} here. {unknown} stays.")
    db.add(saved)
    db.commit()
    text = replies.fill_placeholders(saved.body, db.get(Mention, m.id), people["alex"])
    assert text == "Hi @dana (Dana W), Alex here. {unknown} stays."
    replies.reply(db, m.id, people["alex"], text, saved_reply_id=saved.id)
    db.commit()
    db.expire_all()
    assert db.get(SavedReply, saved.id).uses == 1


def test_escalate_needs_a_reason_notifies_the_lead_and_hands_over(db, people):
    m = queued_mention(db)
    claims.claim(db, m.id, people["alex"])
    db.commit()
    with pytest.raises(Invalid, match="reason"):
        escalation.escalate(db, m.id, people["alex"], "lead", "  ")
    db.rollback()
    escalation.escalate(db, m.id, people["alex"], "lead", "Customer threatens legal action")
    db.commit()
    mention = db.get(Mention, m.id)
    assert mention.escalated_to_id == people["lee"].id and mention.owner_id == people["lee"].id
    assert mention.claimed_by_id is None and mention.escalation_reason == "Customer threatens legal action"
    [note] = db.scalars(select(Notification).where(Notification.user_id == people["lee"].id)).all()
    assert "Customer threatens legal action" in note.message
    [event] = events(db, m.id, "escalated")
    assert event.reason == "Customer threatens legal action" and event.to_state == "Lee (lead)"


def test_escalate_to_another_queue_moves_the_mention(db, people):
    m = queued_mention(db)
    escalation.escalate(db, m.id, people["alex"], "queue:urgent", "Press is asking")
    db.commit()
    assert db.get(Queue, db.get(Mention, m.id).queue_id).slug == "urgent"
    with pytest.raises(Invalid, match="no queue"):
        escalation.escalate(db, m.id, people["alex"], "queue:nope", "x")
    db.rollback()
    with pytest.raises(Invalid, match="escalate to a lead"):
        escalation.escalate(db, m.id, people["alex"], "jordan", "x")


def test_only_leads_assign_and_bulk_assign_skips_closed_items(db, people):
    a, b, c = queued_mentions(db, "@northwind one", "@northwind two", "@northwind three")
    with pytest.raises(Forbidden):
        escalation.assign(db, [a.id], people["alex"], "jordan")
    db.rollback()
    replies.resolve(db, c.id, people["alex"])
    db.commit()
    result = escalation.assign(db, [a.id, b.id, c.id, 424242], people["lee"], "jordan")
    db.commit()
    assert result.assigned == [a.id, b.id]
    assert result.skipped == {c.id: "it is resolved", 424242: "no such mention"}
    assert {db.get(Mention, i).owner_id for i in (a.id, b.id)} == {people["jordan"].id}
    assert db.get(Mention, a.id).claimed_by_id == people["jordan"].id
    assert db.scalar(select(Notification.message).where(Notification.user_id == people["jordan"].id)) == \
        "Lee assigned you 2 mentions"
    with pytest.raises(Invalid, match="does not work items"):
        escalation.assign(db, [a.id], people["lee"], "sam")


def test_resolve_reopen_spam_and_irrelevant(db, people):
    m = queued_mention(db)
    replies.resolve(db, m.id, people["alex"])
    db.commit()
    mention = db.get(Mention, m.id)
    assert mention.status == "resolved" and mention.resolved_at and mention.claimed_by_id is None
    with pytest.raises(Conflict, match="resolved; reopen it first"):
        replies.reply(db, m.id, people["alex"], "late")
    db.rollback()
    replies.reopen(db, m.id, people["jordan"])
    db.commit()
    assert db.get(Mention, m.id).status == "open" and db.get(Mention, m.id).resolved_at is None
    with pytest.raises(Conflict, match="not closed"):
        replies.reopen(db, m.id, people["jordan"])
    db.rollback()
    replies.mark_spam(db, m.id, people["alex"])
    db.commit()
    assert db.get(Mention, m.id).status == "spam"
    replies.reopen(db, m.id, people["alex"])
    replies.mark_irrelevant(db, m.id, people["alex"])
    db.commit()
    assert [(e.action, e.from_state, e.to_state) for e in events(db, m.id)][1:] == [
        ("claimed", None, "alex"), ("resolved", "open", "resolved"), ("reopened", "resolved", "open"),
        ("claimed", None, "alex"), ("marked spam", "open", "spam"), ("reopened", "spam", "open"),
        ("claimed", None, "alex"), ("marked not relevant", "open", "irrelevant")]


def test_resolving_an_item_someone_else_holds_needs_a_lead(db, people):
    m = queued_mention(db)
    claims.claim(db, m.id, people["alex"])
    db.commit()
    with pytest.raises(Conflict):
        replies.resolve(db, m.id, people["jordan"])
    db.rollback()
    replies.resolve(db, m.id, people["lee"])
    db.commit()
    assert db.get(Mention, m.id).status == "resolved"


def test_supervisors_audit_but_do_not_work_items(db, people):
    m = queued_mention(db)
    for action in (lambda: claims.claim(db, m.id, people["sam"]),
                   lambda: replies.resolve(db, m.id, people["sam"]),
                   lambda: escalation.escalate(db, m.id, people["sam"], "lead", "x"),
                   lambda: escalation.assign(db, [m.id], people["sam"], "alex")):
        with pytest.raises(Forbidden):
            action()
        db.rollback()
    replies.add_note(db, m.id, people["sam"], "Checked during the weekly audit")
    db.commit()
    assert events(db, m.id, "note")[0].reason == "Checked during the weekly audit"
    assert db.get(Mention, m.id).claimed_by_id is None


def test_admin_can_do_anything(db, people):
    m = queued_mention(db)
    claims.claim(db, m.id, people["ava"])
    escalation.assign(db, [m.id], people["ava"], "alex")
    replies.resolve(db, m.id, people["ava"])
    db.commit()
    assert db.get(Mention, m.id).status == "resolved"


def test_notes_are_validated(db, people):
    m = queued_mention(db)
    with pytest.raises(Invalid):
        replies.add_note(db, m.id, people["alex"], "")
    with pytest.raises(Invalid, match="10,000"):
        replies.add_note(db, m.id, people["alex"], "n" * 10_001)
    with pytest.raises(NotFound):
        replies.add_note(db, 987654, people["alex"], "hello")


def test_relabel_keeps_a_label_and_an_event(db, people):
    m = queued_mention(db, "@northwind can you check my refund status")
    corrections.relabel(db, m.id, people["alex"], intent="question", sentiment="neutral")
    db.commit()
    assert (db.get(Mention, m.id).intent, db.get(Mention, m.id).sentiment) == ("question", "neutral")
    label = db.scalar(select(Label))
    assert (label.intent, label.sentiment, label.user_id, label.origin) == (
        "question", "neutral", people["alex"].id, "correction")
    assert events(db, m.id, "relabeled")[0].to_state == "question/neutral"
    with pytest.raises(Invalid):
        corrections.relabel(db, m.id, people["alex"], intent="rant")


def test_every_event_belongs_to_a_committed_change(db, people):
    """A refused transition leaves no event behind (events and changes share one transaction)."""
    m = queued_mention(db)
    claims.claim(db, m.id, people["alex"])
    db.commit()
    before = db.scalar(select(func.count()).select_from(Event))
    with pytest.raises(Conflict):
        escalation.escalate(db, m.id, people["jordan"], "lead", "I want it")
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Event)) == before


def test_deactivating_someone_hands_their_claims_back(client, db, people, login):
    from tests.conftest import _csrf

    m = queued_mention(db)
    claims.claim(db, m.id, people["alex"])
    db.commit()
    login("admin", "root")
    token = _csrf(client.get(f"/admin/users/{people['alex'].id}").get_data(as_text=True))
    response = client.post(f"/admin/users/{people['alex'].id}/deactivate", data={"csrf_token": token},
                           follow_redirects=True)
    assert "1 item(s) they held went back to the queues" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Mention, m.id).claimed_by_id is None
    assert events(db, m.id, "released")[0].reason == "account deactivated"


def test_a_correction_rescores_requeues_and_restarts_the_clock_as_if_tagged_so(db, people):
    m = queued_mention(db, "@northwind the plane at gate 4 has a new livery")
    assert (m.intent, m.queue.slug) == ("other", "other") and m.first_response_due_at is None
    priority_before = m.priority
    corrections.relabel(db, m.id, people["alex"], intent="complaint", sentiment="negative")
    db.commit()
    after = db.get(Mention, m.id)
    assert (after.intent_confidence, after.sentiment_confidence) == (1.0, 1.0)
    assert after.queue.slug == "complaints" and after.priority > priority_before
    assert {r["factor"]: r["detail"] for r in after.priority_reasons}["intent"] == "complaint (100% sure)"
    assert after.first_response_due_at is not None  # complaints have a service level; chatter does not
    assert after.cues[0] == "tags set by Alex"
    [event] = events(db, m.id, "relabeled")
    assert event.detail["queue"] == ["Other", "Complaints"] and event.detail["priority"][1] == after.priority


def test_a_correction_leaves_an_escalated_items_queue_alone(db, people):
    m = queued_mention(db, "@northwind you lost my bag")
    escalation.escalate(db, m.id, people["alex"], "queue:questions", "lost bag, VIP")
    db.commit()
    corrections.relabel(db, m.id, people["alex"], intent="other")
    db.commit()
    after = db.get(Mention, m.id)
    assert after.queue.slug == "questions" and after.intent == "other"


def test_a_reply_whose_mention_is_gone_fails_once_saying_why(db):
    from triage.work import outbound

    orphan = Response(mention_id=None, text="Sorry!", origin="app", network="x", delivery_status="pending")
    db.add(orphan)
    db.commit()
    assert outbound.deliver(db, orphan.id) == "failed"  # not raised: a retry could never succeed
    db.commit()
    db.refresh(orphan)
    assert (orphan.delivery_status, orphan.attempts) == ("failed", 1)
    assert "mention this reply answers is gone" in orphan.last_error
    assert outbound.deliver(db, 424242) == "missing"
