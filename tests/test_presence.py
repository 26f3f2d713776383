"""Who is looking at an item: kept in Redis for a short while, never in the database."""
from __future__ import annotations

import dataclasses
import time

from triage.work import presence


def _key(settings, mention_id: int) -> str:
    return f"{settings.queue_prefix}:presence:{mention_id}"


def test_a_viewer_sees_the_others_looking_but_not_themself(settings, db):
    assert presence.seen(settings, 1, "alex", "Alex Agent") == []
    assert presence.seen(settings, 1, "jordan", "Jordan Agent") == ["Alex Agent"]
    assert presence.seen(settings, 1, "lee", "Lee Lead") == ["Alex Agent", "Jordan Agent"]
    assert presence.seen(settings, 1, "alex", "Alex Agent") == ["Jordan Agent", "Lee Lead"]


def test_presence_is_per_item(settings, db):
    presence.seen(settings, 1, "alex", "Alex Agent")
    assert presence.seen(settings, 2, "jordan", "Jordan Agent") == []


def test_someone_who_leaves_is_no_longer_shown(settings, db):
    presence.seen(settings, 1, "alex", "Alex Agent")
    presence.gone(settings, 1, "alex", "Alex Agent")
    assert presence.seen(settings, 1, "jordan", "Jordan Agent") == []


def test_a_viewer_who_stopped_pinging_expires_after_the_window(settings, redis_conn, db):
    presence.seen(settings, 1, "alex", "Alex Agent")
    # Alex's last ping was a window ago (a page closed without saying goodbye).
    redis_conn.hset(_key(settings, 1), "alex\tAlex Agent", time.time() - presence.WINDOW_SECONDS - 1)
    assert presence.seen(settings, 1, "jordan", "Jordan Agent") == []
    redis_conn.hset(_key(settings, 1), "alex\tAlex Agent", time.time() - presence.WINDOW_SECONDS + 5)
    assert presence.seen(settings, 1, "jordan", "Jordan Agent") == ["Alex Agent"]


def test_the_whole_item_key_expires_in_redis_when_nobody_pings(settings, redis_conn, db):
    presence.seen(settings, 1, "alex", "Alex Agent")
    ttl = redis_conn.ttl(_key(settings, 1))
    assert 0 < ttl <= presence.WINDOW_SECONDS * 2


def test_without_redis_presence_is_empty_rather_than_an_error(settings, db):
    away = dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0")
    assert presence.seen(away, 1, "alex", "Alex Agent") == []
    presence.gone(away, 1, "alex", "Alex Agent")  # no exception either
