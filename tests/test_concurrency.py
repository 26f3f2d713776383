"""Claims are decided by the database: 20 people pressing "Next" at once each get different items."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from tests.conftest import record
from tests.factories import queued_mentions
from triage.core import errors
from triage.db import session_factory
from triage.models import Event, Mention, User
from triage.work import claims


def test_twenty_concurrent_claim_next_callers_empty_a_queue_exactly_once(db, settings, make_user):
    agents = [make_user(f"agent{n:02d}", "agent").id for n in range(20)]
    mentions = queued_mentions(db, *[record(text=f"@northwind my parcel {n} never arrived, refund please")
                                     for n in range(200)])
    queue_ids = {m.queue_id for m in mentions}
    assert len(queue_ids) == 1
    [queue_id] = queue_ids
    claimed: dict[int, list[int]] = {a: [] for a in agents}
    errors: list[BaseException] = []
    start = threading.Barrier(len(agents))
    factory = session_factory(settings.database_url)

    def work(agent_id: int) -> None:
        try:
            start.wait()
            while True:
                with factory() as session:
                    user = session.get(User, agent_id)
                    mention = claims.claim_next(session, queue_id, user)
                    session.commit()
                if mention is None:
                    return
                claimed[agent_id].append(mention.id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == len(set(every)) == 200
    assert set(every) == {m.id for m in mentions}
    assert sum(1 for ids in claimed.values() if ids) > 1  # the work really was shared
    db.expire_all()
    holders = dict(db.execute(select(Mention.id, Mention.claimed_by_id)).all())
    assert all(holders[i] == a for a, ids in claimed.items() for i in ids)
    assert db.scalar(select(func.count()).select_from(Event).where(Event.action == "claimed")) == 200


def test_two_people_claiming_the_same_item_one_wins_one_is_told(db, settings, make_user):
    alex, jordan = make_user("alex").id, make_user("jordan").id
    [mention] = queued_mentions(db, "@northwind help, my account is locked")
    results: dict[int, str] = {}
    barrier = threading.Barrier(2)
    factory = session_factory(settings.database_url)

    def work(user_id: int) -> None:
        with factory() as session:
            barrier.wait()
            try:
                claims.claim(session, mention.id, session.get(User, user_id))
                session.commit()
                results[user_id] = "won"
            except errors.Conflict as exc:
                session.rollback()
                results[user_id] = str(exc)

    threads = [threading.Thread(target=work, args=(u,)) for u in (alex, jordan)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results.values())[-1] == "won"
    loser_message = sorted(results.values())[0]
    assert loser_message.endswith("is working on this mention")
