"""Who is looking at an item right now, kept in Redis with a short expiry (never in the database)."""
from __future__ import annotations

import time

from redis.exceptions import RedisError

from triage import broker
from triage.config import Settings

WINDOW_SECONDS = 30  # the item page pings every 10 s; three missed pings and you are gone


def _key(settings: Settings, mention_id: int) -> str:
    return f"{settings.queue_prefix}:presence:{mention_id}"


def seen(settings: Settings, mention_id: int, username: str, display_name: str) -> list[str]:
    """Record that `username` is viewing; return the display names of the others viewing now."""
    now = time.time()
    key = _key(settings, mention_id)
    try:
        conn = broker.connection(settings)
        pipe = conn.pipeline()
        pipe.hset(key, f"{username}\t{display_name}", now)
        pipe.expire(key, WINDOW_SECONDS * 2)
        pipe.hgetall(key)
        entries = pipe.execute()[-1]
    except (RedisError, OSError):
        return []  # presence is a courtesy: never fail a page over it
    others = []
    for field, stamp in entries.items():
        name, _, display = field.decode().partition("\t")
        if name != username and now - float(stamp) < WINDOW_SECONDS:
            others.append(display)
    return sorted(others)


def gone(settings: Settings, mention_id: int, username: str, display_name: str) -> None:
    try:
        broker.connection(settings).hdel(_key(settings, mention_id), f"{username}\t{display_name}")
    except (RedisError, OSError):
        pass
