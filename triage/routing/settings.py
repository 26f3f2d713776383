"""Changing the queues and the routing rules, and trying a text against them.

Each change checks the role (leads and admins), validates, changes and writes its audit event in the caller's
transaction (caller commits); the web forms are thin shells over these. The rules for deleting a queue live
here: the catch-all queue stays, and a queue still holding rules or open mentions is refused.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from triage.core import audit
from triage.core.errors import Invalid, NotFound
from triage.core.locking import rows_changed, write_lock
from triage.core.roles import LEADS, require
from triage.core.vocabulary import NETWORK_RE
from triage.db import MAX_ROW_ID, utcnow
from triage.intake.posts import clean_text
from triage.models import Mention, Queue, RoutingRule, Team, User
from triage.models.mentions import CLOSED
from triage.routing.placement import Placement, Placer
from triage.routing.priority import INTENT_POINTS, Priority
from triage.routing.rules import FALLBACK_QUEUE
from triage.tagging import classifier

RESERVED_SLUGS = {"fragment"}  # /queues/fragment is the live board, not a queue
RULE_FIELDS = ("queue_id", "intent", "sentiment", "network", "min_priority", "urgent")
MAX_NAME, MAX_DESCRIPTION, MAX_NETWORK, MAX_SAMPLE = 80, 300, 32, 10_000
URGENT = {"": None, "yes": True, "no": False}  # the rule form's "urgent words" choice: any, yes, no
WHAT = "change queues or routing"
Row = TypeVar("Row", Queue, RoutingRule)


def _get(session: Session, model: type[Row], row_id: int, what: str) -> Row:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"there is no {what} {row_id}")
    return row


def describe_rule(rule: RoutingRule) -> str:
    """A routing rule's conditions as a sentence."""
    parts = []
    if rule.urgent is not None:
        parts.append("has urgent words" if rule.urgent else "has no urgent words")
    if rule.intent:
        parts.append(f"intent is {rule.intent}")
    if rule.sentiment:
        parts.append(f"sentiment is {rule.sentiment}")
    if rule.network:
        parts.append(f"network is {rule.network}")
    if rule.min_priority is not None:
        parts.append(f"priority ≥ {rule.min_priority}")
    return " and ".join(parts) or "every mention"


def _move(session: Session, model: type[Row], row_id: int, direction: str) -> tuple[int, int]:
    """Swap a queue or rule with its neighbour and number them all 0..n-1 again; (old, new) place, from 1."""
    rows = list(session.scalars(select(model).order_by(model.position, model.id)))
    index = next((i for i, r in enumerate(rows) if r.id == row_id), None)
    if index is None:
        raise NotFound(f"there is no {model.__tablename__[:-1].replace('_', ' ')} {row_id}")
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(rows):
        other = index
    rows[index], rows[other] = rows[other], rows[index]
    for position, row in enumerate(rows):
        row.position = position
    return index + 1, other + 1


# Queues ----------------------------------------------------------------------------------------------------------

# Reading a form's values: typed values pass through, strings as typed are cleaned and checked ----------------------

def _text(raw: str | None, label: str, limit: int) -> str:
    value = clean_text(raw or "")
    if len(value) > limit:
        raise Invalid(f"{label} is too long: {len(value):,} characters, at most {limit:,}.")
    return value


def _whole(raw: int | str | None, label: str, lo: int, hi: int) -> int | None:
    """A whole number from `lo` to `hi`, or None when left empty."""
    if isinstance(raw, str):
        if not raw.strip():
            return None
        try:
            value = int(raw)
        except ValueError:
            raise Invalid(f"{label} must be a whole number, not “{raw.strip()[:40]}”.") from None
    elif raw is None:
        return None
    else:
        value = raw
    if not lo <= value <= hi:
        raise Invalid(f"{label} must be between {lo:,} and {hi:,}.")
    return value


def _row_id(raw: int | str | None, what: str) -> int | None:
    """A row's id as a form sends it (None when left empty); one no row can have is refused naming `what`."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and len(text) < 12 and int(text) <= MAX_ROW_ID:  # not "²", not past int32
        return int(text)
    raise Invalid(f"There is no {what} with id “{text[:40]}”; it may have been deleted meanwhile.")


def _queue_values(session: Session, name: str, description: str | None, team: int | str | None,
                  queue_id: int | None = None) -> dict[str, Any]:
    team_id = _row_id(team, "team")
    name, description = _text(name, "Queue name", MAX_NAME), _text(description, "Description", MAX_DESCRIPTION)
    if not name:
        raise Invalid("Queue name is empty.")
    clash = session.scalar(select(Queue.name).where(func.lower(Queue.name) == name.lower(),
                                                    Queue.id != (queue_id or 0)))
    if clash is not None:
        raise Invalid(f"There is a queue called “{clash}” already.")
    if team_id is not None and session.get(Team, team_id) is None:
        raise Invalid(f"There is no team with id “{team_id}”; it may have been deleted meanwhile.")
    return {"name": name, "description": description or "", "team_id": team_id}


def _slug(session: Session, name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:32] or "queue"
    if base in RESERVED_SLUGS:
        base += "-queue"
    slug, n = base, 2
    while session.scalar(select(Queue.id).where(Queue.slug == slug)) is not None:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _queue_settings(queue: Queue) -> dict[str, Any]:
    return {"name": queue.name, "description": queue.description, "team_id": queue.team_id}


def add_queue(session: Session, actor: User, name: str, description: str | None = None,
              team_id: int | str | None = None) -> Queue:
    """A new queue, last on the board; the fields as typed or as values (`team_id` "" or None: no team)."""
    require(actor, LEADS, WHAT)
    values = _queue_values(session, name, description, team_id)
    last = session.scalar(select(func.max(Queue.position)))
    queue = Queue(slug=_slug(session, values["name"]), position=(last or 0) + 1, **values)
    session.add(queue)
    session.flush()
    audit.record(session, actor, "queue added", f"queue “{queue.name}” added", queue_id=queue.id, slug=queue.slug,
                 after=_queue_settings(queue))
    return queue


def update_queue(session: Session, actor: User, queue_id: int, name: str, description: str | None = None,
                 team_id: int | str | None = None) -> Queue:
    """Rename a queue, describe it, give it to a team."""
    require(actor, LEADS, WHAT)
    queue = _get(session, Queue, queue_id, "queue")
    before = _queue_settings(queue)
    for key, value in _queue_values(session, name, description, team_id, queue_id).items():
        setattr(queue, key, value)
    after = _queue_settings(queue)
    changed = [k for k in after if before[k] != after[k]]
    audit.record(session, actor, "queue changed", f"queue “{queue.name}”: {', '.join(changed) or 'nothing'} changed",
                 queue_id=queue.id, before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    return queue


def move_queue(session: Session, actor: User, queue_id: int, direction: str) -> Queue:
    """Move a queue up or down the board."""
    require(actor, LEADS, WHAT)
    old, new = _move(session, Queue, queue_id, direction)
    queue = _get(session, Queue, queue_id, "queue")
    audit.record(session, actor, "queue moved", f"queue “{queue.name}” moved from place {old} to {new}",
                 queue_id=queue_id, before={"place": old}, after={"place": new})
    return queue


@dataclass(frozen=True)
class Deleted:
    name: str
    closed_moved: int  # closed mentions handed to the catch-all queue
    fallback: str | None


def delete_queue(session: Session, actor: User, queue_id: int) -> Deleted:
    """Delete an empty queue; its closed mentions keep their history in the catch-all queue."""
    require(actor, LEADS, WHAT)
    write_lock(session)
    queue = _get(session, Queue, queue_id, "queue")
    if queue.slug == FALLBACK_QUEUE:
        raise Invalid(f"{queue.name} cannot be deleted: mentions no rule claims land there. Rename it instead.")
    rules = session.scalar(select(func.count()).select_from(RoutingRule).where(RoutingRule.queue_id == queue_id))
    waiting = session.scalar(select(func.count()).select_from(Mention).where(
        Mention.queue_id == queue_id, Mention.status.not_in(CLOSED)))
    if rules or waiting:
        held = [f"{rules} routing rule{'s' if rules != 1 else ''}" if rules else "",
                f"{waiting} open mention{'s' if waiting != 1 else ''}" if waiting else ""]
        raise Invalid(f"{queue.name} still has {' and '.join(h for h in held if h)}: delete or move its rules "
                      "and resolve or move its mentions first.")
    fallback = session.scalar(select(Queue).where(Queue.slug == FALLBACK_QUEUE))
    closed = rows_changed(session, update(Mention).where(Mention.queue_id == queue_id).values(
        queue_id=fallback.id if fallback else None).execution_options(synchronize_session=False))
    before = _queue_settings(queue)
    session.delete(queue)
    session.flush()
    audit.record(session, actor, "queue deleted", f"queue “{before['name']}” deleted"
                 + (f"; {closed} closed mention(s) moved to {fallback.name}" if closed and fallback else ""),
                 queue_id=queue_id, before=before, closed_moved=closed)
    return Deleted(before["name"], closed, fallback.name if fallback else None)


# Routing rules ---------------------------------------------------------------------------------------------------

def _rule_values(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """A rule's fields from values or from the form's strings as typed ("" is "any")."""
    out = {k: values.get(k) or None for k in RULE_FIELDS} | {"min_priority": values.get("min_priority"),
                                                              "urgent": values.get("urgent")}
    out["queue_id"] = _row_id(out["queue_id"], "queue")
    if out["queue_id"] is None:
        raise Invalid("Choose a queue.")
    if isinstance(out["network"], str):
        out["network"] = _text(out["network"], "Network", MAX_NETWORK).lower() or None
    if isinstance(out["urgent"], str):
        if out["urgent"] not in URGENT:
            raise Invalid("Urgent words must be: any, yes or no.")
        out["urgent"] = URGENT[out["urgent"]]
    out["min_priority"] = _whole(out["min_priority"], "Minimum priority", 0, 100)
    if session.get(Queue, out["queue_id"]) is None:
        raise Invalid(f"There is no queue with id “{out['queue_id']}”; it may have been deleted meanwhile.")
    if out["intent"] is not None and out["intent"] not in INTENT_POINTS:
        raise Invalid(f"Intent must be one of: {', '.join(INTENT_POINTS)}.")
    if out["sentiment"] is not None and out["sentiment"] not in ("negative", "neutral", "positive"):
        raise Invalid("Sentiment must be one of: negative, neutral, positive.")
    if out["network"] is not None and not NETWORK_RE.fullmatch(out["network"]):
        raise Invalid("A network is a short name such as x, instagram or reddit (letters, digits, '.', '_', '-').")
    if out["min_priority"] is not None and not 0 <= out["min_priority"] <= 100:
        raise Invalid("Minimum priority must be between 0 and 100.")
    return out


def _rule_settings(rule: RoutingRule) -> dict[str, Any]:
    return {k: getattr(rule, k) for k in RULE_FIELDS} | {"enabled": rule.enabled}


def _rule_reason(session: Session, rule: RoutingRule, what: str) -> str:
    queue = session.get(Queue, rule.queue_id)
    return f"routing rule “{describe_rule(rule)} → {queue.name if queue else '?'}” {what}"


def add_rule(session: Session, actor: User, values: dict[str, Any], *, enabled: bool = True) -> RoutingRule:
    """A new routing rule, checked after those above it."""
    require(actor, LEADS, WHAT)
    last = session.scalar(select(func.max(RoutingRule.position)))
    rule = RoutingRule(position=(last or 0) + 1, enabled=enabled, **_rule_values(session, values))
    session.add(rule)
    session.flush()
    audit.record(session, actor, "rule added", _rule_reason(session, rule, "added"), rule_id=rule.id,
                 after=_rule_settings(rule))
    return rule


def update_rule(session: Session, actor: User, rule_id: int, values: dict[str, Any]) -> RoutingRule:
    """Change what a rule matches or where it sends mentions."""
    require(actor, LEADS, WHAT)
    rule = _get(session, RoutingRule, rule_id, "routing rule")
    before = _rule_settings(rule)
    for key, value in _rule_values(session, values).items():
        setattr(rule, key, value)
    after = _rule_settings(rule)
    changed = [k for k in after if before[k] != after[k]]
    audit.record(session, actor, "rule changed", _rule_reason(session, rule, "saved"), rule_id=rule.id,
                 before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    return rule


def set_rule_enabled(session: Session, actor: User, rule_id: int, enabled: bool) -> RoutingRule:
    """Switch a rule on or off without deleting it."""
    require(actor, LEADS, WHAT)
    rule = _get(session, RoutingRule, rule_id, "routing rule")
    before, rule.enabled = rule.enabled, enabled
    audit.record(session, actor, "rule switched", _rule_reason(session, rule, "on" if enabled else "off"),
                 rule_id=rule.id, before={"enabled": before}, after={"enabled": enabled})
    return rule


def move_rule(session: Session, actor: User, rule_id: int, direction: str) -> RoutingRule:
    """Move a rule up or down: the first that matches wins."""
    require(actor, LEADS, WHAT)
    old, new = _move(session, RoutingRule, rule_id, direction)
    rule = _get(session, RoutingRule, rule_id, "routing rule")
    audit.record(session, actor, "rule moved", _rule_reason(session, rule, f"moved from place {old} to {new}"),
                 rule_id=rule_id, before={"place": old}, after={"place": new})
    return rule


def delete_rule(session: Session, actor: User, rule_id: int) -> str:
    """Delete a rule; mentions already queued stay where they are. Returns what the rule said."""
    require(actor, LEADS, WHAT)
    rule = _get(session, RoutingRule, rule_id, "routing rule")
    reason, before = _rule_reason(session, rule, "deleted"), _rule_settings(rule)
    described = reason.split("“", 1)[1].rsplit("”", 1)[0]
    session.delete(rule)
    session.flush()
    audit.record(session, actor, "rule deleted", reason, rule_id=rule_id, before=before)
    return described


# Trying a text ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Trial:
    tags: classifier.Tags
    rank: Priority
    rule: RoutingRule | None  # the rule that matched, None when the catch-all queue took it
    number: int | None  # its place in the list of all rules, from 1
    queue: Queue | None
    placement: Placement  # the due times too, as a mention posted now would get them


def try_text(session: Session, text: str, network: str | None, followers: int | str | None) -> Trial:
    """Tag and place a sample text exactly as tagging would (the same placement), storing nothing; the fields as
    typed (network "" is x, followers "" unknown)."""
    text = clean_text(text)
    if not text:
        raise Invalid("Type a text to see where it would land.")
    if len(text) > MAX_SAMPLE:
        raise Invalid(f"The text is over {MAX_SAMPLE:,} characters.")
    network = (network or "x").strip().lower()
    if not NETWORK_RE.fullmatch(network):
        raise Invalid("A network is a short name such as x, instagram or reddit.")
    if isinstance(followers, str):
        raw = followers.strip()
        if raw and not (raw.isascii() and raw.isdigit() and len(raw) < 13):
            raise Invalid("Followers must be a whole number.")
        followers = int(raw) if raw else None
    tags = classifier.classify(text)
    now = utcnow()
    placed = Placer(session).place(text=text, network=network, intent=tags.intent,
                                   intent_confidence=tags.intent_confidence, sentiment=tags.sentiment,
                                   polarity=tags.polarity, followers=followers, posted_at=now, now=now)
    rule = session.get(RoutingRule, placed.rule_id) if placed.rule_id else None
    number = None
    if rule is not None:
        ids = list(session.scalars(select(RoutingRule.id).order_by(RoutingRule.position, RoutingRule.id)))
        number = ids.index(rule.id) + 1
    queue = session.get(Queue, placed.queue_id) if placed.queue_id else None
    return Trial(tags, placed.rank, rule, number, queue, placed)


__all__ = ["add_queue", "add_rule", "delete_queue", "delete_rule", "describe_rule", "move_queue", "move_rule",
           "set_rule_enabled", "try_text", "update_queue", "update_rule"]
