"""Demo source: invented brand mentions so a new team's queues fill up live before real sources are connected."""
from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import triage.intake.sources.demo_phrases as ph
from triage.core.vocabulary import DEFAULT_REPLY_LIMIT
from triage.intake.posts import Post, PostError, parse_post
from triage.intake.sources.base import Connector, OutgoingReply, SentReply, TransientReplyError
from triage.intake.sources.results import FetchResult, SourceError

DEFAULT_BRAND = "Northwind"
DEFAULT_HANDLES = ("northwind", "northwindhelp")
REPLY_RATE = 0.1
RECENT_KEPT = 50
MAX_PER_POLL = 50
INTENT_WEIGHTS = {"complaint": 35, "question": 22, "praise": 18, "chatter": 15, "urgent": 10}
_WORD = re.compile(r"(?<![@#\w])[A-Za-z]{5,}")  # not inside @mentions or hashtags: those must stay intact


class Mention(NamedTuple):
    """A composed text and the intent its template was written for (lets tests check the mix)."""

    intent: str
    text: str


def _handle(handle: str, network: str, index: int) -> str:
    # Each network spells a person's handle its own way; the display name is what ties them together.
    if network == "mastodon":
        return f"{handle}@{ph.MASTODON_INSTANCES[index % len(ph.MASTODON_INSTANCES)]}"
    if network == "bluesky":
        return f"{handle}.bsky.social"
    return handle


def _typo(text: str, rng: random.Random) -> str:
    words = list(_WORD.finditer(text))
    if not words:
        return text
    m = rng.choice(words)
    i = rng.randrange(m.start() + 1, m.end() - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def compose(rng: random.Random, brand: str, handles: tuple[str, ...], intent: str | None = None) -> Mention:
    """Write one mention: pick an intent (unless given) and a template, fill its slots, roughen it up."""
    if intent is None:
        intent = rng.choices(list(INTENT_WEIGHTS), weights=list(INTENT_WEIGHTS.values()))[0]
    template = rng.choice(ph.TEMPLATES[intent])
    city, city2 = rng.sample(ph.CITIES, 2)
    slots = {
        "brand": brand,
        "at": "@" + rng.choice(handles),
        "city": city,
        "city2": city2,
        "flight": f"{brand[:2].upper()}{rng.randint(100, 2999)}",
        "hours": rng.randint(2, 7),
        "mins": rng.choice((25, 40, 55, 70, 90, 120, 150)),
        "amount": f"{rng.choice('$£€')}{rng.randint(29, 640)}",
        "feature": rng.choice(ph.FEATURES),
        "device": rng.choice(ph.DEVICES),
        "staff": rng.choice(ph.STAFF),
        "bag_item": rng.choice(ph.BAG_ITEMS),
        "day": rng.choice(ph.DAYS),
        "emoji_bad": rng.choice(ph.EMOJI_BAD),
        "emoji_good": rng.choice(ph.EMOJI_GOOD),
        "emoji_meh": rng.choice(ph.EMOJI_MEH),
        "tag": rng.choice(ph.HASHTAGS[intent]).format(brand=brand.replace(" ", "")),
    }
    text = rng.choice(ph.OPENERS[intent]) + template.format(**slots)
    if rng.random() < 0.3:
        text = text[:1].upper() + text[1:]
    if intent in ("complaint", "urgent") and rng.random() < 0.12:
        text = text.upper()  # people shout when they are angry or scared
    if rng.random() < 0.12:
        text = _typo(text, rng)
    return Mention(intent, re.sub(r"\s+", " ", text).strip())


def _settings(config: dict[str, Any], rng: random.Random) -> tuple[str, tuple[str, ...], int]:
    brand = config.get("brand") or DEFAULT_BRAND
    if not isinstance(brand, str) or not brand.strip():
        raise SourceError("demo source: 'brand' must be a name such as \"Northwind\"")
    raw_handles = config.get("brand_handles") or list(DEFAULT_HANDLES)
    if isinstance(raw_handles, str):
        raw_handles = [raw_handles]
    if not isinstance(raw_handles, (list, tuple)) or not all(isinstance(h, str) and h.strip("@ ") for h in raw_handles):
        raise SourceError("demo source: 'brand_handles' must be a list of handles such as [\"northwind\"]")
    handles = tuple(h.strip().lstrip("@").lower() for h in raw_handles)
    per_poll = config.get("per_poll")
    if per_poll in (None, ""):
        per_poll = rng.randint(1, 3)
    elif isinstance(per_poll, bool) or not isinstance(per_poll, int) or not 1 <= per_poll <= MAX_PER_POLL:
        raise SourceError(f"demo source: 'per_poll' must be a whole number from 1 to {MAX_PER_POLL}")
    return brand.strip(), handles, per_poll


def _mention(rng: random.Random, seq: int, now: datetime, brand: str, handles: tuple[str, ...]) -> dict[str, Any]:
    index = rng.randrange(len(ph.PEOPLE))
    name, handle, followers, networks = ph.PEOPLE[index]
    network = rng.choice(networks)
    mention = compose(rng, brand, handles)
    return {
        "intent": mention.intent,  # not a post field: remembered so a later brand reply suits the post
        "id": f"demo-{network}-{seq}",
        "network": network,
        "text": mention.text,
        "author": _handle(handle, network, index),
        "author_name": name,
        "author_followers": int(followers * ph.NETWORK_REACH[network]),
        "posted_at": now - timedelta(seconds=rng.randint(3, 240)),
        "url": None,  # invented posts have nowhere to link to
        "in_reply_to": None,
        "language": "en",
    }


def _reply(
    rng: random.Random, seq: int, now: datetime, brand: str, handles: tuple[str, ...], target: str, intent: str
) -> dict[str, Any]:
    network = target.split("-")[1]
    handle = handles[-1] if len(handles) > 1 and rng.random() < 0.7 else handles[0]  # care accounts answer most
    return {
        "id": f"demo-{network}-{seq}",
        "network": network,
        "text": rng.choice(ph.REPLIES.get(intent, ph.REPLIES["question"])).format(agent=rng.choice(ph.AGENTS)),
        "author": handle,
        "author_name": f"{brand} Support" if handle != handles[0] else brand,
        "author_followers": 48_200 if handle == handles[0] else 12_750,
        "posted_at": now - timedelta(seconds=rng.randint(1, 30)),
        "url": None,
        "in_reply_to": target,
        "language": "en",
    }


def fetch(
    config: dict[str, Any], cursor: dict[str, Any], *, now: datetime | None = None, rng: random.Random | None = None
) -> FetchResult:
    """Invent `per_poll` new mentions (about one in ten a brand reply to an earlier one); oldest first."""
    rng = rng or random.Random()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    config, cursor = config or {}, cursor or {}
    brand, handles, per_poll = _settings(config, rng)
    seq, recent, intents = cursor.get("seq", 0), cursor.get("recent", []), cursor.get("intents", {})
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0 or not isinstance(recent, list):
        # Restarting the counter would reissue ids already stored, so refuse rather than guess.
        raise SourceError("demo source: its saved position is damaged; remove and re-add the source")
    backfill = config.get("backfill")
    if seq == 0 and isinstance(backfill, int) and not isinstance(backfill, bool) and backfill > 0:
        per_poll = min(backfill, MAX_PER_POLL)  # a new install's queues start with something to work
    recent = [r for r in recent if isinstance(r, str) and r.count("-") == 2]
    intents = dict(intents) if isinstance(intents, dict) else {}
    posts: list[Post] = []
    errors: list[str] = []
    for _ in range(per_poll):
        seq += 1
        if recent and rng.random() < REPLY_RATE:
            target = rng.choice(recent)
            record = _reply(rng, seq, now, brand, handles, target, intents.get(target, "question"))
        else:
            record = _mention(rng, seq, now, brand, handles)
        intent = record.pop("intent", None)
        try:
            post = parse_post(record)
        except PostError as exc:
            errors.append(f"{record['id']}: {exc}")
            continue
        posts.append(post)
        if intent is not None:
            recent.append(post.external_id)  # only customers' posts get answered
            intents[post.external_id] = intent
    posts.sort(key=lambda p: p.posted_at or now)  # every demo post has its time; `or` satisfies the type
    recent = recent[-RECENT_KEPT:]
    cursor = {"seq": seq, "recent": recent, "intents": {r: intents[r] for r in recent if r in intents}}
    return FetchResult(posts, cursor, errors)


class DemoConnector(Connector):
    """Polled like a real network; takes every reply (unless told to be flaky, to show retries)."""

    kind = "demo"
    label = "Demo"
    network = "demo"  # its posts carry the names of the networks they pretend to come from
    # A reply goes out under a pretend network's post, so that network's limit applies (`sources.reply_limit`);
    # this is only the ceiling that marks demo replies as sent rather than posted by hand.
    reply_limit = DEFAULT_REPLY_LIMIT
    min_interval = 1

    def fetch(self, config: dict[str, Any], cursor: dict[str, Any]) -> FetchResult:
        return fetch(config, cursor)

    def send_reply(self, config: dict[str, Any], reply: OutgoingReply) -> SentReply:
        if random.random() < float(config.get("reply_failure_rate", 0) or 0):
            raise TransientReplyError("demo network: 503 Service Unavailable (simulated)")
        return SentReply(f"demo-reply-{reply.reply_id}", None)


CONNECTOR = DemoConnector()
